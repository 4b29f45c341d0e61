//! Paying the winner end to end: real HTTP, Temporal and PostgreSQL,
//! wiremock for Paystack and Brevo: the pay link and its webhook, a stored
//! card (charged, or pending), Paystack's errors, a wrong amount, a bad key,
//! a payment checked again later, and an email Brevo refuses. The unpaid
//! winner's path is in second_chance.rs.

use gavel_api::routes::{
    invoices::{InvoiceResponse, PayLinkResponse},
    webhooks::WebhookAck,
};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{bearer_token, method, path, path_regex},
};

use crate::{
    helpers::{
        TimeSkippingServer, auction_body, emails, eventually, expect_error, expect_json,
        expect_status, http_args, record_history, sale_emails_at_brevo, sent_become, sent_kinds,
        settlement_args, spawn_app_on,
    },
    stand_ins::*,
};

#[tokio::test]
async fn the_winner_pays_by_pay_link_and_a_signed_webhook_settles_once() {
    let s = scene().await;
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .and(bearer_token(KEY))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            ResponseTemplate::new(200).set_body_json(json!({
                "status": true, "message": "Authorization URL created",
                "data": { "authorization_url": "https://checkout.paystack.com/abc123",
                          "access_code": "abc123", "reference": body["reference"] }
            }))
        })
        .expect(1)
        .mount(&s.paystack)
        .await;
    let id = won_by_bola(&s).await;

    let invoice = bola_pay_link(&s).await;
    assert_eq!(invoice.total, 1_500);
    assert_eq!(invoice.status, "open");
    assert_eq!(
        invoice.pay_link.as_deref(),
        Some("https://checkout.paystack.com/abc123")
    );
    let reference = invoice_reference(&s.app).await;
    assert!(gavel_paystack::valid_reference(&reference));
    let init = &s.paystack.received_requests().await.unwrap()[0];
    let sent: Value = serde_json::from_slice(&init.body).unwrap();
    assert_eq!(sent["amount"], 1_500, "an integer amount in minor units");
    assert_eq!(sent["currency"], "NGN");
    assert_eq!(sent["email"], s.bola.email.as_str());
    assert_eq!(sent["reference"], reference.as_str());

    // The buyer (only) can fetch the pay link again; no second transaction.
    let pay_path = format!("/api/v1/invoices/{}/pay", invoice.id);
    let pay: PayLinkResponse = expect_json(
        s.app
            .post_json(&pay_path, &json!({}), Some(&s.bola.token))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        pay.authorization_url,
        "https://checkout.paystack.com/abc123"
    );
    assert_eq!(pay.reference, reference);
    let response = s
        .app
        .post_json(&pay_path, &json!({}), Some(&s.seller.token))
        .await;
    expect_error(response, StatusCode::FORBIDDEN, "not_the_buyer").await;

    // Three deliveries, one verification.
    Mock::given(method("GET"))
        .and(path(format!("/transaction/verify/{reference}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(verified(&reference, 1_500)))
        .expect(1)
        .mount(&s.paystack)
        .await;

    // A forged delivery is refused and leaves no trace.
    let body = charge_success(&reference, 1_500);
    let forged = post_webhook(&s.app, &body, Some(&"0".repeat(128))).await;
    expect_error(forged, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    let unsigned = post_webhook(&s.app, &body, None).await;
    expect_error(unsigned, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    assert_eq!(s.app.count("SELECT count(*) FROM paystack_events").await, 0);

    // Paystack delivers three times.
    let signature = sign(&body);
    let mut answers = Vec::new();
    for _ in 0..3 {
        let response = post_webhook(&s.app, &body, Some(&signature)).await;
        let ack: WebhookAck = expect_json(response, StatusCode::OK).await;
        answers.push(ack.status);
    }
    assert_eq!(answers, ["stored", "duplicate", "duplicate"]);

    let settled = s.app.wait_for_status(&id, "settled", 20).await;
    assert_eq!(
        settled.outcome.as_ref().unwrap().winner.as_deref(),
        Some(s.bola.handle.as_str())
    );
    let invoice = bola_invoice(&s).await;
    assert_eq!(invoice.status, "paid");
    assert_eq!(invoice.paid_via.as_deref(), Some("paystack"));
    assert_eq!(s.app.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(s.app.count("SELECT count(*) FROM paystack_events").await, 1);
    assert_eq!(
        s.app
            .count(
                "SELECT count(*) FROM payment_authorizations WHERE authorization_code = 'AUTH_new'"
            )
            .await,
        0,
        "the card is not kept: Bola did not ask to keep it"
    );

    // Every email of the lifecycle, once, to the right person, through Brevo
    // (the last, "ship it", from the sale's own workflow).
    let ship_by = ("ship_by".to_owned(), s.seller.email.clone());
    wait_until(|| async { sent_kinds(&s.app, &id).await.contains(&ship_by) }).await;
    let mut expected = vec![
        (
            "ship_by".to_owned(),
            s.seller.email.clone(),
            "sent".to_owned(),
        ),
        (
            "auction_lost".to_owned(),
            s.ada.email.clone(),
            "sent".to_owned(),
        ),
        ("outbid".to_owned(), s.ada.email.clone(), "sent".to_owned()),
        (
            "receipt".to_owned(),
            s.bola.email.clone(),
            "sent".to_owned(),
        ),
        (
            "sale_completed".to_owned(),
            s.seller.email.clone(),
            "sent".to_owned(),
        ),
        ("sold".to_owned(), s.seller.email.clone(), "sent".to_owned()),
        ("won".to_owned(), s.bola.email.clone(), "sent".to_owned()),
    ];
    expected.sort();
    sent_become(30, &expected, || emails(&s.app, &id)).await;
    let won: (String, String) =
        sqlx::query_as("SELECT text_body, message_id FROM emails WHERE kind = 'won'")
            .fetch_one(&s.app.db)
            .await
            .unwrap();
    // The button goes to the invoice on Gavel's own page, which pays
    // through Paystack; money reads as on the pages.
    assert!(
        won.0.contains("Pay now: http://gavel.test/me#invoice-"),
        "{}",
        won.0
    );
    assert!(!won.0.contains("checkout.paystack.com"), "{}", won.0);
    assert!(won.0.contains("₦15"), "{}", won.0);
    assert!(won.1.ends_with("@relay>"));
    assert_eq!(sale_emails_at_brevo(&s.brevo).await, 7);

    // Only the buyer, the seller and admins see the invoice.
    let invoice_path = format!("/api/v1/invoices/{}", invoice.id);
    expect_status(
        s.app.get(&invoice_path, Some(&s.seller.token)).await,
        StatusCode::OK,
    )
    .await;
    let response = s.app.get(&invoice_path, Some(&s.ada.token)).await;
    expect_error(response, StatusCode::NOT_FOUND, "invoice_not_found").await;
    let pay = s
        .app
        .post_json(
            &format!("{invoice_path}/pay"),
            &json!({}),
            Some(&s.bola.token),
        )
        .await;
    expect_error(pay, StatusCode::CONFLICT, "invoice_paid").await;
    record_history(&s.app.auction_handle(&id), "settlement_pay_link").await;
}

#[tokio::test]
async fn a_returning_winner_with_a_stored_card_is_charged_automatically() {
    let s = scene().await;
    store_bolas_card(&s).await;
    Mock::given(method("POST"))
        .and(path("/transaction/charge_authorization"))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            ResponseTemplate::new(200).set_body_json(json!({
                "status": true, "message": "Charge attempted",
                "data": { "id": 4_099_490_251_u64, "status": "success", "reference": body["reference"],
                          "amount": body["amount"], "currency": body["currency"],
                          "gateway_response": "Approved", "metadata": "",
                          "authorization": { "authorization_code": "AUTH_stored", "reusable": true,
                                             "signature": "SIG_card" } }
            }))
        })
        .expect(1)
        .mount(&s.paystack)
        .await;
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&s.paystack)
        .await;
    let id = won_by_bola(&s).await;
    s.app.wait_for_status(&id, "settled", 20).await;
    let charged: Vec<Value> = s
        .paystack
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/transaction/charge_authorization")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(charged.len(), 1);
    assert_eq!(charged[0]["authorization_code"], "AUTH_stored");
    assert_eq!(
        charged[0]["email"], "bola-card@example.com",
        "the email the card was first used with"
    );
    assert_eq!(charged[0]["amount"], 1_500);
    let invoice = bola_invoice(&s).await;
    assert_eq!(invoice.status, "paid");
    let kinds: Vec<String> = emails(&s.app, &id).await.into_iter().map(|e| e.0).collect();
    assert!(kinds.contains(&"receipt".to_owned()));
    assert!(
        !kinds.contains(&"won".to_owned()),
        "no pay link needed: {kinds:?}"
    );
    record_history(&s.app.auction_handle(&id), "settlement_stored_card").await;
}

#[tokio::test]
async fn paystack_errors_twice_then_answers_and_one_transaction_is_made() {
    let s = scene().await;
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&s.paystack)
        .await;
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .respond_with(checkout("https://checkout.paystack.com/retry"))
        .with_priority(2)
        .mount(&s.paystack)
        .await;
    let id = won_by_bola(&s).await;
    bola_pay_link(&s).await;
    let attempts = s.paystack.received_requests().await.unwrap();
    let references: Vec<Value> = attempts
        .iter()
        .filter(|r| r.url.path() == "/transaction/initialize")
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["reference"].clone())
        .collect();
    assert_eq!(references.len(), 3);
    assert!(
        references.iter().all(|r| *r == references[0]),
        "one reference, so one transaction"
    );

    // Verification meets the same trouble and gets through.
    let reference = invoice_reference(&s.app).await;
    Mock::given(method("GET"))
        .and(path(format!("/transaction/verify/{reference}")))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&s.paystack)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/transaction/verify/{reference}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(verified(&reference, 1_500)))
        .with_priority(2)
        .mount(&s.paystack)
        .await;
    let body = charge_success(&reference, 1_500);
    expect_status(
        post_webhook(&s.app, &body, Some(&sign(&body))).await,
        StatusCode::OK,
    )
    .await;
    s.app.wait_for_status(&id, "settled", 30).await;
    assert_eq!(s.app.count("SELECT count(*) FROM payments").await, 1);
    let verifies = s
        .paystack
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().starts_with("/transaction/verify/"))
        .count();
    assert_eq!(verifies, 3);
}

