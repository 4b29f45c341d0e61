//! A sale's journey after payment, end to end (issue 22): shipping,
//! receipt, claims and the seller's payout by Paystack transfer, on the
//! time-skipping server with wiremock Paystack (the killed worker's test on
//! a real server, whose clock it cannot move). Every test ends with the
//! reconciliation and the emails the journey sent.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    helpers::{
        FakeTransfers, TestApp, TestUser, auction_body, eventually, record_history, sent_kinds,
    },
    money::mount_checkouts,
    stand_ins::*,
};

/// What the buyer pays: the hammer price (no premium).
const HAMMER: i64 = 100_000;

/// A paid sale on the time-skipping server: Bola won the seller's lot at
/// [`HAMMER`] and paid by a signed `charge.success`; the sale's workflow
/// runs.
struct Sale {
    s: Scene,
    /// The `gavel worker` process, when the test runs one (and kills it).
    worker: Option<crate::helpers::WorkerProcess>,
    transfers: FakeTransfers,
    auction: String,
    invoice: Uuid,
    /// The payment's Paystack reference.
    reference: String,
}

impl Sale {
    fn app(&self) -> &TestApp {
        &self.s.app
    }

    fn seller(&self) -> &TestUser {
        &self.s.seller
    }

    fn buyer(&self) -> &TestUser {
        &self.s.bola
    }

    fn sale_workflow(
        &self,
    ) -> temporalio_client::WorkflowHandle<
        temporalio_client::Client,
        gavel_workflows::sale::SaleWorkflow,
    > {
        self.app()
            .temporal
            .get_workflow_handle::<gavel_workflows::sale::SaleWorkflow>(
                gavel_workflows::sale::sale_workflow_id(self.invoice),
            )
    }

    /// The sale's row: (stage, payout_state, held_reason, refunded, commission, payout, attempts).
    async fn row(&self) -> SaleRow {
        sqlx::query_as(
            "SELECT stage, payout_state, held_reason, refunded, commission, payout, attempts
               FROM sales WHERE invoice_id = $1",
        )
        .bind(self.invoice)
        .fetch_one(&self.app().db)
        .await
        .unwrap()
    }

    /// Waits until the payout is in `state`; returns the row.
    async fn payout(&self, state: &str) -> SaleRow {
        eventually(30, || async {
            let row = self.row().await;
            if row.1 == state {
                Ok(row)
            } else {
                Err(format!("payout not {state}: {row:?}"))
            }
        })
        .await
    }

    /// Waits until the journey sent `kind` to `to`.
    async fn sent(&self, kind: &str, to: &TestUser) {
        let wanted = (kind.to_owned(), to.email.clone());
        eventually(30, || async {
            let sent = sent_kinds(self.app(), &self.auction).await;
            if sent.contains(&wanted) {
                Ok(())
            } else {
                Err(format!("no {kind} to {}: {sent:?}", to.email))
            }
        })
        .await;
    }

    /// How many emails of `kind` went to `to`.
    async fn count_sent(&self, kind: &str, to: &TestUser) -> usize {
        sent_kinds(self.app(), &self.auction)
            .await
            .iter()
            .filter(|(k, e)| k == kind && *e == to.email)
            .count()
    }

    /// The sale emails: each of `kinds` once to its recipient.
    async fn sent_once(&self, kinds: &[(&str, &TestUser)]) {
        for (kind, to) in kinds {
            self.sent(kind, to).await;
            assert_eq!(self.count_sent(kind, to).await, 1, "{kind} to {}", to.email);
        }
    }

    /// The seller's statement (`GET /me/payouts`) of this sale adds up:
    /// hammer − refunds − commission = payout, as fixed; returns
    /// (refunds, commission, payout).
    async fn statement(&self) -> (i64, i64, i64) {
        let list: gavel_api::routes::sales::SaleList = crate::helpers::expect_json(
            self.app()
                .get("/api/v1/me/payouts", Some(&self.seller().token))
                .await,
            StatusCode::OK,
        )
        .await;
        let sale = list
            .items
            .into_iter()
            .find(|s| s.invoice_id == self.invoice)
            .expect("the sale on the seller's statement");
        let payout = sale.payout.expect("the seller sees the money");
        assert!(payout.fixed, "{payout:?}");
        assert_eq!(payout.hammer, HAMMER);
        assert_eq!(
            payout.hammer - payout.refunds - payout.commission,
            payout.payout,
            "{payout:?}"
        );
        (payout.refunds, payout.commission, payout.payout)
    }

    /// The books balance: no discrepancy anywhere; and no task of the
    /// sale's workflow failed on the way (the harness checks auctions only).
    async fn reconciled(&self) {
        use temporalio_common::protos::temporal::api::enums::v1::EventType;
        let found = gavel_store::sales::reconcile(&self.app().db).await.unwrap();
        assert!(found.is_empty(), "{found:?}");
        let events = self
            .sale_workflow()
            .fetch_history(Default::default())
            .into_events()
            .await
            .unwrap();
        let failed = events
            .iter()
            .find(|e| e.event_type() == EventType::WorkflowTaskFailed);
        assert!(failed.is_none(), "{failed:?}");
    }

