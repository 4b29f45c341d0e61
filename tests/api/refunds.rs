//! The refund ledger: refunds are rows under a payment that only move
//! forward, add up to no more than the payment, and decide the payment's
//! state; an admin refunds part of a payment through a workflow, once per
//! Idempotency-Key.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path, path_regex},
};

use crate::{
    helpers::{FakeRefunds, TestUser, eventually, expect_error, expect_json, record_history},
    stand_ins::*,
};

async fn post_signed(s: &Scene, body: &Value) -> String {
    let bytes = serde_json::to_vec(body).unwrap();
    let response = post_webhook(&s.app, &bytes, Some(&sign(&bytes))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let ack: Value = response.json().await.unwrap();
    ack["status"].as_str().unwrap_or_default().to_owned()
}

/// A refund event as Paystack sends it: the transaction's reference and
/// this refund's amount (a string, as in Paystack's samples).
fn refund_event(status: &str, reference: &str, amount: i64) -> Value {
    json!({ "event": format!("refund.{status}"), "data": {
        "status": status, "transaction_reference": reference,
        "refund_reference": null, "amount": amount.to_string(), "currency": "NGN",
        "customer": { "email": "bola@example.com" }, "domain": "test" } })
}

/// Paystack answers refund requests with a refund in `status`.
async fn mount_refund_answer(paystack: &MockServer, status: &str) {
    Mock::given(method("POST"))
        .and(path("/refund"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": true, "message": "Refund has been queued for processing",
            "data": { "id": 3_018_284, "status": status, "currency": "NGN" }
        })))
        .mount(paystack)
        .await;
}

/// The ledger as an admin sees it (untyped, so these tests read only
/// what the API answers).
async fn payments(s: &Scene, admin: &TestUser) -> Vec<Value> {
    let list: Value = expect_json(
        s.app
            .get("/api/v1/admin/payments", Some(&admin.token))
            .await,
        StatusCode::OK,
    )
    .await;
    list["items"].as_array().cloned().unwrap_or_default()
}

fn refunds_of(payment: &Value) -> Vec<Value> {
    payment["refunds"].as_array().cloned().unwrap_or_default()
}

/// The one payment once it is in `state`.
async fn payment_in(s: &Scene, admin: &TestUser, state: &str) -> Value {
    eventually(30, || async {
        let items = payments(s, admin).await;
        match items.as_slice() {
            [one] if one["state"] == state => Ok(items.into_iter().next().unwrap()),
            other => Err(format!("waiting for one {state} payment: {other:?}")),
        }
    })
    .await
}

/// Bola wins and pays his invoice in full: one kept payment. Returns its
/// reference and amount.
async fn paid_by_bola(s: &Scene, admin: &TestUser) -> (String, i64) {
    let (_, reference) = awaiting_pay_link(s, "https://checkout.paystack.com/paid").await;
    let total = bola_invoice(s).await.total;
    mount_verified(&s.paystack, &reference, total).await;
    post_signed(
        s,
        &serde_json::from_slice(&charge_success(&reference, total)).unwrap(),
    )
    .await;
    payment_in(s, admin, "kept").await;
    (reference, total)
}

/// Bola pays 999 on a 1,500 invoice: the payment cannot be kept and Gavel
/// refunds it whole. Returns its reference.
async fn mismatched_by_bola(s: &Scene) -> String {
    let (_, reference) = awaiting_pay_link(s, "https://checkout.paystack.com/m").await;
    Mock::given(method("GET"))
        .and(path_regex("^/transaction/verify/.*"))
        .respond_with(ResponseTemplate::new(200).set_body_json(verified(&reference, 999)))
        .mount(&s.paystack)
        .await;
    post_signed(
        s,
        &serde_json::from_slice(&charge_success(&reference, 999)).unwrap(),
    )
    .await;
    reference
}

