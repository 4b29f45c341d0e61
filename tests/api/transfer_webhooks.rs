//! Payout transfers as Paystack reports them: signed `transfer.*` webhooks
//! confirmed with Paystack (wiremock) move the transfer row and the sale's
//! payout, once; and an admin's OTP finalizes a transfer waiting in `otp`.

use gavel_api::routes::{payouts::PayoutTransferResponse, webhooks::WebhookAck};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_partial_json, method, path},
};

use crate::{
    helpers::{TestApp, auction_body, expect_error, expect_json},
    stand_ins::*,
};

const FIXTURE: &str = include_str!("../../activities/paystack/fixtures/transfer_success.json");
const REFERENCE: &str = "gvl-po-000042-lot-0007-a1";
const RECIPIENT: &str = "RCP_gd9vgag7n5lr5ix";
const CODE: &str = "TRF_v5tip3zx8nna9o78";
const AMOUNT: i64 = 237_500;

/// A paid sale whose payout is being sent: its transfer row (`status`) and
/// the payout's public number.
async fn seed_sale(s: &Scene, reference: &str, status: &str) -> (Uuid, i64) {
    let app = &s.app;
    let auction = app.create_auction(&s.seller, &auction_body(3_600)).await;
    let invoice_id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO invoices (id, auction_id, round, number, buyer_id, seller_id, currency, total,
             line_items, status, reference, due_at, paid_at)
         VALUES ($1, $2, 1, $3, $4::uuid, $5::uuid, 'NGN', 300000, '[]', 'paid', $6, now(), now())",
    )
    .bind(invoice_id)
    .bind(auction.id)
    .bind(format!("GV-T{}", &invoice_id.simple().to_string()[..8]))
    .bind(&s.bola.id)
    .bind(&s.seller.id)
    .bind(format!("gavel-{}", invoice_id.simple()))
    .execute(&app.db)
    .await
    .unwrap();
    let payout_id: i64 = sqlx::query_scalar(
        "INSERT INTO sales (invoice_id, auction_id, seller_id, buyer_id, currency, hammer,
             commission_bps, commission_min, stage, ship_by, payout_state, refunded, commission,
             payout, attempts)
         VALUES ($1, $2, $3::uuid, $4::uuid, 'NGN', 300000, 1000, 0, 'closed', now(), $5, 0,
                 30000, $6, 1)
         RETURNING payout_id",
    )
    .bind(invoice_id)
    .bind(auction.id)
    .bind(&s.seller.id)
    .bind(&s.bola.id)
    .bind(if status == "otp" { "otp" } else { "sending" })
    .bind(AMOUNT)
    .fetch_one(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO payout_transfers (reference, invoice_id, attempt, amount, currency,
             recipient_code, transfer_code, status)
         VALUES ($1, $2, 1, $3, 'NGN', $4, $5, $6)",
    )
    .bind(reference)
    .bind(invoice_id)
    .bind(AMOUNT)
    .bind(RECIPIENT)
    .bind(CODE)
    .bind(status)
    .execute(&app.db)
    .await
    .unwrap();
    (invoice_id, payout_id)
}

/// Paystack's transfer as `GET /transfer/verify` answers it.
fn verified_transfer(status: &str, amount: i64) -> Value {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    let mut data = fixture["data"].clone();
    data["status"] = json!(status);
    data["amount"] = json!(amount);
    data["fee_charged"] = json!(if status == "success" { 2_500 } else { 0 });
    json!({ "status": true, "message": "Transfer retrieved", "data": data })
}