    /// Waits until the sale's workflow is asleep (its last event is
    /// `TimerStarted`, or a completed task with nothing scheduled): only
    /// then may time be skipped past its timer, and only then is a person's
    /// next step sure to wake it (a nudge that arrives while it is between
    /// reading the row and starting its wait is lost: see the report).
    async fn idle(&self) {
        use temporalio_common::protos::temporal::api::enums::v1::EventType;
        let handle = self.sale_workflow();
        eventually(30, || async {
            let events = handle
                .fetch_history(Default::default())
                .into_events()
                .await
                .map_err(|e| e.to_string())?;
            match events.last().map(|e| e.event_type()) {
                Some(EventType::TimerStarted | EventType::WorkflowTaskCompleted) => Ok(()),
                other => Err(format!("the sale's workflow is busy: {other:?}")),
            }
        })
        .await;
    }

    /// What the workflow says it waits for (its `money` query; an error
    /// while a worker that died still holds the workflow).
    async fn waiting_for(&self) -> Result<String, String> {
        self.sale_workflow()
            .query(
                gavel_workflows::sale::SaleWorkflow::money,
                (),
                Default::default(),
            )
            .await
            .map(|money| money.waiting_for)
            .map_err(|e| e.to_string())
    }

    /// Waits until the workflow waits for `what`, asleep on its timer.
    async fn waits_for(&self, what: &str) {
        eventually(30, || async {
            let waiting = self.waiting_for().await?;
            if waiting.contains(what) {
                Ok(())
            } else {
                Err(format!("waiting for {waiting:?}, not {what:?}"))
            }
        })
        .await;
        self.idle().await;
    }

    /// Ships, then the buyer confirms receipt; returns when claims are open
    /// and the workflow sleeps until they close.
    async fn delivered(&self) {
        steps::ship(self.app(), self.seller(), self.invoice).await;
        self.sent("lot_shipped", self.buyer()).await;
        self.idle().await;
        steps::receive(self.app(), self.buyer(), self.invoice).await;
        self.sent("lot_received", self.seller()).await;
        self.idle().await;
    }

    /// The transfer row of `attempt` reaches `status`.
    async fn transfer_is(&self, attempt: u32, status: &str) {
        let reference = self.reference_of(attempt);
        eventually(30, || async {
            let rows = self.transfer_rows().await;
            if rows.iter().any(|r| r.0 == reference && r.3 == status) {
                Ok(())
            } else {
                Err(format!("{reference} not {status}: {rows:?}"))
            }
        })
        .await;
    }

    /// Lets `secs` of workflow time pass, then a moment of real time.
    async fn skip(&self, secs: i64) {
        skip_and_settle(self.app(), secs).await;
    }

    fn reference_of(&self, attempt: u32) -> String {
        gavel_workflows::contract::sale::transfer_reference(self.invoice, attempt)
    }

    /// The transfers' rows: (reference, attempt, amount, status).
    async fn transfer_rows(&self) -> Vec<(String, i32, i64, String)> {
        sqlx::query_as(
            "SELECT reference, attempt, amount, status FROM payout_transfers
              WHERE invoice_id = $1 ORDER BY attempt",
        )
        .bind(self.invoice)
        .fetch_all(&self.app().db)
        .await
        .unwrap()
    }