#[tokio::test]
async fn a_pending_refund_leaves_a_kept_payment_kept() {
    let s = scene().await;
    let admin = s.app.admin().await;
    let (reference, _) = paid_by_bola(&s, &admin).await;
    // Someone starts a refund of part of it on Paystack's dashboard.
    post_signed(&s, &refund_event("pending", &reference, 500)).await;
    let payment = payments(&s, &admin).await.remove(0);
    assert_eq!(payment["state"], "kept", "{payment:?}");
    assert_eq!(bola_invoice(&s).await.status, "paid");
    // The refund made outside Gavel is in the ledger, under way.
    let refunds = refunds_of(&payment);
    assert_eq!(refunds.len(), 1, "{payment:?}");
    assert_eq!(refunds[0]["amount"], 500);
    assert_eq!(refunds[0]["state"], "pending");
    assert_eq!(payment["refunded"], 0);
}

#[tokio::test]
async fn a_partial_refund_does_not_refund_the_whole_payment() {
    let s = scene().await;
    let admin = s.app.admin().await;
    let (reference, total) = paid_by_bola(&s, &admin).await;
    post_signed(&s, &refund_event("processed", &reference, 500)).await;
    let payment = payments(&s, &admin).await.remove(0);
    assert_ne!(
        payment["state"], "refunded",
        "a refund of 500 does not refund {total}: {payment:?}"
    );
    assert_eq!(payment["state"], "partly_refunded");
    assert_eq!(payment["refunded"], 500);
    assert_eq!(bola_invoice(&s).await.status, "paid");
    // Repeated, or late and behind, it changes nothing; and what is left is
    // all an admin can still refund.
    post_signed(&s, &refund_event("processed", &reference, 500)).await;
    post_signed(&s, &refund_event("pending", &reference, 500)).await;
    let payment = payments(&s, &admin).await.remove(0);
    assert_eq!(payment["refunded"], 500, "{payment:?}");
    assert_eq!(refunds_of(&payment).len(), 1, "{payment:?}");
    let response = s
        .app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/admin/payments/{}/refunds", payment["id"]),
            Some(&admin.token),
        )
        .header("idempotency-key", "rest-plus-one")
        .json(&json!({ "amount": total - 499, "reason": "too much" }))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::CONFLICT, "refund_exceeds_payment").await;
}

#[tokio::test]
async fn an_immediate_processed_answer_refunds_at_once_and_late_events_change_nothing() {
    let s = scene().await;
    let admin = s.app.admin().await;
    mount_refund_answer(&s.paystack, "processed").await;
    let reference = mismatched_by_bola(&s).await;
    // No webhook yet: Paystack's answer says it is done.
    let payment = payment_in(&s, &admin, "refunded").await;
    assert_eq!(payment["refunded"], 999);
    assert_eq!(refunds_of(&payment).len(), 1, "{payment:?}");
    assert_eq!(refunds_of(&payment)[0]["state"], "processed");
    // A late `failed` (and stale pending/processing) never flips it back.
    for status in ["failed", "pending", "processing", "failed"] {
        post_signed(&s, &refund_event(status, &reference, 999)).await;
    }
    let payment = payments(&s, &admin).await.remove(0);
    assert_eq!(payment["state"], "refunded", "{payment:?}");
    assert_eq!(refunds_of(&payment)[0]["state"], "processed");
    assert_eq!(payment["refunded"], 999);
}

