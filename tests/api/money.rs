//! The money rules, each shown by what Paystack, Brevo and PostgreSQL end up
//! with: one live transaction per invoice, every verified payment kept or
//! refunded, consent before a runner-up is charged, offline payments only
//! from admins, late money and disputes followed up (strikes: `strikes.rs`).

use gavel_api::routes::{
    admin::PaymentList,
    invoices::{InvoiceResponse, PayLinkResponse},
    webhooks::WebhookAck,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{body_partial_json, method, path},
};

use crate::{
    helpers::{
        TestApp, TestUser, auction_body, emails, eventually, expect_error, expect_json,
        record_history,
    },
    stand_ins::*,
};

/// Paystack makes checkouts for whatever reference it is sent (which
/// sends the buyer back to Gavel's `/payments/return`).
pub(crate) async fn mount_checkouts(paystack: &MockServer, priority: u8) {
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .and(body_partial_json(
            json!({ "callback_url": "http://gavel.test/payments/return" }),
        ))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            let reference = body["reference"].as_str().unwrap_or_default().to_owned();
            ResponseTemplate::new(200).set_body_json(json!({
                "status": true, "message": "Authorization URL created",
                "data": { "authorization_url": format!("https://checkout.paystack.com/{reference}"),
                          "access_code": reference, "reference": reference }
            }))
        })
        .with_priority(priority)
        .mount(paystack)
        .await;
}