    /// `POST /transfer` bodies per reference: exactly one transfer created
    /// per reference, whatever was retried.
    fn posted_references(&self) -> Vec<String> {
        self.transfers
            .posts()
            .iter()
            .map(|p| p["reference"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

type SaleRow = (
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i32,
);

/// How a test's workflows see time pass.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Clock {
    /// The time-skipping server's, locked: only the test moves it.
    Skipped,
    /// A real server's: timers fire as time passes.
    Real,
}

/// On the real clock, claims close this long after receipt (the payout
/// starts then).
const REAL_CLAIM_WINDOW_SECS: u64 = 2;

/// Bola wins the seller's lot at [`HAMMER`] over Ada and pays it; returns
/// once the sale's workflow has recorded the sale and told the seller to
/// ship it.
async fn paid_sale() -> Sale {
    paid_sale_in(skipping_paystack_scene().await, None, Clock::Skipped).await
}

/// [`paid_sale`] on the shared dev server (the real clock), with the
/// workers in a `gavel worker` process of their own that the test kills: a
/// real server hands the workflow tasks a dead worker's sticky queue holds
/// to another worker within seconds, which the time-skipping server never
/// does. Claims close [`REAL_CLAIM_WINDOW_SECS`] after receipt.
async fn paid_sale_with_worker_process() -> Sale {
    let paystack = wiremock::MockServer::start().await;
    let brevo = gavel_testkit::mail::brevo().await;
    let settlement = real_clock_settlement(&paystack, &brevo);
    let app =
        crate::helpers::spawn_api_only(crate::helpers::shared_temporal(), settlement.clone()).await;
    let worker = crate::helpers::WorkerProcess::spawn(&app, &settlement);
    let s = Scene {
        seller: app.user("seller").await,
        ada: app.user("bidder").await,
        bola: app.user("bidder").await,
        app,
        paystack,
        brevo,
        _server: None,
    };
    paid_sale_in(s, Some(worker), Clock::Real).await
}

/// Settlement with the stand-ins and a short claim window (the journey's
/// other windows never pass: the seller ships and the buyer confirms).
fn real_clock_settlement(
    paystack: &wiremock::MockServer,
    brevo: &wiremock::MockServer,
) -> gavel::config::SettlementArgs {
    let settlement = gavel::config::SettlementArgs {
        claim_window_secs: REAL_CLAIM_WINDOW_SECS,
        ..crate::helpers::settlement_args()
    };
    gavel_testkit::paystack::wired(settlement, paystack, brevo)
}

async fn paid_sale_in(
    s: Scene,
    worker: Option<crate::helpers::WorkerProcess>,
    clock: Clock,
) -> Sale {
    mount_checkouts(&s.paystack, 2).await;
    let transfers = FakeTransfers::mount(&s.paystack, 10_000_000).await;
    // On the real clock the auction lasts just long enough for two bids.
    let secs = match clock {
        Clock::Skipped => 60,
        Clock::Real => 8,
    };
    let mut body = auction_body(secs);
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let auction = s.app.create_auction(&s.seller, &body).await.id.to_string();
    s.app.bid_ok(&s.ada, &auction, 1_000, None).await;
    s.app.bid_ok(&s.bola, &auction, HAMMER, None).await;
    if clock == Clock::Skipped {
        s.app.skip_time(secs + 1).await;
    }
    s.app
        .wait_for_status(&auction, "awaiting_payment", 20 + secs.unsigned_abs())
        .await;
    let (invoice, reference, total): (Uuid, String, i64) = eventually(30, || async {
        let row: Option<(Uuid, String, i64, Option<String>)> = sqlx::query_as(
            "SELECT id, reference, total, authorization_url FROM invoices WHERE round = 1",
        )
        .fetch_optional(&s.app.db)
        .await
        .map_err(|e| e.to_string())?;
        match row {
            Some((id, reference, total, Some(_))) => Ok((id, reference, total)),
            other => Err(format!("no pay link yet: {other:?}")),
        }
    })
    .await;
    assert_eq!(total, HAMMER);
    mount_verified(&s.paystack, &reference, HAMMER).await;
    let event = charge_success(&reference, HAMMER);
    let response = post_webhook(&s.app, &event, Some(&sign(&event))).await;
    assert_eq!(response.status(), StatusCode::OK);
    eventually(30, || async {
        let (status,): (String,) = sqlx::query_as("SELECT status FROM invoices WHERE id = $1")
            .bind(invoice)
            .fetch_one(&s.app.db)
            .await
            .map_err(|e| e.to_string())?;
        let events = s.app.count("SELECT count(*) FROM paystack_events").await;
        let payments = s.app.count("SELECT count(*) FROM payments").await;
        let sales = s.app.count("SELECT count(*) FROM sales").await;
        if sales == 1 {
            Ok(())
        } else {
            Err(format!(
                "invoice {status}, {events} events, {payments} payments, {sales} sales"
            ))
        }
    })
    .await;
    s.app.wait_for_status(&auction, "settled", 30).await;
    let sale = Sale {
        s,
        worker,
        transfers,
        auction,
        invoice,
        reference,
    };
    sale.sent("ship_by", sale.seller()).await;
    sale
}

/// The seller's confirmed payout account, as `PUT`/confirm would leave it.
async fn seed_payout_account(app: &TestApp, user: &TestUser) {
    sqlx::query(
        "INSERT INTO payout_accounts (user_id, state, currency, bank_code, bank_name,
                                      account_number, account_name, recipient_code)
         VALUES ($1::uuid, 'confirmed', 'NGN', '058', 'GTBank', '0001234567', 'ADA SELLER',
                 'RCP_test1')",
    )
    .bind(&user.id)
    .execute(&app.db)
    .await
    .unwrap();
}

/// The people's (and Paystack's) steps of a journey, over HTTP.
mod steps {
    use super::*;

    /// A step that must succeed; its JSON answer.
    async fn done(response: reqwest::Response) -> Value {
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn ship(app: &TestApp, seller: &TestUser, invoice: Uuid) {
        let body = json!({ "carrier": "GIG Logistics", "tracking": "GIG123456" });
        let path = format!("/api/v1/invoices/{invoice}/shipped");
        done(app.post_json(&path, &body, Some(&seller.token)).await).await;
    }

    pub async fn receive(app: &TestApp, buyer: &TestUser, invoice: Uuid) {
        let path = format!("/api/v1/invoices/{invoice}/received");
        done(app.post_json(&path, &json!({}), Some(&buyer.token)).await).await;
    }

    /// Opens a claim; returns its id.
    pub async fn claim(
        app: &TestApp,
        buyer: &TestUser,
        invoice: Uuid,
        reason: &str,
        amount: Option<i64>,
    ) -> i64 {
        let path = format!("/api/v1/invoices/{invoice}/claims");
        let body = json!({ "reason": reason, "amount": amount });
        let claim = done(app.post_json(&path, &body, Some(&buyer.token)).await).await;
        claim["id"].as_i64().unwrap()
    }

    /// The seller accepts, giving back `refund`, or contests (`None`).
    pub async fn answer(app: &TestApp, seller: &TestUser, claim: i64, refund: Option<i64>) {
        let path = format!("/api/v1/claims/{claim}/answer");
        let body = json!({ "accept": refund.is_some(), "refund_amount": refund });
        done(app.post_json(&path, &body, Some(&seller.token)).await).await;
    }

    /// An admin decides the claim: `refund` goes back.
    pub async fn decide(app: &TestApp, admin: &TestUser, claim: i64, refund: i64) {
        let path = format!("/api/v1/admin/claims/{claim}/decide");
        let body = json!({ "refund_amount": refund });
        done(app.post_json(&path, &body, Some(&admin.token)).await).await;
    }

    /// Posts a signed Paystack event.
    pub async fn signed(app: &TestApp, event: &Value) {
        let bytes = serde_json::to_vec(event).unwrap();
        let response = post_webhook(app, &bytes, Some(&sign(&bytes))).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    /// Paystack says the payout's first transfer `reference` succeeded
    /// (`transfer.success`; the API verifies it and nudges the sale).
    pub async fn transfer_succeeded(app: &TestApp, reference: &str) {
        let payout = HAMMER - HAMMER / 10;
        signed(
            app,
            &json!({ "event": "transfer.success", "data": {
                "reference": reference, "amount": payout, "currency": "NGN", "status": "success",
                "transfer_code": "TRF_1", "recipient": { "recipient_code": "RCP_test1" } } }),
        )
        .await;
    }

    /// Paystack resolves the dispute (`charge.dispute.resolve`), which marks
    /// the invoice and nudges the sale.
    pub async fn dispute_resolved(app: &TestApp, invoice: Uuid, event: &Value) {
        signed(app, event).await;
        let (at,): (Option<chrono::DateTime<chrono::Utc>>,) =
            sqlx::query_as("SELECT dispute_resolved_at FROM invoices WHERE id = $1")
                .bind(invoice)
                .fetch_one(&app.db)
                .await
                .unwrap();
        assert!(at.is_some(), "the invoice's dispute is resolved");
    }

    /// The seller adds a payout account and confirms it (Paystack lists the
    /// bank, resolves the account's name and makes the recipient, whose
    /// code the transfer stand-in knows); the confirmation nudges the sale.
    pub async fn add_payout_account(
        app: &TestApp,
        paystack: &wiremock::MockServer,
        seller: &TestUser,
    ) {
        use wiremock::{
            Mock, ResponseTemplate,
            matchers::{method, path},
        };
        Mock::given(method("GET"))
            .and(path("/bank"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "status": true, "message": "Banks retrieved",
                "data": [{ "name": "Guaranty Trust Bank", "slug": "guaranty-trust-bank",
                           "code": "058", "longcode": "", "gateway": null,
                           "pay_with_bank": false, "active": true, "is_deleted": null,
                           "country": "Nigeria", "currency": "NGN", "type": "nuban", "id": 9 }],
                "meta": { "next": null, "previous": null, "perPage": 100 }
            })))
            .mount(paystack)
            .await;
        Mock::given(method("GET"))
            .and(path("/bank/resolve"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "status": true, "message": "Account number resolved",
                "data": { "account_number": "0001234567", "account_name": "ADA SELLER",
                          "bank_id": 9 }
            })))
            .mount(paystack)
            .await;
        Mock::given(method("POST"))
            .and(path("/transferrecipient"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "status": true, "message": "Transfer recipient created successfully",
                "data": { "active": true, "currency": "NGN", "domain": "test", "id": 87_654_321,
                          "name": "ADA SELLER", "recipient_code": "RCP_test1", "type": "nuban",
                          "details": { "account_number": "0001234567", "account_name": null,
                                       "bank_code": "058", "bank_name": "Guaranty Trust Bank" } }
            })))
            .mount(paystack)
            .await;
        let body = json!({ "currency": "NGN", "bank_code": "058", "account_number": "0001234567" });
        let put = app
            .request(
                reqwest::Method::PUT,
                "/api/v1/me/payout-account",
                Some(&seller.token),
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        done(put).await;
        let confirm = app
            .post_json(
                "/api/v1/me/payout-account/confirm",
                &json!({}),
                Some(&seller.token),
            )
            .await;
        done(confirm).await;
    }

    /// An admin sends the OTP Paystack asked for.
    pub async fn finalize(app: &TestApp, admin: &TestUser, payout_id: i64, otp: &str) {
        let path = format!("/api/v1/admin/payouts/{payout_id}/finalize");
        let response = app
            .post_json(&path, &json!({ "otp": otp }), Some(&admin.token))
            .await;
        done(response).await;
    }
}