#[tokio::test]
async fn a_verified_payment_of_another_amount_does_not_pay_and_is_refunded() {
    let s = scene().await;
    let (id, reference) = awaiting_pay_link(&s, "https://checkout.paystack.com/m").await;
    Mock::given(method("GET"))
        .and(path_regex("^/transaction/verify/.*"))
        .respond_with(ResponseTemplate::new(200).set_body_json(verified(&reference, 999)))
        .mount(&s.paystack)
        .await;
    mount_refunds(&s.paystack).await;
    let body = charge_success(&reference, 999);
    expect_status(
        post_webhook(&s.app, &body, Some(&sign(&body))).await,
        StatusCode::OK,
    )
    .await;
    let problem = wait_for_problem(&s.app, &id).await;
    assert!(problem.contains("refunded 999"), "{problem}");
    record_history(&s.app.auction_handle(&id), "settlement_amount_mismatch").await;
    assert_eq!(bola_invoice(&s).await.status, "open");
    assert_eq!(s.app.auction(&id).await.status, "awaiting_payment");
    let ledger: Vec<(String, i64, Option<String>)> =
        sqlx::query_as("SELECT state, amount, refund_status FROM payments")
            .fetch_all(&s.app.db)
            .await
            .unwrap();
    assert_eq!(
        ledger,
        [("refunding".to_owned(), 999, Some("pending".to_owned()))]
    );
    let refunds: Vec<Value> = s
        .paystack
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/refund")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(
        refunds,
        [json!({ "transaction": reference })],
        "one full refund"
    );
    wait_until(|| async { emails(&s.app, &id).await.iter().any(|e| e.0 == "refund") }).await;
}