/// Paystack's verify for `reference`: a transaction in `status`.
async fn mount_transaction(
    paystack: &MockServer,
    reference: &str,
    status: &str,
    amount: i64,
    priority: u8,
) {
    let mut body = verified(reference, amount);
    body["data"]["status"] = json!(status);
    Mock::given(method("GET"))
        .and(path(format!("/transaction/verify/{reference}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .with_priority(priority)
        .mount(paystack)
        .await;
}

/// Requests Paystack received at `path`.
async fn requests_to(paystack: &MockServer, path: &str) -> Vec<Value> {
    paystack
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == path)
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .collect()
}

async fn invoice_of_round(app: &TestApp, round: i32) -> (Uuid, String, String) {
    sqlx::query_as("SELECT id, status, reference FROM invoices WHERE round = $1")
        .bind(round)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// On the time-skipping server: `winner` outbids `runner_up` (whose own
/// maximum is 2,000) and the auction closes; returns its id once the
/// winner's invoice waits for payment.
async fn won_on_skipping_server(s: &Scene, winner: &TestUser, runner_up: &TestUser) -> String {
    let mut body = auction_body(60);
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let id = s.app.create_auction(&s.seller, &body).await.id.to_string();
    s.app.bid_ok(runner_up, &id, 1_000, Some(2_000)).await;
    s.app.bid_ok(winner, &id, 1_500, Some(5_000)).await;
    s.app.skip_time(61).await;
    s.app.wait_for_status(&id, "awaiting_payment", 20).await;
    id
}

async fn post_signed(app: &TestApp, body: &Value) -> WebhookAck {
    let bytes = serde_json::to_vec(body).unwrap();
    expect_json(
        post_webhook(app, &bytes, Some(&sign(&bytes))).await,
        StatusCode::OK,
    )
    .await
}

#[tokio::test]
async fn concurrent_pay_calls_get_one_reference_and_paystack_one_transaction() {
    let s = scene().await;
    // Paystack refuses the first checkout outright, so the winner is left
    // without a link and must ask for one; then it works.
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(
                json!({ "status": false, "message": "Invalid Email Address Passed" }),
            ),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s.paystack)
        .await;
    mount_checkouts(&s.paystack, 2).await;
    let id = won_by_bola(&s).await;
    let problem = wait_for_problem(&s.app, &id).await;
    assert!(
        problem.contains("PaystackInvalidRequest") || problem.contains("payment"),
        "{problem}"
    );
    let invoice = bola_invoice(&s).await;
    assert!(invoice.pay_link.is_none(), "{invoice:?}");
    let pay = format!("/api/v1/invoices/{}/pay", invoice.id);

    let empty = json!({});
    let calls = (0..3).map(|_| s.app.post_json(&pay, &empty, Some(&s.bola.token)));
    let mut links = Vec::new();
    for response in futures::future::join_all(calls).await {
        let link: PayLinkResponse = expect_json(response, StatusCode::OK).await;
        links.push((link.authorization_url, link.reference));
    }
    assert!(
        links.iter().all(|l| *l == links[0]),
        "one link for all: {links:?}"
    );
    let again: PayLinkResponse = expect_json(
        s.app.post_json(&pay, &json!({}), Some(&s.bola.token)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!((again.authorization_url, again.reference), links[0]);

    let initialized = requests_to(&s.paystack, "/transaction/initialize").await;
    assert_eq!(
        initialized.len(),
        2,
        "the refused one and the one that made the link"
    );
    assert!(
        initialized
            .iter()
            .all(|r| r["reference"] == links[0].1.as_str()),
        "one reference throughout: {initialized:?}"
    );
    let response = s.app.post_json(&pay, &json!({}), Some(&s.ada.token)).await;
    expect_error(response, StatusCode::NOT_FOUND, "invoice_not_found").await;
}

#[tokio::test]
async fn pay_while_a_card_charge_is_pending_is_409_and_no_checkout_is_made() {
    let s = scene().await;
    store_bolas_card(&s).await;
    Mock::given(method("POST"))
        .and(path("/transaction/charge_authorization"))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            ResponseTemplate::new(200).set_body_json(json!({
                "status": true, "message": "Charge attempted",
                "data": { "status": "pending", "reference": body["reference"],
                          "amount": body["amount"], "currency": body["currency"] }
            }))
        })
        .expect(1)
        .mount(&s.paystack)
        .await;
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .respond_with(checkout("https://checkout.paystack.com/never"))
        .expect(0)
        .mount(&s.paystack)
        .await;
    let id = won_by_bola(&s).await;
    wait_until(|| async { emails(&s.app, &id).await.iter().any(|e| e.0 == "won") }).await;
    let invoice = bola_invoice(&s).await;
    let pay = format!("/api/v1/invoices/{}/pay", invoice.id);
    for _ in 0..2 {
        let response = s.app.post_json(&pay, &json!({}), Some(&s.bola.token)).await;
        expect_error(response, StatusCode::CONFLICT, "payment_pending").await;
    }
}

#[tokio::test]
async fn a_payment_after_the_void_is_refunded_once_and_the_lot_is_not_sold_twice() {
    let s = skipping_paystack_scene().await;
    mount_checkouts(&s.paystack, 2).await;
    mount_refunds(&s.paystack).await;
    let admin = s.app.admin().await;
    let id = won_on_skipping_server(&s, &s.ada, &s.bola).await;
    wait_until(|| async { emails(&s.app, &id).await.iter().any(|e| e.0 == "won") }).await;
    let (_, _, reference) = invoice_of_round(&s.app, 1).await;
    // Ada opened the checkout and left it.
    mount_transaction(&s.paystack, &reference, "abandoned", 2_100, 3).await;

    s.app.skip_time(48 * 3_600 + 1).await;
    wait_until(|| async {
        emails(&s.app, &id)
            .await
            .iter()
            .any(|e| e.0 == "second_chance")
    })
    .await;
    assert_eq!(invoice_of_round(&s.app, 1).await.1, "void");

    // Then she pays on the link she still has.
    mount_transaction(&s.paystack, &reference, "success", 2_100, 1).await;
    let event = serde_json::from_slice::<Value>(&charge_success(&reference, 2_100)).unwrap();
    assert_eq!(post_signed(&s.app, &event).await.status, "stored");
    wait_until(|| async { emails(&s.app, &id).await.iter().any(|e| e.0 == "refund") }).await;
    assert_eq!(post_signed(&s.app, &event).await.status, "duplicate");

    let refunds = requests_to(&s.paystack, "/refund").await;
    assert_eq!(
        refunds,
        [json!({ "transaction": reference })],
        "refunded once, in full"
    );
    let listed: PaymentList = expect_json(
        s.app
            .get("/api/v1/admin/payments?state=refunding", Some(&admin.token))
            .await,
        StatusCode::OK,
    )
    .await;
    let items = &listed.items;
    assert_eq!(items.len(), 1, "{listed:?}");
    assert_eq!(items[0].reference, reference);
    assert_eq!(items[0].amount, 2_100);
    assert_eq!(
        items[0].refund_reason.as_deref(),
        Some("the invoice is void")
    );
    let (refund_to,): (String,) =
        sqlx::query_as("SELECT recipient_email FROM emails WHERE kind = 'refund'")
            .fetch_one(&s.app.db)
            .await
            .unwrap();
    assert_eq!(refund_to, s.ada.email);

    // The lot is not sold to Ada after all: Bola's offer stands.
    assert_eq!(invoice_of_round(&s.app, 1).await.1, "void");
    assert_eq!(invoice_of_round(&s.app, 2).await.1, "offered");
    assert_eq!(s.app.auction(&id).await.status, "awaiting_payment");
    assert_eq!(
        s.app
            .count("SELECT count(*) FROM payments WHERE state = 'kept'")
            .await,
        0
    );

    // Paystack reports the refund done.
    post_signed(
        &s.app,
        &json!({ "event": "refund.processed", "data": {
            "status": "processed", "transaction_reference": reference,
            "refund_reference": "132013318360", "amount": "2100", "currency": "NGN" } }),
    )
    .await;
    let refunded: PaymentList = expect_json(
        s.app
            .get("/api/v1/admin/payments?state=refunded", Some(&admin.token))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(refunded.items.len(), 1, "{refunded:?}");
    let response = s
        .app
        .get("/api/v1/admin/payments?state=lost", Some(&admin.token))
        .await;
    let error = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_state").await;
    assert!(error.error.message.contains("refund_failed"));
    let response = s
        .app
        .get("/api/v1/admin/payments", Some(&s.bola.token))
        .await;
    expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;
    record_history(&s.app.auction_handle(&id), "settlement_refund_after_void").await;
}

#[tokio::test]
async fn a_payment_racing_the_deadline_settles_without_a_void_or_an_offer() {
    let s = skipping_paystack_scene().await;
    mount_checkouts(&s.paystack, 2).await;
    let id = won_on_skipping_server(&s, &s.bola, &s.ada).await;
    wait_until(|| async { emails(&s.app, &id).await.iter().any(|e| e.0 == "won") }).await;
    let (invoice_id, _, reference) = invoice_of_round(&s.app, 1).await;
    // Bola paid a moment before the deadline; Paystack's webhook is late.
    mount_transaction(&s.paystack, &reference, "success", 2_100, 1).await;

    s.app.skip_time(48 * 3_600 + 1).await;
    s.app.wait_for_status(&id, "settled", 20).await;
    let (status,): (String,) = sqlx::query_as("SELECT status FROM invoices WHERE id = $1")
        .bind(invoice_id)
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    assert_eq!(status, "paid");
    assert_eq!(
        s.app.count("SELECT count(*) FROM invoices").await,
        1,
        "no offer"
    );
    assert_eq!(
        s.app.count("SELECT count(*) FROM strikes").await,
        0,
        "no strike"
    );
    assert_eq!(
        s.app
            .count("SELECT count(*) FROM payments WHERE state = 'kept'")
            .await,
        1
    );
    let kinds: Vec<String> = emails(&s.app, &id).await.into_iter().map(|e| e.0).collect();
    assert!(kinds.contains(&"receipt".to_owned()), "{kinds:?}");
    assert!(!kinds.contains(&"second_chance".to_owned()), "{kinds:?}");
    record_history(
        &s.app.auction_handle(&id),
        "settlement_paid_at_the_deadline",
    )
    .await;
}

#[tokio::test]
async fn a_runner_ups_stored_card_is_charged_only_after_they_accept() {
    let s = skipping_paystack_scene().await;
    mount_checkouts(&s.paystack, 2).await;
    store_bolas_card(&s).await;
    Mock::given(method("POST"))
        .and(path("/transaction/charge_authorization"))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            ResponseTemplate::new(200).set_body_json(json!({
                "status": true, "message": "Charge attempted",
                "data": { "id": 4_099_490_251_u64, "status": "success", "reference": body["reference"],
                          "amount": body["amount"], "currency": body["currency"],
                          "gateway_response": "Approved", "metadata": "" }
            }))
        })
        .mount(&s.paystack)
        .await;
    let id = won_on_skipping_server(&s, &s.ada, &s.bola).await;
    let (_, _, reference) = invoice_of_round(&s.app, 1).await;
    mount_transaction(&s.paystack, &reference, "abandoned", 2_100, 3).await;
    s.app.skip_time(48 * 3_600 + 1).await;
    wait_until(|| async {
        emails(&s.app, &id)
            .await
            .iter()
            .any(|e| e.0 == "second_chance")
    })
    .await;
    // A day of silence would lapse the offer; an hour in, nothing is charged.
    s.app.skip_time(3_600).await;
    assert!(
        requests_to(&s.paystack, "/transaction/charge_authorization")
            .await
            .is_empty(),
        "a runner-up's card is never charged before they accept"
    );
    let (offer_id, status, offer_reference) = invoice_of_round(&s.app, 2).await;
    assert_eq!(status, "offered");
    mount_transaction(&s.paystack, &offer_reference, "success", 2_000, 1).await;

    let accepted: InvoiceResponse = expect_json(
        s.app
            .post_json(
                &format!("/api/v1/invoices/{offer_id}/accept"),
                &json!({}),
                Some(&s.bola.token),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    // The saved card is charged as soon as the offer is accepted: by the
    // time the answer is read back it may already be paid.
    assert!(
        ["open", "paid"].contains(&accepted.status.as_str()),
        "{}",
        accepted.status
    );
    s.app.wait_for_status(&id, "settled", 60).await;
    let charges = requests_to(&s.paystack, "/transaction/charge_authorization").await;
    assert_eq!(charges.len(), 1, "{charges:?}");
    assert_eq!(charges[0]["amount"], 2_000, "her own highest bid");
    assert_eq!(charges[0]["authorization_code"], "AUTH_stored");
    assert_eq!(invoice_of_round(&s.app, 2).await.1, "paid");
}

#[tokio::test]
async fn a_declined_or_ignored_offer_moves_on_without_a_strike() {
    let s = skipping_paystack_scene().await;
    mount_checkouts(&s.paystack, 2).await;
    let carol = s.app.user("bidder").await;
    let mut body = auction_body(60);
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let id = s.app.create_auction(&s.seller, &body).await.id.to_string();
    s.app.bid_ok(&carol, &id, 1_000, Some(1_500)).await;
    s.app.bid_ok(&s.bola, &id, 1_600, Some(2_000)).await;
    s.app.bid_ok(&s.ada, &id, 2_100, Some(5_000)).await;
    s.app.skip_time(61).await;
    s.app.wait_for_status(&id, "awaiting_payment", 20).await;
    let (_, _, reference) = invoice_of_round(&s.app, 1).await;
    mount_transaction(&s.paystack, &reference, "abandoned", 2_100, 3).await;
    s.app.skip_time(48 * 3_600 + 1).await;
    wait_until(|| async {
        emails(&s.app, &id)
            .await
            .iter()
            .any(|e| e.0 == "second_chance")
    })
    .await;
    let (offer, _, _) = invoice_of_round(&s.app, 2).await;
    let declined: InvoiceResponse = expect_json(
        s.app
            .post_json(
                &format!("/api/v1/invoices/{offer}/decline"),
                &json!({}),
                Some(&s.bola.token),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(declined.status, "declined");
    // Carol's offer, then a day of silence.
    wait_until(|| async { s.app.count("SELECT count(*) FROM invoices").await == 3 }).await;
    s.app.skip_time(24 * 3_600 + 1).await;
    s.app.wait_for_status(&id, "unsold", 20).await;
    let statuses: Vec<(i32, String)> =
        sqlx::query_as("SELECT round, status FROM invoices ORDER BY round")
            .fetch_all(&s.app.db)
            .await
            .unwrap();
    assert_eq!(
        statuses,
        [
            (1, "void".to_owned()),
            (2, "declined".to_owned()),
            (3, "expired".to_owned())
        ]
    );
    let struck: Vec<(Uuid,)> = sqlx::query_as("SELECT user_id FROM strikes")
        .fetch_all(&s.app.db)
        .await
        .unwrap();
    assert_eq!(
        struck,
        [(s.ada.id.parse().unwrap(),)],
        "only the winner who did not pay"
    );
    record_history(
        &s.app.auction_handle(&id),
        "settlement_offers_declined_and_lapsed",
    )
    .await;
}

#[tokio::test]
async fn a_seller_may_turn_second_chance_offers_off() {
    let s = skipping_paystack_scene().await;
    mount_checkouts(&s.paystack, 2).await;
    let mut body = auction_body(60);
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    body["second_chance_offers"] = json!(false);
    let created = s.app.create_auction(&s.seller, &body).await;
    assert!(!created.second_chance_offers);
    let id = &created.id.to_string();
    s.app.bid_ok(&s.bola, id, 1_000, Some(2_000)).await;
    s.app.bid_ok(&s.ada, id, 2_100, None).await;
    s.app.skip_time(61).await;
    s.app.wait_for_status(id, "awaiting_payment", 20).await;
    s.app.skip_time(48 * 3_600 + 1).await;
    s.app.wait_for_status(id, "unsold", 20).await;
    assert_eq!(s.app.count("SELECT count(*) FROM invoices").await, 1);
}

#[tokio::test]
async fn an_offline_payment_from_someone_who_is_not_an_admin_is_refused_and_visible() {
    use gavel_workflows::{
        auction::AuctionWorkflow,
        contract::settlement::{PaymentNotice, PaymentSource},
        lenient::Lenient,
    };
    let s = scene().await;
    mount_checkouts(&s.paystack, 2).await;
    let id = won_by_bola(&s).await;
    let (invoice_id, _, _) = invoice_of_round(&s.app, 1).await;
    // Anyone who can reach Temporal can send this signal.
    let notice = PaymentNotice {
        invoice_id,
        source: PaymentSource::Offline {
            admin_id: s.bola.id.parse().unwrap(),
        },
    };
    s.app
        .auction_handle(&id)
        .signal(
            AuctionWorkflow::payment_received,
            Lenient::new(notice),
            Default::default(),
        )
        .await
        .unwrap();
    let refusals = eventually(20, || async {
        let refusals = s
            .app
            .auction_handle(&id)
            .query(AuctionWorkflow::refusals, (), Default::default())
            .await
            .unwrap();
        if refusals.count > 0 {
            Ok(refusals)
        } else {
            Err("not refused yet".to_owned())
        }
    })
    .await;
    assert_eq!(refusals.recent[0].message, "payment_received");
    assert!(
        refusals.recent[0].reason.contains("is not an admin"),
        "{refusals:?}"
    );
    assert_eq!(invoice_of_round(&s.app, 1).await.1, "open");
    assert_eq!(s.app.count("SELECT count(*) FROM payments").await, 0);
    assert_eq!(s.app.auction(&id).await.status, "awaiting_payment");
}

#[tokio::test]
async fn money_that_arrives_after_the_auction_ended_is_refunded_and_a_dispute_tells_admins() {
    let s = scene().await;
    mount_refunds(&s.paystack).await;
    let (id, reference) = awaiting_pay_link(&s, "https://checkout.paystack.com/late").await;
    let admin = s.app.admin().await;
    let other_admin = s.app.admin().await;
    // Bola pays by bank transfer; the sale settles and the workflow ends.
    let (invoice_id, _, _) = invoice_of_round(&s.app, 1).await;
    let response = s
        .app
        .post_json(
            &format!("/api/v1/admin/invoices/{invoice_id}/mark-paid"),
            &json!({}),
            Some(&admin.token),
        )
        .await;
    let paid: InvoiceResponse = expect_json(response, StatusCode::OK).await;
    assert_eq!(paid.status, "paid");
    s.app.wait_for_status(&id, "settled", 20).await;
    eventually(20, || async {
        let described = s
            .app
            .auction_handle(&id)
            .describe(Default::default())
            .await
            .map_err(|e| e.to_string())?;
        if described
            .raw_description
            .workflow_execution_info
            .as_ref()
            .is_some_and(|i| i.close_time.is_some())
        {
            Ok(())
        } else {
            Err("the auction's workflow is still running".to_owned())
        }
    })
    .await;

    // Then pays the pay link too.
    mount_verified(&s.paystack, &reference, 1_500).await;
    let event = serde_json::from_slice::<Value>(&charge_success(&reference, 1_500)).unwrap();
    post_signed(&s.app, &event).await;
    eventually(30, || async {
        match s
            .app
            .count("SELECT count(*) FROM payments WHERE state = 'refunding'")
            .await
        {
            1 => Ok(()),
            n => Err(format!("{n} refunding")),
        }
    })
    .await;
    wait_until(|| async { emails(&s.app, &id).await.iter().any(|e| e.0 == "refund") }).await;
    assert_eq!(requests_to(&s.paystack, "/refund").await.len(), 1);
    let followup = s
        .app
        .temporal
        .get_workflow_handle::<gavel_workflows::followup::PaymentFollowUpWorkflow>(format!(
            "payment-{reference}"
        ));
    record_history(&followup, "followup_late_payment").await;
    let (reason,): (Option<String>,) =
        sqlx::query_as("SELECT refund_reason FROM payments WHERE state = 'refunding'")
            .fetch_one(&s.app.db)
            .await
            .unwrap();
    assert_eq!(reason.as_deref(), Some("the invoice was already paid"));

    // Weeks later, the buyer's bank disputes the card payment.
    post_signed(
        &s.app,
        &json!({ "event": "charge.dispute.create", "data": {
            "id": 358_950, "refund_amount": 1_500, "currency": "NGN", "status": "awaiting-merchant-feedback",
            "domain": "test", "transaction": { "id": transaction_id(&reference), "reference": reference,
            "amount": 1_500, "currency": "NGN" }, "category": "chargeback" } }),
    )
    .await;
    let invoice: InvoiceResponse = expect_json(
        s.app
            .get(
                &format!("/api/v1/invoices/{invoice_id}"),
                Some(&admin.token),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(invoice.disputed_at.is_some(), "{invoice:?}");
    assert_eq!(
        invoice.reference.as_deref(),
        Some(reference.as_str()),
        "admins see the reference"
    );
    eventually(30, || async {
        match s
            .app
            .count("SELECT count(*) FROM emails WHERE kind = 'dispute'")
            .await
        {
            2 => Ok(()),
            n => Err(format!("{n} admins told")),
        }
    })
    .await;
    let told: Vec<(String,)> =
        sqlx::query_as("SELECT recipient_email FROM emails WHERE kind = 'dispute' ORDER BY 1")
            .fetch_all(&s.app.db)
            .await
            .unwrap();
    let mut admins = vec![admin.email.clone(), other_admin.email.clone()];
    admins.sort();
    assert_eq!(told.into_iter().map(|t| t.0).collect::<Vec<_>>(), admins);
    let followup = s
        .app
        .temporal
        .get_workflow_handle::<gavel_workflows::followup::PaymentFollowUpWorkflow>(format!(
            "dispute-{reference}"
        ));
    record_history(&followup, "followup_dispute").await;
    // Stored events keep no card data.
    let (stored,): (Value,) =
        sqlx::query_as("SELECT body FROM paystack_events WHERE event = 'charge.success'")
            .fetch_one(&s.app.db)
            .await
            .unwrap();
    assert!(!stored.to_string().contains("AUTH_test1"), "{stored}");
}