#[tokio::test]
async fn a_shipped_and_received_lot_pays_the_seller_the_hammer_less_commission() {
    let sale = paid_sale().await;
    let app = sale.app();
    seed_payout_account(app, sale.seller()).await;
    let row = sale.row().await;
    assert_eq!(
        (row.0.as_str(), row.1.as_str()),
        ("awaiting_shipment", "held")
    );
    assert_eq!(row.2.as_deref(), Some("journey"));

    sale.idle().await;
    steps::ship(app, sale.seller(), sale.invoice).await;
    sale.sent("lot_shipped", sale.buyer()).await;
    sale.idle().await;
    steps::receive(app, sale.buyer(), sale.invoice).await;
    sale.sent("lot_received", sale.seller()).await;
    assert_eq!(sale.row().await.1, "held", "claims are open");
    assert!(sale.transfers.posts().is_empty());

    // The claim window (3 days) passes: the seller is paid.
    sale.idle().await;
    sale.skip(3 * 86_400 + 1).await;
    let row = sale.payout("paid").await;
    let commission = HAMMER / 10;
    assert_eq!(
        row,
        (
            "closed".to_owned(),
            "paid".to_owned(),
            None,
            Some(0),
            Some(commission),
            Some(HAMMER - commission),
            1
        )
    );
    assert_eq!(row.4.unwrap() + row.5.unwrap() + row.3.unwrap(), HAMMER);
    assert_eq!(sale.statement().await, (0, commission, HAMMER - commission));
    let reference = sale.reference_of(1);
    assert_eq!(
        reference,
        format!("gvl-po-{}-a1", sale.invoice.simple()),
        "derived from the invoice and the attempt"
    );
    let posts = sale.transfers.posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["reference"], reference.as_str());
    assert_eq!(posts[0]["amount"], HAMMER - commission);
    assert_eq!(posts[0]["recipient"], "RCP_test1");
    assert_eq!(posts[0]["currency"], "NGN");
    assert_eq!(
        sale.transfer_rows().await,
        [(reference, 1, HAMMER - commission, "success".to_owned())]
    );

    sale.sent_once(&[
        ("ship_by", sale.seller()),
        ("lot_shipped", sale.buyer()),
        ("lot_received", sale.seller()),
        ("payout_sent", sale.seller()),
    ])
    .await;
    sale.reconciled().await;
    record_history(&sale.sale_workflow(), "sale_paid_out").await;
}

