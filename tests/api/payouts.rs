//! A sale's journey after payment, end to end (issue 22): shipping,
//! receipt, claims and the seller's payout by Paystack transfer, on the
//! time-skipping server with wiremock Paystack (the killed worker's test on
//! a real server, whose clock it cannot move). Every test ends with the
//! reconciliation and the emails the journey sent.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    helpers::{
        eventually, record_history,
        sale_journey::{
            HAMMER, paid_sale, paid_sale_with_worker_process, real_clock_settlement,
            seed_payout_account, steps,
        },
    },
    stand_ins::*,
};

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