#[tokio::test]
async fn a_bad_paystack_key_is_a_failure_an_operator_can_read() {
    let s = scene().await;
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({ "status": false, "message": "Invalid key" })),
        )
        .expect(1)
        .mount(&s.paystack)
        .await;
    let id = won_by_bola(&s).await;
    let problem = wait_for_problem(&s.app, &id).await;
    assert!(problem.contains("payment"), "{problem}");

    let events = s
        .app
        .auction_handle(&id)
        .fetch_history(Default::default())
        .into_events()
        .await
        .unwrap();
    let failure = events
        .iter()
        .find_map(|e| match &e.attributes {
            Some(Attributes::ActivityTaskFailedEventAttributes(failed)) => failed.failure.clone(),
            _ => None,
        })
        .expect("a failed activity in the history");
    let text = format!("{failure:?}");
    assert!(text.contains("PaystackBadKey"), "{text}");
    assert!(text.contains("non_retryable: true"), "{text}");
    // Still payable offline; the invoice stays open.
    assert_eq!(bola_invoice(&s).await.status, "open");
}

#[tokio::test]
async fn a_payment_paystack_could_not_verify_is_checked_again_later() {
    let server = TimeSkippingServer::start();
    let paystack = MockServer::start().await;
    let mut settlement = settlement_args();
    settlement.paystack_secret_key = Some(SecretString::from(KEY));
    settlement.paystack_base_url = paystack.uri();
    let app = spawn_app_on(server.address, http_args(), settlement).await;
    app.add_search_attributes().await;
    app.lock_time().await;
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .respond_with(checkout("https://checkout.paystack.com/later"))
        .mount(&paystack)
        .await;
    let seller = app.user("seller").await;
    let bola = app.user("bidder").await;
    let mut body = auction_body(60);
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let id = app.create_auction(&seller, &body).await.id.to_string();
    app.bid_ok(&bola, &id, 1_500, None).await;
    app.skip_time(61).await;
    app.wait_for_status(&id, "awaiting_payment", 20).await;
    // The workflow made the pay link (and so used the reference).
    let reference = eventually(20, || async {
        let (reference, link): (String, Option<String>) =
            sqlx::query_as("SELECT reference, authorization_url FROM invoices")
                .fetch_one(&app.db)
                .await
                .map_err(|e| e.to_string())?;
        link.map(|_| reference)
            .ok_or_else(|| "no pay link yet".to_owned())
    })
    .await;

    // Paystack refuses the verification outright (say, a key rotated
    // mid-flight), then recovers.
    Mock::given(method("GET"))
        .and(path(format!("/transaction/verify/{reference}")))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({ "status": false, "message": "Invalid key" })),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&paystack)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/transaction/verify/{reference}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(verified(&reference, 1_500)))
        .with_priority(2)
        .mount(&paystack)
        .await;
    let body = charge_success(&reference, 1_500);
    expect_status(
        post_webhook(&app, &body, Some(&sign(&body))).await,
        StatusCode::OK,
    )
    .await;
    let problem = wait_for_problem(&app, &id).await;
    assert!(problem.contains("verify"), "{problem}");
    assert_eq!(app.auction(&id).await.status, "awaiting_payment");

    // Five minutes on, the kept notice is verified again.
    app.skip_time(301).await;
    app.wait_for_status(&id, "settled", 20).await;
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 1);
    record_history(&app.auction_handle(&id), "settlement_verify_again").await;
}