#[tokio::test]
async fn a_lot_never_shipped_is_refunded_in_full_and_the_seller_struck() {
    let sale = paid_sale().await;
    let app = sale.app();
    seed_payout_account(app, sale.seller()).await;
    // A minute before the 3-day window ends, nothing happens.
    sale.idle().await;
    sale.skip(3 * 86_400 - 60).await;
    assert_eq!(sale.row().await.0, "awaiting_shipment");
    sale.skip(61).await;
    let row = sale.payout("cancelled").await;
    assert_eq!(row.0, "cancelled_unshipped");
    assert_eq!((row.3, row.4, row.5), (Some(HAMMER), Some(0), Some(0)));
    let (status,): (String,) = sqlx::query_as("SELECT status FROM invoices WHERE id = $1")
        .bind(sale.invoice)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "cancelled_unshipped");
    let strikes: Vec<(Uuid,)> =
        sqlx::query_as("SELECT user_id FROM seller_strikes WHERE invoice_id = $1")
            .bind(sale.invoice)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(strikes, [(sale.seller().id.parse().unwrap(),)]);
    // The whole payment is asked back of Paystack, once.
    let refunds = eventually(30, || async {
        let asked = sale.transfers.refunds();
        let (state,): (String,) = sqlx::query_as("SELECT state FROM refunds")
            .fetch_one(&app.db)
            .await
            .map_err(|e| e.to_string())?;
        if asked.len() == 1 && state == "processed" {
            Ok(asked)
        } else {
            Err(format!("refund {state}, asked {asked:?}"))
        }
    })
    .await;
    assert_eq!(refunds[0]["transaction"], sale.reference.as_str());
    assert!(refunds[0].get("amount").is_none(), "the whole payment");
    assert!(sale.transfers.posts().is_empty(), "no payout");
    sale.sent_once(&[
        ("ship_by", sale.seller()),
        ("not_shipped", sale.buyer()),
        ("not_shipped", sale.seller()),
        ("refund", sale.buyer()),
    ])
    .await;
    sale.reconciled().await;
    record_history(&sale.sale_workflow(), "sale_never_shipped").await;
}

#[tokio::test]
async fn receipt_is_assumed_after_the_delivery_window_and_the_claims_window_then_pays() {
    let sale = paid_sale().await;
    let app = sale.app();
    seed_payout_account(app, sale.seller()).await;
    sale.idle().await;
    steps::ship(app, sale.seller(), sale.invoice).await;
    sale.sent("lot_shipped", sale.buyer()).await;
    sale.idle().await;
    // The buyer says nothing for the 14-day delivery window.
    sale.skip(14 * 86_400 + 1).await;
    sale.sent("lot_received", sale.seller()).await;
    let (assumed,): (bool,) =
        sqlx::query_as("SELECT receipt_assumed FROM sales WHERE invoice_id = $1")
            .bind(sale.invoice)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(assumed);
    assert_eq!(sale.row().await.1, "held", "claims are open");
    sale.idle().await;
    sale.skip(3 * 86_400 + 1).await;
    let row = sale.payout("paid").await;
    assert_eq!(
        (row.4, row.5),
        (Some(HAMMER / 10), Some(HAMMER - HAMMER / 10))
    );
    assert_eq!(sale.transfers.created(), [sale.reference_of(1)]);
    sale.sent_once(&[
        ("ship_by", sale.seller()),
        ("lot_shipped", sale.buyer()),
        ("lot_received", sale.seller()),
        ("payout_sent", sale.seller()),
    ])
    .await;
    sale.reconciled().await;
}