#[tokio::test]
async fn refund_events_in_any_order_end_the_same() {
    let orders: [&[&str]; 3] = [
        &["processing", "processed", "failed", "pending"],
        &["processed", "pending", "processing", "processed"],
        &["pending", "processing", "processed"],
    ];
    for order in orders {
        let s = scene().await;
        let admin = s.app.admin().await;
        mount_refund_answer(&s.paystack, "pending").await;
        let reference = mismatched_by_bola(&s).await;
        payment_in(&s, &admin, "refunding").await;
        eventually(30, || async {
            let p = payments(&s, &admin).await.remove(0);
            if p["refund_status"] == "pending" {
                Ok(())
            } else {
                Err(format!("refund not asked yet: {p:?}"))
            }
        })
        .await;
        for status in order {
            post_signed(&s, &refund_event(status, &reference, 999)).await;
        }
        let payment = payments(&s, &admin).await.remove(0);
        assert_eq!(payment["state"], "refunded", "{order:?}: {payment:?}");
        assert_eq!(refunds_of(&payment).len(), 1, "{order:?}: {payment:?}");
        assert_eq!(refunds_of(&payment)[0]["state"], "processed", "{order:?}");
        assert_eq!(payment["refunded"], 999);
    }
    // A failed refund is final too: Gavel's refund of it failed, an admin
    // settles it by hand.
    let s = scene().await;
    let admin = s.app.admin().await;
    mount_refund_answer(&s.paystack, "pending").await;
    let reference = mismatched_by_bola(&s).await;
    eventually(30, || async {
        let p = payments(&s, &admin).await;
        if p.first().is_some_and(|p| p["refund_status"] == "pending") {
            Ok(())
        } else {
            Err(format!("refund not asked yet: {p:?}"))
        }
    })
    .await;
    for status in ["failed", "processed", "processing"] {
        post_signed(&s, &refund_event(status, &reference, 999)).await;
    }
    let payment = payments(&s, &admin).await.remove(0);
    assert_eq!(payment["state"], "refund_failed", "{payment:?}");
    assert_eq!(refunds_of(&payment)[0]["state"], "failed");
    assert_eq!(payment["refunded"], 0);
}