async fn mount_verify(paystack: &MockServer, reference: &str, status: &str, amount: i64) {
    paystack.reset().await;
    Mock::given(method("GET"))
        .and(path(format!("/transfer/verify/{reference}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(verified_transfer(status, amount)))
        .mount(paystack)
        .await;
}

/// The fixture's event, as `event` with `status`, for `reference`.
fn transfer_event(event: &str, status: &str, reference: &str) -> Vec<u8> {
    let mut body: Value = serde_json::from_str(FIXTURE).unwrap();
    body["event"] = json!(event);
    body["data"]["status"] = json!(status);
    body["data"]["reference"] = json!(reference);
    serde_json::to_vec(&body).unwrap()
}

async fn deliver(app: &TestApp, body: &[u8]) -> String {
    let ack: WebhookAck = expect_json(
        post_webhook(app, body, Some(&sign(body))).await,
        StatusCode::OK,
    )
    .await;
    ack.status.into_owned()
}

async fn states(app: &TestApp, reference: &str) -> (String, String, Option<i64>) {
    sqlx::query_as(
        "SELECT t.status, s.payout_state, t.fee FROM payout_transfers t
           JOIN sales s ON s.invoice_id = t.invoice_id WHERE t.reference = $1",
    )
    .bind(reference)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn transfer_events_confirmed_with_paystack_move_the_payout_once() {
    let s = scene().await;
    let (_, _) = seed_sale(&s, REFERENCE, "pending").await;

    // The event says success; Paystack's verify is what counts.
    mount_verify(&s.paystack, REFERENCE, "success", AMOUNT).await;
    let success = FIXTURE.as_bytes();
    assert_eq!(deliver(&s.app, success).await, "stored");
    assert_eq!(
        states(&s.app, REFERENCE).await,
        ("success".into(), "paid".into(), Some(2_500))
    );
    // A redelivery changes nothing (even if Paystack said otherwise now).
    mount_verify(&s.paystack, REFERENCE, "failed", AMOUNT).await;
    assert_eq!(deliver(&s.app, success).await, "duplicate");
    assert_eq!(
        states(&s.app, REFERENCE).await,
        ("success".into(), "paid".into(), Some(2_500))
    );

    // Reversed after success: the payout is open again for another attempt.
    mount_verify(&s.paystack, REFERENCE, "reversed", AMOUNT).await;
    let reversed = transfer_event("transfer.reversed", "reversed", REFERENCE);
    assert_eq!(deliver(&s.app, &reversed).await, "stored");
    let (status, payout, _) = states(&s.app, REFERENCE).await;
    assert_eq!(
        (status.as_str(), payout.as_str()),
        ("reversed", "scheduled")
    );
    assert_eq!(
        s.app
            .count("SELECT count(*) FROM paystack_events WHERE event LIKE 'transfer.%'")
            .await,
        2
    );
}

#[tokio::test]
async fn a_failed_transfer_reschedules_and_a_mismatch_or_unknown_reference_records_nothing() {
    let s = scene().await;
    let failing = "gvl-po-000043-lot-0008-a1";
    seed_sale(&s, failing, "pending").await;
    mount_verify(&s.paystack, failing, "failed", AMOUNT).await;
    let failed = transfer_event("transfer.failed", "failed", failing);
    assert_eq!(deliver(&s.app, &failed).await, "stored");
    let (status, payout, _) = states(&s.app, failing).await;
    assert_eq!((status.as_str(), payout.as_str()), ("failed", "scheduled"));

    // Paystack's transfer is of another amount: loudly not recorded.
    let odd = "gvl-po-000044-lot-0009-a1";
    seed_sale(&s, odd, "pending").await;
    mount_verify(&s.paystack, odd, "success", AMOUNT + 1).await;
    let body = transfer_event("transfer.success", "success", odd);
    assert_eq!(deliver(&s.app, &body).await, "stored");
    let (status, payout, _) = states(&s.app, odd).await;
    assert_eq!((status.as_str(), payout.as_str()), ("pending", "sending"));

    // No transfer of ours: stored only, 200.
    let body = transfer_event("transfer.success", "success", "gvl-po-nobody-a1");
    let mut value: Value = serde_json::from_slice(&body).unwrap();
    value["data"]["transfer_code"] = json!("TRF_nobody");
    let body = serde_json::to_vec(&value).unwrap();
    assert_eq!(deliver(&s.app, &body).await, "stored");
    assert_eq!(
        s.app
            .count("SELECT count(*) FROM paystack_events WHERE reference = 'gvl-po-nobody-a1'")
            .await,
        1
    );
}

#[tokio::test]
async fn an_admin_finalizes_a_transfer_waiting_for_an_otp() {
    let s = scene().await;
    let admin = s.app.admin().await;
    let (_, payout_id) = seed_sale(&s, REFERENCE, "otp").await;
    let finalize = |id: i64, otp: &str, token: &str| {
        let body = json!({ "otp": otp });
        let token = token.to_owned();
        let app = &s.app;
        async move {
            app.post_json(
                &format!("/api/v1/admin/payouts/{id}/finalize"),
                &body,
                Some(&token),
            )
            .await
        }
    };

    expect_error(
        finalize(payout_id, "123456", &s.seller.token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        finalize(payout_id + 1_000, "123456", &admin.token).await,
        StatusCode::NOT_FOUND,
        "payout_not_found",
    )
    .await;
    for bad in ["12a456", "123", "123456789"] {
        expect_error(
            finalize(payout_id, bad, &admin.token).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_otp",
        )
        .await;
    }

    // A wrong OTP: Paystack refuses and fails the transfer; the row says so.
    Mock::given(method("POST"))
        .and(path("/transfer/finalize_transfer"))
        .and(body_partial_json(
            json!({ "transfer_code": CODE, "otp": "999999" }),
        ))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({ "status": false, "message": "Invalid OTP provided" })),
        )
        .mount(&s.paystack)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/transfer/verify/{REFERENCE}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(verified_transfer("failed", AMOUNT)))
        .mount(&s.paystack)
        .await;
    expect_error(
        finalize(payout_id, "999999", &admin.token).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "otp_refused",
    )
    .await;
    let (status, payout, _) = states(&s.app, REFERENCE).await;
    assert_eq!((status.as_str(), payout.as_str()), ("failed", "scheduled"));
    expect_error(
        finalize(payout_id, "123456", &admin.token).await,
        StatusCode::CONFLICT,
        "not_awaiting_otp",
    )
    .await;

    // The right OTP on a second payout: Paystack queues it (pending).
    let second = "gvl-po-000045-lot-0010-a1";
    let (_, second_id) = seed_sale(&s, second, "otp").await;
    sqlx::query("UPDATE payout_transfers SET transfer_code = 'TRF_second' WHERE reference = $1")
        .bind(second)
        .execute(&s.app.db)
        .await
        .unwrap();
    s.paystack.reset().await;
    Mock::given(method("POST"))
        .and(path("/transfer/finalize_transfer"))
        .and(body_partial_json(
            json!({ "transfer_code": "TRF_second", "otp": "123456" }),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": true, "message": "Transfer has been queued",
            "data": { "reference": second, "amount": AMOUNT, "currency": "NGN",
                      "status": "pending", "transfer_code": "TRF_second", "recipient": 56_824_902 }
        })))
        .expect(1)
        .mount(&s.paystack)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/transfer/verify/{second}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(verified_transfer("pending", AMOUNT)),
        )
        .mount(&s.paystack)
        .await;
    let done: PayoutTransferResponse = expect_json(
        finalize(second_id, "123456", &admin.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done.payout_id, second_id);
    assert_eq!(done.transfer_status, "pending");
    assert_eq!(done.payout_state, "sending");
    assert_eq!(done.reference, second);
}