#[tokio::test]
async fn a_claim_the_seller_settles_with_a_partial_refund_pays_out_the_rest_less_commission() {
    let sale = paid_sale().await;
    let app = sale.app();
    seed_payout_account(app, sale.seller()).await;
    sale.delivered().await;
    let claim = steps::claim(
        app,
        sale.buyer(),
        sale.invoice,
        "The leg is cracked",
        Some(30_000),
    )
    .await;
    sale.sent("claim_opened", sale.seller()).await;
    sale.idle().await;
    steps::answer(app, sale.seller(), claim, Some(30_000)).await;
    let row = sale.payout("paid").await;
    let kept = HAMMER - 30_000;
    let commission = kept / 10;
    assert_eq!(
        (row.0.as_str(), row.3, row.4, row.5),
        (
            "closed",
            Some(30_000),
            Some(commission),
            Some(kept - commission)
        )
    );
    let refunds = sale.transfers.refunds();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["transaction"], sale.reference.as_str());
    assert_eq!(refunds[0]["amount"], 30_000);
    let posts = sale.transfers.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["amount"], kept - commission);
    sale.sent_once(&[
        ("claim_opened", sale.seller()),
        ("claim_answered", sale.buyer()),
        ("refund", sale.buyer()),
        ("payout_sent", sale.seller()),
    ])
    .await;
    sale.reconciled().await;
    record_history(&sale.sale_workflow(), "sale_claim_partial_refund").await;
}

#[tokio::test]
async fn a_contested_claim_waits_for_an_admin_whose_decision_settles_the_payout() {
    let sale = paid_sale().await;
    let app = sale.app();
    let admin = app.admin().await;
    seed_payout_account(app, sale.seller()).await;
    sale.delivered().await;
    let claim = steps::claim(app, sale.buyer(), sale.invoice, "Not as described", None).await;
    sale.sent("claim_opened", sale.seller()).await;
    sale.idle().await;
    steps::answer(app, sale.seller(), claim, None).await;
    sale.sent("claim_to_decide", &admin).await;
    // The clock stops: days pass and nothing is paid.
    sale.skip(30 * 86_400).await;
    assert_eq!(sale.row().await.1, "held");
    assert!(sale.transfers.posts().is_empty());
    sale.idle().await;
    steps::decide(app, &admin, claim, 20_000).await;
    let row = sale.payout("paid").await;
    let kept = HAMMER - 20_000;
    assert_eq!(
        (row.3, row.4, row.5),
        (Some(20_000), Some(kept / 10), Some(kept - kept / 10))
    );
    assert_eq!(sale.transfers.refunds()[0]["amount"], 20_000);
    assert_eq!(
        sale.count_sent("claim_answered", sale.buyer()).await,
        2,
        "the answer, then the decision"
    );
    sale.sent_once(&[("refund", sale.buyer()), ("payout_sent", sale.seller())])
        .await;
    sale.reconciled().await;
}

#[tokio::test]
async fn a_failed_transfer_is_tried_again_with_a_new_reference_after_the_backoff() {
    let sale = paid_sale().await;
    let app = sale.app();
    seed_payout_account(app, sale.seller()).await;
    sale.transfers.script(1, &["failed"]);
    sale.delivered().await;
    sale.skip(3 * 86_400 + 1).await;
    sale.transfer_is(1, "failed").await;
    sale.waits_for("the next transfer attempt").await;
    assert_eq!(sale.row().await.1, "scheduled");
    sale.skip(61).await;
    let row = sale.payout("paid").await;
    assert_eq!(row.6, 2, "two attempts");
    let (first, second) = (sale.reference_of(1), sale.reference_of(2));
    assert!(second.ends_with("-a2"), "{second}");
    assert_eq!(sale.posted_references(), [first.clone(), second.clone()]);
    let rows: Vec<(String, String)> = sale
        .transfer_rows()
        .await
        .into_iter()
        .map(|r| (r.0, r.3))
        .collect();
    assert_eq!(
        rows,
        [(first, "failed".to_owned()), (second, "success".to_owned())]
    );
    sale.sent_once(&[("payout_sent", sale.seller())]).await;
    sale.reconciled().await;
    record_history(&sale.sale_workflow(), "sale_transfer_failed_then_paid").await;
}