#[tokio::test]
async fn an_admin_refunds_part_of_a_payment_once_and_the_amounts_add_up() {
    let s = scene().await;
    let admin = s.app.admin().await;
    mount_refund_answer(&s.paystack, "pending").await;
    let (reference, total) = paid_by_bola(&s, &admin).await;
    let payment_id = payments(&s, &admin).await[0]["id"].clone();
    let url = format!("/api/v1/admin/payments/{payment_id}/refunds");
    let ask = |amount: i64, key: &str| {
        s.app
            .request(reqwest::Method::POST, &url, Some(&admin.token))
            .header("idempotency-key", key)
            .json(&json!({ "amount": amount, "reason": "the frame was chipped" }))
            .send()
    };

    // Bad requests change nothing.
    let response = s
        .app
        .request(reqwest::Method::POST, &url, Some(&admin.token))
        .json(&json!({ "amount": 500, "reason": "chipped" }))
        .send()
        .await
        .unwrap();
    expect_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_required",
    )
    .await;
    expect_error(
        ask(0, "k0").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_amount",
    )
    .await;
    expect_error(
        ask(total + 1, "k1").await.unwrap(),
        StatusCode::CONFLICT,
        "refund_exceeds_payment",
    )
    .await;
    let response = s
        .app
        .request(reqwest::Method::POST, &url, Some(&s.bola.token))
        .header("idempotency-key", "k2")
        .json(&json!({ "amount": 500, "reason": "mine" }))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;
    let response = s
        .app
        .request(
            reqwest::Method::POST,
            "/api/v1/admin/payments/999999/refunds",
            Some(&admin.token),
        )
        .header("idempotency-key", "k3")
        .json(&json!({ "amount": 500, "reason": "none" }))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::NOT_FOUND, "payment_not_found").await;
    assert_eq!(s.app.count("SELECT count(*) FROM refunds").await, 0);

    // 500 back, asked twice (a retry): one refund, one request to Paystack.
    let first: Value =
        expect_json(ask(500, "claim-881").await.unwrap(), StatusCode::ACCEPTED).await;
    let again: Value =
        expect_json(ask(500, "claim-881").await.unwrap(), StatusCode::ACCEPTED).await;
    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["amount"], 500);
    expect_error(
        ask(700, "claim-881").await.unwrap(),
        StatusCode::CONFLICT,
        "idempotency_key_reused",
    )
    .await;
    eventually(30, || async {
        let p = payments(&s, &admin).await.remove(0);
        match refunds_of(&p).as_slice() {
            [r] if r["state"] == "pending" => Ok(()),
            _ => Err(format!("{p:?}")),
        }
    })
    .await;
    let asked: Vec<Value> = s
        .paystack
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/refund")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(asked, [json!({ "transaction": reference, "amount": 500 })]);
    // In flight, the payment is still kept; the rest can no longer exceed it.
    let payment = payments(&s, &admin).await.remove(0);
    assert_eq!(payment["state"], "kept");
    expect_error(
        ask(total - 499, "claim-882").await.unwrap(),
        StatusCode::CONFLICT,
        "refund_exceeds_payment",
    )
    .await;

    post_signed(&s, &refund_event("processed", &reference, 500)).await;
    let payment = payments(&s, &admin).await.remove(0);
    assert_eq!(payment["state"], "partly_refunded", "{payment:?}");
    assert_eq!(payment["refunded"], 500);
    assert_eq!(bola_invoice(&s).await.status, "paid");

    // The rest goes back too: the payment is refunded, and no more fits.
    let rest: Value = expect_json(
        ask(total - 500, "claim-883").await.unwrap(),
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(rest["amount"], total - 500);
    eventually(30, || async {
        let p = payments(&s, &admin).await.remove(0);
        match refunds_of(&p).as_slice() {
            [_, r] if r["state"] == "pending" => Ok(()),
            _ => Err(format!("{p:?}")),
        }
    })
    .await;
    post_signed(&s, &refund_event("processed", &reference, total - 500)).await;
    let payment = payments(&s, &admin).await.remove(0);
    assert_eq!(payment["state"], "refunded", "{payment:?}");
    assert_eq!(payment["refunded"], total);
    let sum: i64 = refunds_of(&payment)
        .iter()
        .filter(|r| r["state"] != "failed")
        .map(|r| r["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, payment["amount"].as_i64().unwrap());
    expect_error(
        ask(1, "claim-884").await.unwrap(),
        StatusCode::CONFLICT,
        "refund_exceeds_payment",
    )
    .await;
    let followup = s
        .app
        .temporal
        .get_workflow_handle::<gavel_workflows::followup::PaymentFollowUpWorkflow>(format!(
            "refund-{reference}.{}",
            first["id"]
        ));
    record_history(&followup, "followup_refund").await;
}

#[tokio::test]
async fn a_refund_paystack_refuses_fails_and_frees_its_amount() {
    let s = scene().await;
    let admin = s.app.admin().await;
    // Paystack refuses the first refund outright, then accepts.
    Mock::given(method("POST"))
        .and(path("/refund"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "status": false, "message": "Transaction has been fully reversed",
            "type": "api_error", "code": "transaction_reversed" })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s.paystack)
        .await;
    Mock::given(method("POST"))
        .and(path("/refund"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": true, "message": "Refund has been queued for processing",
            "data": { "id": 3_018_285, "status": "processed" } })))
        .with_priority(2)
        .mount(&s.paystack)
        .await;
    let (_, total) = paid_by_bola(&s, &admin).await;
    let payment_id = payments(&s, &admin).await[0]["id"].clone();
    let ask = |key: &str| {
        s.app
            .request(
                reqwest::Method::POST,
                &format!("/api/v1/admin/payments/{payment_id}/refunds"),
                Some(&admin.token),
            )
            .header("idempotency-key", key)
            .json(&json!({ "amount": total, "reason": "lot never shipped" }))
            .send()
    };
    expect_json::<Value>(ask("first").await.unwrap(), StatusCode::ACCEPTED).await;
    let payment = eventually(30, || async {
        let p = payments(&s, &admin).await.remove(0);
        match refunds_of(&p).as_slice() {
            [r] if r["state"] == "failed" => Ok(p),
            _ => Err(format!("{p:?}")),
        }
    })
    .await;
    assert_eq!(payment["state"], "kept", "{payment:?}");
    assert_eq!(payment["refunded"], 0);
    // The failed refund holds nothing back: the whole amount can go again.
    expect_json::<Value>(ask("second").await.unwrap(), StatusCode::ACCEPTED).await;
    let payment = payment_in(&s, &admin, "refunded").await;
    assert_eq!(payment["refunded"], total);
    assert_eq!(refunds_of(&payment).len(), 2);
}