#[tokio::test]
async fn a_pending_card_charge_waits_for_paystack_instead_of_sending_a_pay_link() {
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
    let reference = invoice_reference(&s.app).await;
    wait_until(|| async { emails(&s.app, &id).await.iter().any(|e| e.0 == "won") }).await;
    let (text,): (String,) = sqlx::query_as("SELECT text_body FROM emails WHERE kind = 'won'")
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    assert!(text.contains("saved card is being charged"), "{text}");

    // Paystack finishes the charge and says so.
    mount_verified(&s.paystack, &reference, 1_500).await;
    let body = charge_success(&reference, 1_500);
    expect_status(
        post_webhook(&s.app, &body, Some(&sign(&body))).await,
        StatusCode::OK,
    )
    .await;
    s.app.wait_for_status(&id, "settled", 20).await;
    assert_eq!(s.app.count("SELECT count(*) FROM payments").await, 1);
    record_history(&s.app.auction_handle(&id), "settlement_card_pending").await;
}

#[tokio::test]
async fn an_email_brevo_refuses_is_visible_and_never_blocks_the_sale() {
    let s = scene().await;
    // Brevo refuses this sender outright (a permanent failure, not retried).
    s.brevo.reset().await;
    Mock::given(method("POST"))
        .and(path("/v3/smtp/email"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": "invalid_parameter", "message": "sender is not valid" })))
        .mount(&s.brevo)
        .await;
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .respond_with(checkout("https://checkout.paystack.com/mail"))
        .mount(&s.paystack)
        .await;
    let id = won_by_bola(&s).await;
    let problem = wait_for_problem(&s.app, &id).await;
    assert!(
        problem.contains("email") && problem.contains("BrevoRejected"),
        "{problem}"
    );
    // The email is on record, unsent; the sale goes on.
    let (status,): (String,) = sqlx::query_as("SELECT status FROM emails WHERE kind = 'won'")
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    assert_eq!(status, "pending");
    let admin = s.app.admin().await;
    let invoice = bola_invoice(&s).await;
    let response = s
        .app
        .post_json(
            &format!(
                "/api/v1/admin/invoices/{}/mark-paid",
                &invoice.id.to_string()
            ),
            &json!({}),
            Some(&admin.token),
        )
        .await;
    let paid: InvoiceResponse = expect_json(response, StatusCode::OK).await;
    assert_eq!(paid.status, "paid");
    s.app.wait_for_status(&id, "settled", 20).await;
    record_history(&s.app.auction_handle(&id), "settlement_failed_email").await;
}