#[tokio::test]
async fn a_reversed_transfer_is_followed_by_a_new_attempt_that_pays() {
    let sale = paid_sale().await;
    let app = sale.app();
    seed_payout_account(app, sale.seller()).await;
    sale.transfers.script(1, &["pending", "reversed"]);
    sale.delivered().await;
    sale.skip(3 * 86_400 + 1).await;
    sale.transfer_is(1, "pending").await;
    sale.waits_for("Paystack to finish the transfer").await;
    assert_eq!(sale.row().await.1, "sending");
    // Ten minutes on, the workflow looks again: reversed.
    sale.skip(601).await;
    sale.transfer_is(1, "reversed").await;
    sale.waits_for("the next transfer attempt").await;
    sale.skip(61).await;
    let row = sale.payout("paid").await;
    assert_eq!(row.6, 2);
    assert_eq!(
        sale.transfers.created(),
        [sale.reference_of(1), sale.reference_of(2)]
    );
    sale.sent_once(&[("payout_sent", sale.seller())]).await;
    sale.reconciled().await;
}

#[tokio::test]
async fn paystack_failing_on_the_transfer_request_still_makes_exactly_one_transfer() {
    let sale = paid_sale().await;
    let app = sale.app();
    seed_payout_account(app, sale.seller()).await;
    sale.transfers.fail_posts(3);
    sale.delivered().await;
    sale.skip(3 * 86_400 + 1).await;
    sale.payout("paid").await;
    let reference = sale.reference_of(1);
    let posted = sale.posted_references();
    assert_eq!(
        posted.len(),
        4,
        "three 500s, then one that worked: {posted:?}"
    );
    assert!(posted.iter().all(|r| *r == reference), "{posted:?}");
    assert_eq!(sale.transfers.created(), [reference]);
    sale.sent_once(&[("payout_sent", sale.seller())]).await;
    sale.reconciled().await;
}

#[tokio::test]
async fn without_a_payout_account_the_payout_is_held_until_one_is_added() {
    let sale = paid_sale().await;
    let app = sale.app();
    sale.delivered().await;
    sale.skip(3 * 86_400 + 1).await;
    sale.sent("payout_held", sale.seller()).await;
    let row = sale.payout("held").await;
    assert_eq!(row.2.as_deref(), Some("no_payout_account"));
    sale.waits_for("held: no_payout_account").await;
    assert!(sale.transfers.posts().is_empty());
    steps::add_payout_account(app, &sale.s.paystack, sale.seller()).await;
    let row = sale.payout("paid").await;
    assert_eq!(row.5, Some(HAMMER - HAMMER / 10));
    sale.sent_once(&[
        ("payout_held", sale.seller()),
        ("payout_sent", sale.seller()),
    ])
    .await;
    sale.reconciled().await;
}

#[tokio::test]
async fn a_dispute_holds_the_payout_until_paystack_resolves_it() {
    let sale = paid_sale().await;
    let app = sale.app();
    seed_payout_account(app, sale.seller()).await;
    sale.delivered().await;
    // Paystack's dispute events; resolved in the seller's favour (nothing
    // given back to the buyer).
    let dispute = |event: &str, status: &str, refund: i64| {
        json!({ "event": event, "data": {
            "id": 358_950, "refund_amount": refund, "currency": "NGN", "status": status,
            "resolution": if refund == 0 { Value::from("declined") } else { Value::Null },
            "domain": "test", "category": "chargeback",
            "transaction": { "id": transaction_id(&sale.reference), "reference": sale.reference,
                             "amount": HAMMER, "currency": "NGN" } } })
    };
    steps::signed(
        app,
        &dispute(
            "charge.dispute.create",
            "awaiting-merchant-feedback",
            HAMMER,
        ),
    )
    .await;
    eventually(30, || async {
        let (at,): (Option<chrono::DateTime<chrono::Utc>>,) =
            sqlx::query_as("SELECT disputed_at FROM invoices WHERE id = $1")
                .bind(sale.invoice)
                .fetch_one(&app.db)
                .await
                .unwrap();
        at.map(drop).ok_or_else(|| "not disputed yet".to_owned())
    })
    .await;
    sale.idle().await;
    sale.skip(3 * 86_400 + 1).await;
    let row = sale.payout("held").await;
    assert_eq!(row.2.as_deref(), Some("dispute"));
    sale.waits_for("held: dispute").await;
    assert!(sale.transfers.posts().is_empty());
    steps::dispute_resolved(
        app,
        sale.invoice,
        &dispute("charge.dispute.resolve", "resolved", 0),
    )
    .await;
    sale.payout("paid").await;
    assert_eq!(sale.transfers.created(), [sale.reference_of(1)]);
    sale.reconciled().await;
}

#[tokio::test]
async fn a_transfer_waiting_for_an_otp_is_paid_once_an_admin_finalizes_it() {
    let sale = paid_sale().await;
    let app = sale.app();
    let admin = app.admin().await;
    seed_payout_account(app, sale.seller()).await;
    sale.transfers.initiate_as(1, "otp");
    sale.delivered().await;
    sale.skip(3 * 86_400 + 1).await;
    sale.transfer_is(1, "otp").await;
    sale.payout("otp").await;
    sale.waits_for("an admin's OTP").await;
    sale.sent("payout_problem", &admin).await;
    let (payout_id,): (i64,) = sqlx::query_as("SELECT payout_id FROM sales WHERE invoice_id = $1")
        .bind(sale.invoice)
        .fetch_one(&app.db)
        .await
        .unwrap();
    steps::finalize(app, &admin, payout_id, "123456").await;
    sale.payout("paid").await;
    let finalized = sale.transfers.finalized();
    assert_eq!(finalized.len(), 1, "{finalized:?}");
    assert_eq!(finalized[0]["otp"], "123456");
    assert_eq!(sale.transfers.created(), [sale.reference_of(1)]);
    sale.sent_once(&[("payout_sent", sale.seller())]).await;
    sale.reconciled().await;
}

