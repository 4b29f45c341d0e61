//! The sale-journey harness the payout tests share: a paid [`Sale`] on a
//! time-skipping (or real-clock) server, its waits and checks on the sale's
//! row, transfers, emails and workflow, and the people's [`steps`] over HTTP.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    helpers::{FakeTransfers, TestApp, TestUser, auction_body, eventually, sent_kinds},
    money::mount_checkouts,
    stand_ins::*,
};

/// What the buyer pays: the hammer price (no premium).
pub const HAMMER: i64 = 100_000;

/// A paid sale on the time-skipping server: Bola won the seller's lot at
/// [`HAMMER`] and paid by a signed `charge.success`; the sale's workflow
/// runs.
pub struct Sale {
    pub s: Scene,
    /// The `gavel worker` process, when the test runs one (and kills it).
    pub worker: Option<crate::helpers::WorkerProcess>,
    pub transfers: FakeTransfers,
    auction: String,
    pub invoice: Uuid,
    /// The payment's Paystack reference.
    pub reference: String,
}

impl Sale {
    pub fn app(&self) -> &TestApp {
        &self.s.app
    }

    pub fn seller(&self) -> &TestUser {
        &self.s.seller
    }

    pub fn buyer(&self) -> &TestUser {
        &self.s.bola
    }

    pub fn sale_workflow(
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
    pub async fn row(&self) -> SaleRow {
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
    pub async fn payout(&self, state: &str) -> SaleRow {
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
    pub async fn sent(&self, kind: &str, to: &TestUser) {
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
    pub async fn count_sent(&self, kind: &str, to: &TestUser) -> usize {
        sent_kinds(self.app(), &self.auction)
            .await
            .iter()
            .filter(|(k, e)| k == kind && *e == to.email)
            .count()
    }

    /// The sale emails: each of `kinds` once to its recipient.
    pub async fn sent_once(&self, kinds: &[(&str, &TestUser)]) {
        for (kind, to) in kinds {
            self.sent(kind, to).await;
            assert_eq!(self.count_sent(kind, to).await, 1, "{kind} to {}", to.email);
        }
    }

    /// The seller's statement (`GET /me/payouts`) of this sale adds up:
    /// hammer − refunds − commission = payout, as fixed; returns
    /// (refunds, commission, payout).
    pub async fn statement(&self) -> (i64, i64, i64) {
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
    pub async fn reconciled(&self) {
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
    pub async fn idle(&self) {
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
    pub async fn waits_for(&self, what: &str) {
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
    pub async fn delivered(&self) {
        steps::ship(self.app(), self.seller(), self.invoice).await;
        self.sent("lot_shipped", self.buyer()).await;
        self.idle().await;
        steps::receive(self.app(), self.buyer(), self.invoice).await;
        self.sent("lot_received", self.seller()).await;
        self.idle().await;
    }

    /// The transfer row of `attempt` reaches `status`.
    pub async fn transfer_is(&self, attempt: u32, status: &str) {
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
    pub async fn skip(&self, secs: i64) {
        skip_and_settle(self.app(), secs).await;
    }

    pub fn reference_of(&self, attempt: u32) -> String {
        gavel_workflows::contract::sale::transfer_reference(self.invoice, attempt)
    }

    /// The transfers' rows: (reference, attempt, amount, status).
    pub async fn transfer_rows(&self) -> Vec<(String, i32, i64, String)> {
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
    pub fn posted_references(&self) -> Vec<String> {
        self.transfers
            .posts()
            .iter()
            .map(|p| p["reference"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

pub type SaleRow = (
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
pub async fn paid_sale() -> Sale {
    paid_sale_in(skipping_paystack_scene().await, None, Clock::Skipped).await
}

/// [`paid_sale`] on the shared dev server (the real clock), with the
/// workers in a `gavel worker` process of their own that the test kills: a
/// real server hands the workflow tasks a dead worker's sticky queue holds
/// to another worker within seconds, which the time-skipping server never
/// does. Claims close [`REAL_CLAIM_WINDOW_SECS`] after receipt.
pub async fn paid_sale_with_worker_process() -> Sale {
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
pub fn real_clock_settlement(
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
pub async fn seed_payout_account(app: &TestApp, user: &TestUser) {
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
pub mod steps {
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