/// An admin asks for `amount` of the one payment back under `key`.
async fn ask_refund(s: &Scene, admin: &TestUser, amount: i64, key: &str) -> reqwest::Response {
    let payment_id = payments(s, admin).await[0]["id"].clone();
    s.app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/admin/payments/{payment_id}/refunds"),
            Some(&admin.token),
        )
        .header("idempotency-key", key)
        .json(&json!({ "amount": amount, "reason": "a claim" }))
        .send()
        .await
        .unwrap()
}

/// The one payment's refunds once there are `count`, all accepted by
/// Paystack (`pending`, with Paystack's id).
async fn accepted_refunds(s: &Scene, admin: &TestUser, count: usize) -> Vec<Value> {
    eventually(30, || async {
        let p = payments(s, admin).await.remove(0);
        let refunds = refunds_of(&p);
        if refunds.len() == count
            && refunds
                .iter()
                .all(|r| r["state"] == "pending" && r["paystack_refund_id"].is_i64())
        {
            Ok(refunds)
        } else {
            Err(format!("waiting for {count} accepted refunds: {p:?}"))
        }
    })
    .await
}

fn states(refunds: &[Value]) -> Vec<String> {
    refunds
        .iter()
        .map(|r| r["state"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn redelivered_events_about_one_of_several_equal_refunds_move_only_that_one() {
    let s = scene().await;
    let admin = s.app.admin().await;
    let paystack = FakeRefunds::mount(&s.paystack, 7_001).await;
    let (reference, total) = paid_by_bola(&s, &admin).await;
    let part = total / 4;
    for key in ["claim-1", "claim-2", "claim-3"] {
        expect_json::<Value>(
            ask_refund(&s, &admin, part, key).await,
            StatusCode::ACCEPTED,
        )
        .await;
    }
    let ids: Vec<i64> = accepted_refunds(&s, &admin, 3)
        .await
        .iter()
        .map(|r| r["paystack_refund_id"].as_i64().unwrap())
        .collect();

    // Paystack processed the first; the event cannot say which of the three
    // it is about, and comes three times.
    paystack.set_status(ids[0], "processed");
    let processed = json!({ "event": "refund.processed", "data": {
        "status": "processed", "transaction_reference": reference,
        "refund_reference": "132013318360", "amount": part.to_string(), "currency": "NGN",
        "customer": { "email": "bola@example.com" }, "domain": "test" } });
    let mut acks = Vec::new();
    for _ in 0..3 {
        acks.push(post_signed(&s, &processed).await);
    }
    assert_eq!(acks, ["stored", "duplicate", "duplicate"]);
    let payment = payments(&s, &admin).await.remove(0);
    assert_eq!(
        states(&refunds_of(&payment)),
        ["processed", "pending", "pending"],
        "{payment:?}"
    );
    assert_eq!(payment["refunded"], part);

    // The second failed at Paystack; its event comes twice.
    paystack.set_status(ids[1], "failed");
    let failed = json!({ "event": "refund.failed", "data": {
        "status": "failed", "transaction_reference": reference,
        "refund_reference": "TRF_1ptvuv321ahaa7q", "amount": part, "currency": "NGN",
        "customer": { "email": "bola@example.com" }, "domain": "test" } });
    let mut acks = Vec::new();
    for _ in 0..2 {
        acks.push(post_signed(&s, &failed).await);
    }
    assert_eq!(acks, ["stored", "duplicate"]);
    let payment = payments(&s, &admin).await.remove(0);
    assert_eq!(
        states(&refunds_of(&payment)),
        ["processed", "failed", "pending"],
        "{payment:?}"
    );
    // A late `refund.processing` (no reference) may be about any of them:
    // the one still pending is not moved on its word (Paystack has it pending).
    post_signed(&s, &refund_event("processing", &reference, part)).await;
    let payment = payments(&s, &admin).await.remove(0);
    assert_eq!(
        states(&refunds_of(&payment)),
        ["processed", "failed", "pending"],
        "{payment:?}"
    );
    // The third may still go through at Paystack: its amount stays taken.
    expect_error(
        ask_refund(&s, &admin, total - 2 * part + 1, "claim-4").await,
        StatusCode::CONFLICT,
        "refund_exceeds_payment",
    )
    .await;
}

#[tokio::test]
async fn a_late_event_never_moves_a_refund_paystack_has_not_accepted() {
    let s = scene().await;
    let admin = s.app.admin().await;
    let paystack = FakeRefunds::mount(&s.paystack, 8_001).await;
    let (reference, total) = paid_by_bola(&s, &admin).await;
    let part = total / 4;
    expect_json::<Value>(
        ask_refund(&s, &admin, part, "claim-a").await,
        StatusCode::ACCEPTED,
    )
    .await;
    accepted_refunds(&s, &admin, 1).await;

    // Paystack fails while the second of the same amount is asked for.
    paystack.set_down(true);
    expect_json::<Value>(
        ask_refund(&s, &admin, part, "claim-b").await,
        StatusCode::ACCEPTED,
    )
    .await;
    let asked = || async {
        s.paystack
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/refund")
            .count()
    };
    eventually(30, || async {
        match asked().await {
            n if n >= 2 => Ok(()),
            n => Err(format!("{n} refund requests")),
        }
    })
    .await;

    // A late `refund.processed` of that amount arrives meanwhile: it may
    // be about either, so it is not applied (503, forgotten) and waits for
    // Paystack's redelivery instead of being pinned on the first.
    let late = serde_json::to_vec(&refund_event("processed", &reference, part)).unwrap();
    let response = post_webhook(&s.app, &late, Some(&sign(&late))).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let payment = payments(&s, &admin).await.remove(0);
    assert_eq!(
        states(&refunds_of(&payment)),
        ["pending", "requested"],
        "{payment:?}"
    );
    let second = refunds_of(&payment).remove(1);
    assert!(second["paystack_refund_id"].is_null(), "{payment:?}");

    // Paystack is back: the second is asked for and accepted.
    paystack.set_down(false);
    let refunds = accepted_refunds(&s, &admin, 2).await;
    assert_ne!(
        refunds[0]["paystack_refund_id"],
        refunds[1]["paystack_refund_id"]
    );
    assert!(asked().await >= 3);
    // The redelivery is applied now: stored, not a duplicate.
    let redelivered = post_webhook(&s.app, &late, Some(&sign(&late))).await;
    assert_eq!(redelivered.status(), StatusCode::OK);
    let ack: Value = redelivered.json().await.unwrap();
    assert_eq!(ack["status"], "stored");
}

#[tokio::test]
async fn a_refund_reason_with_hidden_characters_is_refused_and_records_nothing() {
    let s = scene().await;
    let admin = s.app.admin().await;
    let (_, total) = paid_by_bola(&s, &admin).await;
    let payment_id = payments(&s, &admin).await[0]["id"].clone();
    for (key, reason) in [
        ("r1", "ok\u{202e}gnp.exe\u{7}\u{200b}"),
        ("r2", "refund\u{2066}x\u{2069}"),
        ("r3", "bom\u{feff}"),
    ] {
        let response = s
            .app
            .request(
                reqwest::Method::POST,
                &format!("/api/v1/admin/payments/{payment_id}/refunds"),
                Some(&admin.token),
            )
            .header("idempotency-key", key)
            .json(&json!({ "amount": total, "reason": reason }))
            .send()
            .await
            .unwrap();
        expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;
    }
    assert_eq!(s.app.count("SELECT count(*) FROM refunds").await, 0);
}

#[tokio::test]
async fn a_refund_asked_while_temporal_is_down_is_started_by_the_retry_with_its_key() {
    use std::time::Duration;

    let temporal = crate::helpers::RestartableTemporal::new("gavel-refund-outage");
    let start = || temporal.start();
    let server = start();
    let s = scene_at(server.address).await;
    let admin = s.app.admin().await;
    let paystack = FakeRefunds::mount(&s.paystack, 9_001).await;
    let (_, total) = paid_by_bola(&s, &admin).await;

    server.stop(Duration::from_secs(5));
    expect_error(
        ask_refund(&s, &admin, total, "while-down").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    // Recorded, not yet asked of Paystack.
    let payment = payments(&s, &admin).await.remove(0);
    assert_eq!(states(&refunds_of(&payment)), ["requested"], "{payment:?}");

    let _server = start();
    // The admin retries with the same key until Temporal answers: the same
    // refund, asked of Paystack once.
    let retried: Value = eventually(60, || async {
        let response = ask_refund(&s, &admin, total, "while-down").await;
        match response.status() {
            StatusCode::ACCEPTED => Ok(response.json().await.unwrap()),
            other => Err(format!("retry answered {other}")),
        }
    })
    .await;
    assert_eq!(retried["id"], refunds_of(&payment)[0]["id"]);
    let refunds = accepted_refunds(&s, &admin, 1).await;
    assert_eq!(refunds[0]["paystack_refund_id"], 9_001);
    let asked = s
        .paystack
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/refund")
        .count();
    assert_eq!(asked, 1);
    drop(paystack);
    let _ = std::fs::remove_dir_all(temporal.dir());
}

#[tokio::test]
async fn a_refund_event_not_applied_for_want_of_paystack_is_applied_when_redelivered() {
    let s = scene().await;
    let admin = s.app.admin().await;
    let paystack = FakeRefunds::mount(&s.paystack, 6_001).await;
    let (reference, total) = paid_by_bola(&s, &admin).await;
    let part = total / 2;
    for key in ["claim-1", "claim-2"] {
        expect_json::<Value>(
            ask_refund(&s, &admin, part, key).await,
            StatusCode::ACCEPTED,
        )
        .await;
    }
    let ids: Vec<i64> = accepted_refunds(&s, &admin, 2)
        .await
        .iter()
        .map(|r| r["paystack_refund_id"].as_i64().unwrap())
        .collect();
    paystack.set_status(ids[1], "processed");
    // Which of the two it is about needs Paystack, which is down: 503 (so
    // Paystack sends it again), and nothing changed.
    paystack.set_fetch_down(true);
    let processed = json!({ "event": "refund.processed", "data": {
        "status": "processed", "transaction_reference": reference,
        "refund_reference": "132013318399", "amount": part.to_string(), "currency": "NGN" } });
    let bytes = serde_json::to_vec(&processed).unwrap();
    expect_error(
        post_webhook(&s.app, &bytes, Some(&sign(&bytes))).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    let payment = payments(&s, &admin).await.remove(0);
    assert_eq!(
        states(&refunds_of(&payment)),
        ["pending", "pending"],
        "{payment:?}"
    );
    // Paystack's redelivery is applied, not taken for a duplicate.
    paystack.set_fetch_down(false);
    assert_eq!(post_signed(&s, &processed).await, "stored");
    let payment = payments(&s, &admin).await.remove(0);
    assert_eq!(
        states(&refunds_of(&payment)),
        ["pending", "processed"],
        "{payment:?}"
    );
    assert_eq!(post_signed(&s, &processed).await, "duplicate");
}