#[tokio::test]
async fn a_worker_killed_between_the_transfer_request_and_its_answer_makes_one_transfer() {
    let mut sale = paid_sale_with_worker_process().await;
    let app = sale.app();
    seed_payout_account(app, sale.seller()).await;
    // Paystack makes the transfer at once but answers late, and tells it
    // pending until its webhook says otherwise.
    sale.transfers.script(1, &["pending"]);
    sale.transfers
        .delay_posts(std::time::Duration::from_secs(5));
    // Shipped and received; claims close on the real clock, then the
    // payout starts.
    sale.idle().await;
    steps::ship(app, sale.seller(), sale.invoice).await;
    sale.sent("lot_shipped", sale.buyer()).await;
    sale.idle().await;
    steps::receive(app, sale.buyer(), sale.invoice).await;
    eventually(30, || async {
        match sale.transfers.posts().len() {
            0 => Err("no transfer asked for yet".to_owned()),
            _ => Ok(()),
        }
    })
    .await;
    sale.worker.take().unwrap().kill();
    let settlement = real_clock_settlement(&sale.s.paystack, &sale.s.brevo);
    sale.transfers.delay_posts(std::time::Duration::ZERO);
    sale.worker = Some(crate::helpers::WorkerProcess::spawn(
        sale.app(),
        &settlement,
    ));
    // The new worker retries the attempt (once the server gives up on the
    // dead one's heartbeat): same reference, found, pending.
    sale.transfer_is(1, "pending").await;
    sale.waits_for("Paystack to finish the transfer").await;
    let reference = sale.reference_of(1);
    sale.transfers.set_status(&reference, "success");
    steps::transfer_succeeded(sale.app(), &reference).await;
    sale.payout("paid").await;
    let posted = sale.posted_references();
    assert!(posted.len() >= 2, "the new worker asked again: {posted:?}");
    assert!(posted.iter().all(|r| *r == reference), "{posted:?}");
    assert_eq!(
        sale.transfers.created(),
        [reference],
        "exactly one transfer"
    );
    sale.sent_once(&[
        ("lot_received", sale.seller()),
        ("payout_sent", sale.seller()),
    ])
    .await;
    sale.reconciled().await;
}

#[tokio::test]
async fn a_step_taken_while_the_workflow_sends_an_email_still_wakes_it() {
    let sale = paid_sale().await;
    let app = sale.app();
    seed_payout_account(app, sale.seller()).await;
    // Brevo is slow with the "shipped" email: the buyer confirms receipt
    // while the workflow is still sending it.
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path(gavel_testkit::mail::SEND_PATH))
        .and(wiremock::matchers::body_string_contains("lot_shipped"))
        .respond_with(|request: &wiremock::Request| {
            gavel_testkit::mail::accepted(request).set_delay(std::time::Duration::from_secs(3))
        })
        .with_priority(1)
        .mount(&sale.s.brevo)
        .await;
    sale.idle().await;
    steps::ship(app, sale.seller(), sale.invoice).await;
    eventually(30, || async {
        let asked = sale.s.brevo.received_requests().await.unwrap_or_default();
        match asked
            .iter()
            .any(|r| String::from_utf8_lossy(&r.body).contains("lot_shipped"))
        {
            true => Ok(()),
            false => Err("the shipped email is not on its way yet".to_owned()),
        }
    })
    .await;
    steps::receive(app, sale.buyer(), sale.invoice).await;
    // The workflow must see the receipt now, not when the 14-day delivery
    // window ends.
    sale.sent("lot_received", sale.seller()).await;
    sale.idle().await;
    sale.skip(3 * 86_400 + 1).await;
    sale.payout("paid").await;
    sale.reconciled().await;
}

#[tokio::test]
async fn a_pending_transfer_is_paid_as_soon_as_paystack_says_so_by_webhook() {
    let sale = paid_sale().await;
    seed_payout_account(sale.app(), sale.seller()).await;
    sale.transfers.script(1, &["pending"]);
    sale.delivered().await;
    sale.skip(3 * 86_400 + 1).await;
    sale.transfer_is(1, "pending").await;
    sale.waits_for("Paystack to finish the transfer").await;
    // No time passes: the signed webhook (verified with Paystack) wakes it.
    let reference = sale.reference_of(1);
    sale.transfers.set_status(&reference, "success");
    steps::transfer_succeeded(sale.app(), &reference).await;
    sale.payout("paid").await;
    assert_eq!(sale.transfers.created(), [reference]);
    sale.sent_once(&[("payout_sent", sale.seller())]).await;
    sale.reconciled().await;
}