/// A dispute holds the payout (the sale is nudged); its resolution ends it
/// and records what Paystack gave back as a processed refund, once.
#[tokio::test]
async fn a_resolved_dispute_records_what_went_back_once() {
    let s = scene().await;
    let (invoice_id, _) = seed_sale(&s, REFERENCE, "pending").await;
    let reference = format!("gavel-{}", invoice_id.simple());
    sqlx::query("INSERT INTO invoice_references (reference, invoice_id) VALUES ($1, $2)")
        .bind(&reference)
        .bind(invoice_id)
        .execute(&s.app.db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO payments (invoice_id, reference, amount, currency, channel)
         VALUES ($1, $2, 300000, 'NGN', 'paystack')",
    )
    .bind(invoice_id)
    .bind(&reference)
    .execute(&s.app.db)
    .await
    .unwrap();
    let event = |name: &str, refund_amount: i64| {
        serde_json::to_vec(&json!({
            "event": name,
            "data": { "id": 358_950, "refund_amount": refund_amount, "currency": "NGN",
                      "status": if name.ends_with("create") { "awaiting-merchant-feedback" } else { "resolved" },
                      "resolution": "merchant-accepted",
                      "transaction": { "id": 4_099_260_516_u64, "reference": reference,
                                       "amount": 300_000, "status": "success" } }
        }))
        .unwrap()
    };
    assert_eq!(
        deliver(&s.app, &event("charge.dispute.create", 0)).await,
        "stored"
    );
    let open: i64 = s
        .app
        .count("SELECT count(*) FROM invoices WHERE disputed_at IS NOT NULL AND dispute_resolved_at IS NULL")
        .await;
    assert_eq!(open, 1);

    let resolve = event("charge.dispute.resolve", 50_000);
    assert_eq!(deliver(&s.app, &resolve).await, "stored");
    assert_eq!(deliver(&s.app, &resolve).await, "duplicate");
    assert_eq!(
        s.app
            .count("SELECT count(*) FROM invoices WHERE dispute_resolved_at IS NOT NULL")
            .await,
        1
    );
    let refunds: Vec<(i64, String, String, Option<String>)> =
        sqlx::query_as("SELECT amount, state, reason, idempotency_key FROM refunds")
            .fetch_all(&s.app.db)
            .await
            .unwrap();
    assert_eq!(
        refunds,
        vec![(
            50_000,
            "processed".into(),
            "dispute".into(),
            Some("dispute-358950".into())
        )]
    );
    let (state,): (String,) = sqlx::query_as("SELECT state FROM payments")
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    assert_eq!(state, "partly_refunded");
}
