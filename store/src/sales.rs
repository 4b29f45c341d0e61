//! Sales after payment (`sales`), their payout transfers
//! (`payout_transfers`) and seller strikes (`seller_strikes`), as the sale's
//! workflow reads and moves them. Every change of stage is one conditional
//! UPDATE, so a deadline and a person's action racing it cannot both win.
//! What people do to a sale (ship, receive, claim) is written by the API's
//! own functions beside these.

use chrono::{DateTime, Utc};
use gavel_workflows::contract::sale::{
    ClaimState, ClaimView, Deadline, OpenSale, PayoutState, SaleStage, SaleView, commission,
    transfer_reference,
};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::Result;

/// Idempotency keys of the refunds a sale asks for itself (the sale's
/// workflow asks Paystack for them; an admin's refunds go their own way).
pub fn unshipped_refund_key() -> &'static str {
    "sale-unshipped"
}

pub fn claim_refund_key(claim_id: i64) -> String {
    format!("sale-claim-{claim_id}")
}

fn stage_of(text: &str) -> SaleStage {
    match text {
        "shipped" => SaleStage::Shipped,
        "received" => SaleStage::Received,
        "closed" => SaleStage::Closed,
        "cancelled_unshipped" => SaleStage::CancelledUnshipped,
        _ => SaleStage::AwaitingShipment,
    }
}

pub fn stage_text(stage: SaleStage) -> &'static str {
    match stage {
        SaleStage::AwaitingShipment => "awaiting_shipment",
        SaleStage::Shipped => "shipped",
        SaleStage::Received => "received",
        SaleStage::Closed => "closed",
        SaleStage::CancelledUnshipped => "cancelled_unshipped",
    }
}

pub fn claim_state_of(text: &str) -> ClaimState {
    match text {
        "accepted" => ClaimState::Accepted,
        "contested" => ClaimState::Contested,
        "unanswered" => ClaimState::Unanswered,
        "decided" => ClaimState::Decided,
        _ => ClaimState::Open,
    }
}

pub fn payout_state_of(text: &str) -> PayoutState {
    match text {
        "scheduled" => PayoutState::Scheduled,
        "sending" => PayoutState::Sending,
        "otp" => PayoutState::Otp,
        "paid" => PayoutState::Paid,
        "failed" => PayoutState::Failed,
        "cancelled" => PayoutState::Cancelled,
        _ => PayoutState::Held,
    }
}

pub fn payout_state_text(state: PayoutState) -> &'static str {
    match state {
        PayoutState::Held => "held",
        PayoutState::Scheduled => "scheduled",
        PayoutState::Sending => "sending",
        PayoutState::Otp => "otp",
        PayoutState::Paid => "paid",
        PayoutState::Failed => "failed",
        PayoutState::Cancelled => "cancelled",
    }
}

/// Records a paid sale once (a retry finds it) with the commission its
/// auction was listed under; returns its view.
pub async fn open(db: &PgPool, sale: &OpenSale) -> Result<SaleView> {
    let start = &sale.start;
    sqlx::query!(
        "INSERT INTO sales (invoice_id, auction_id, seller_id, buyer_id, currency, hammer,
                            commission_bps, commission_min, ship_by, held_reason)
         SELECT $1, a.id, $3, $4, $5, $6, a.commission_bps, a.commission_min, $7, 'journey'
           FROM auctions a WHERE a.id = $2
         ON CONFLICT (invoice_id) DO NOTHING",
        start.invoice_id,
        start.auction_id,
        start.seller_id,
        start.buyer_id,
        start.currency.code(),
        start.amount,
        sale.ship_by,
    )
    .execute(db)
    .await?;
    view(db, start.invoice_id).await
}

/// The sale as its workflow sees it.
pub async fn view(db: &PgPool, invoice_id: Uuid) -> Result<SaleView> {
    let row = sqlx::query!(
        r#"SELECT s.stage, s.payout_state, s.attempts,
                  (i.disputed_at IS NOT NULL AND i.dispute_resolved_at IS NULL) AS "disputed!",
                  c.id AS "claim_id?", c.state AS "claim_state?"
             FROM sales s
             JOIN invoices i ON i.id = s.invoice_id
             LEFT JOIN claims c ON c.invoice_id = s.invoice_id
            WHERE s.invoice_id = $1"#,
        invoice_id
    )
    .fetch_one(db)
    .await?;
    let refunds_to_ask = sqlx::query_scalar!(
        "SELECT r.id FROM refunds r JOIN payments p ON p.id = r.payment_id
          WHERE p.invoice_id = $1 AND p.pays_invoice AND r.state = 'requested'
            AND r.idempotency_key LIKE 'sale-%'
          ORDER BY r.id",
        invoice_id
    )
    .fetch_all(db)
    .await?;
    Ok(SaleView {
        stage: stage_of(&row.stage),
        claim: row
            .claim_id
            .zip(row.claim_state)
            .map(|(id, state)| ClaimView {
                id,
                state: claim_state_of(&state),
            }),
        refunds_to_ask,
        disputed: row.disputed,
        payout: payout_state_of(&row.payout_state),
        attempts: u32::try_from(row.attempts).unwrap_or_default(),
    })
}

/// Applies a deadline the workflow's timer reached, if the sale is still
/// where the deadline finds it; returns the view after.
pub async fn deadline(db: &PgPool, invoice_id: Uuid, deadline: Deadline) -> Result<SaleView> {
    let mut tx = db.begin().await?;
    // The row first, alone: a claim being opened holds it, and only a
    // statement that starts after that commit sees the claim (an UPDATE's
    // own NOT EXISTS would read the snapshot from before it).
    sqlx::query!(
        "SELECT invoice_id FROM sales WHERE invoice_id = $1 FOR UPDATE",
        invoice_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    match deadline {
        Deadline::ShipBy => {
            let cancelled = sqlx::query!(
                "UPDATE sales SET stage = 'cancelled_unshipped', payout_state = 'cancelled',
                        held_reason = NULL, refunded = hammer, commission = 0, payout = 0,
                        updated_at = now()
                  WHERE invoice_id = $1 AND stage = 'awaiting_shipment'
                  RETURNING seller_id, auction_id, hammer",
                invoice_id
            )
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(sale) = cancelled {
                sqlx::query!(
                    "UPDATE invoices SET status = 'cancelled_unshipped', updated_at = now()
                      WHERE id = $1",
                    invoice_id
                )
                .execute(&mut *tx)
                .await?;
                sqlx::query!(
                    "INSERT INTO seller_strikes (invoice_id, user_id, auction_id)
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    invoice_id,
                    sale.seller_id,
                    sale.auction_id
                )
                .execute(&mut *tx)
                .await?;
                // Whatever is left of the payment goes back (an admin may
                // have refunded part of it already).
                give_back_rest(&mut tx, invoice_id, unshipped_refund_key(), "never shipped")
                    .await?;
            }
        }
        Deadline::Delivery { claims_until } => {
            sqlx::query!(
                "UPDATE sales SET stage = 'received', received_at = now(),
                        receipt_assumed = true, claims_until = $2, updated_at = now()
                  WHERE invoice_id = $1 AND stage = 'shipped'
                    AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.invoice_id = $1
                                     AND c.state NOT IN ('accepted', 'decided'))",
                invoice_id,
                claims_until
            )
            .execute(&mut *tx)
            .await?;
        }
        Deadline::Claims => {
            sqlx::query!(
                "UPDATE sales SET stage = 'closed', updated_at = now()
                  WHERE invoice_id = $1 AND stage IN ('shipped', 'received')
                    AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.invoice_id = $1
                                     AND c.state NOT IN ('accepted', 'decided'))",
                invoice_id
            )
            .execute(&mut *tx)
            .await?;
        }
        Deadline::ClaimAnswer => {
            sqlx::query!(
                "UPDATE claims SET state = 'unanswered', updated_at = now()
                  WHERE invoice_id = $1 AND state = 'open'",
                invoice_id
            )
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    view(db, invoice_id).await
}

/// Records a refund of what is left of the sale's payment (nothing when
/// nothing is left, or when it is recorded already under `key`).
async fn give_back_rest(
    tx: &mut PgConnection,
    invoice_id: Uuid,
    key: &str,
    reason: &str,
) -> Result<()> {
    let Some(payment) = sqlx::query!(
        "SELECT id, amount, channel FROM payments
          WHERE invoice_id = $1 AND pays_invoice FOR UPDATE",
        invoice_id
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(());
    };
    if payment.channel != "paystack" {
        // Paid offline: given back by hand, as admins' refunds of such are.
        return Ok(());
    }
    let taken = sqlx::query_scalar!(
        r#"SELECT COALESCE(sum(amount), 0)::bigint AS "taken!" FROM refunds
            WHERE payment_id = $1 AND state <> 'failed'"#,
        payment.id
    )
    .fetch_one(&mut *tx)
    .await?;
    let left = payment.amount - taken;
    if left > 0 {
        sqlx::query!(
            "INSERT INTO refunds (payment_id, amount, reason, idempotency_key)
             VALUES ($1, $2, $3, $4) ON CONFLICT (payment_id, idempotency_key) DO NOTHING",
            payment.id,
            left,
            reason,
            key
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Writes the deadlines the workflow set, for people to see.
pub async fn note_deadlines(
    db: &PgPool,
    invoice_id: Uuid,
    receipt_assumed_at: Option<DateTime<Utc>>,
    claim_answer_by: Option<DateTime<Utc>>,
    claims_until: Option<DateTime<Utc>>,
) -> Result<()> {
    sqlx::query!(
        "UPDATE sales SET receipt_assumed_at = COALESCE($2, receipt_assumed_at),
                claims_until = COALESCE(claims_until, $3), updated_at = now()
          WHERE invoice_id = $1",
        invoice_id,
        receipt_assumed_at,
        claims_until
    )
    .execute(db)
    .await?;
    if claim_answer_by.is_some() {
        sqlx::query!(
            "UPDATE claims SET answer_by = $2 WHERE invoice_id = $1 AND answer_by IS NULL",
            invoice_id,
            claim_answer_by
        )
        .execute(db)
        .await?;
    }
    Ok(())
}

/// What [`prepare_payout`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    Ready { amount: i64 },
    Held { reason: &'static str },
    Nothing,
}

/// Fixes hammer − refunds − commission = payout, with the payment locked,
/// and marks the payout scheduled, held (and why) or cancelled.
pub async fn prepare_payout(db: &PgPool, invoice_id: Uuid) -> Result<Prepared> {
    let mut tx = db.begin().await?;
    let sale = sqlx::query!(
        r#"SELECT s.seller_id, s.hammer, s.commission_bps, s.commission_min, s.currency,
                  s.payout_state,
                  (i.disputed_at IS NOT NULL AND i.dispute_resolved_at IS NULL) AS "disputed!"
             FROM sales s JOIN invoices i ON i.id = s.invoice_id
            WHERE s.invoice_id = $1 FOR UPDATE OF s"#,
        invoice_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if !matches!(sale.payout_state.as_str(), "held" | "scheduled") {
        // Sent (or further) already: the amounts are fixed.
        let amount = sqlx::query_scalar!(
            r#"SELECT COALESCE(payout, 0) AS "amount!" FROM sales WHERE invoice_id = $1"#,
            invoice_id
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(Prepared::Ready { amount });
    }
    let held = |reason: &'static str| reason;
    let hold = if sale.disputed {
        Some(held("dispute"))
    } else {
        None
    };
    let refunds = sqlx::query!(
        r#"SELECT COALESCE(sum(r.amount) FILTER (WHERE r.state <> 'failed'), 0)::bigint AS "taken!",
                  COALESCE(bool_or(r.state IN ('requested', 'pending', 'processing')), false)
                      AS "in_flight!"
             FROM payments p LEFT JOIN refunds r ON r.payment_id = p.id
            WHERE p.invoice_id = $1 AND p.pays_invoice"#,
        invoice_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let kept = (sale.hammer - refunds.taken).max(0);
    let commission = commission(kept, sale.commission_bps, sale.commission_min);
    let payout = kept - commission;
    if hold.is_none() && payout == 0 && !refunds.in_flight {
        sqlx::query!(
            "UPDATE sales SET payout_state = 'cancelled', held_reason = NULL, refunded = $2,
                    commission = $3, payout = 0, updated_at = now()
              WHERE invoice_id = $1",
            invoice_id,
            refunds.taken,
            commission
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(Prepared::Nothing);
    }
    let recipient = sqlx::query_scalar!(
        "SELECT recipient_code FROM payout_accounts
          WHERE user_id = $1 AND state = 'confirmed' AND currency = $2",
        sale.seller_id,
        sale.currency
    )
    .fetch_optional(&mut *tx)
    .await?
    .flatten();
    // A refund the buyer was owed that Paystack failed is an admin's to
    // settle before the seller is paid what it would have taken.
    let refund_failed = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM refunds r JOIN payments p ON p.id = r.payment_id
                           WHERE p.invoice_id = $1 AND r.state = 'failed'
                             AND r.idempotency_key LIKE 'sale-%') AS "failed!""#,
        invoice_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let hold = hold
        .or_else(|| refund_failed.then_some("refund_failed"))
        .or_else(|| refunds.in_flight.then_some("refunds"))
        .or_else(|| recipient.is_none().then_some("no_payout_account"));
    let (state, reason) = match hold {
        Some(reason) => ("held", Some(reason)),
        None => ("scheduled", None),
    };
    sqlx::query!(
        "UPDATE sales SET payout_state = $2, held_reason = $3, refunded = $4, commission = $5,
                payout = $6, updated_at = now()
          WHERE invoice_id = $1",
        invoice_id,
        state,
        reason,
        refunds.taken,
        commission,
        payout
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(match hold {
        Some(reason) => Prepared::Held { reason },
        None => Prepared::Ready { amount: payout },
    })
}

/// One transfer attempt's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRow {
    pub reference: String,
    pub invoice_id: Uuid,
    pub attempt: i32,
    pub amount: i64,
    pub currency: String,
    pub recipient_code: String,
    pub transfer_code: Option<String>,
    pub status: String,
}

/// The attempt's transfer row, written before Paystack is asked (a retry
/// finds the same row and reference). `None` when the payout is not
/// scheduled (nothing to send) or has no recipient.
pub async fn begin_transfer(
    db: &PgPool,
    invoice_id: Uuid,
    attempt: u32,
) -> Result<Option<TransferRow>> {
    let reference = transfer_reference(invoice_id, attempt);
    let attempt = crate::fits::<i32, _>(attempt)?;
    let mut tx = db.begin().await?;
    sqlx::query!(
        "INSERT INTO payout_transfers (reference, invoice_id, attempt, amount, currency,
                                       recipient_code)
         SELECT $1, s.invoice_id, $3, s.payout, s.currency, a.recipient_code
           FROM sales s JOIN payout_accounts a
             ON a.user_id = s.seller_id AND a.state = 'confirmed' AND a.currency = s.currency
          WHERE s.invoice_id = $2 AND s.payout > 0
            AND s.payout_state IN ('scheduled', 'sending', 'otp')
         ON CONFLICT (reference) DO NOTHING",
        reference,
        invoice_id,
        attempt
    )
    .execute(&mut *tx)
    .await?;
    // An attempt not yet accepted by Paystack pays what is owed now (a
    // refund while it waited for the balance lowers it). Were its first
    // request to have landed after all, Paystack's amount would differ and
    // verifying refuses to record it.
    sqlx::query!(
        "UPDATE payout_transfers t SET amount = s.payout, updated_at = now()
           FROM sales s
          WHERE t.reference = $1 AND t.status = 'new' AND s.invoice_id = t.invoice_id
            AND s.payout > 0 AND t.amount <> s.payout",
        reference
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE sales SET attempts = GREATEST(attempts, $2), updated_at = now()
          WHERE invoice_id = $1",
        invoice_id,
        attempt
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    transfer(db, &reference).await
}

/// A transfer row by its reference.
pub async fn transfer(db: &PgPool, reference: &str) -> Result<Option<TransferRow>> {
    Ok(sqlx::query_as!(
        TransferRow,
        "SELECT reference, invoice_id, attempt, amount, currency, recipient_code, transfer_code,
                status
           FROM payout_transfers WHERE reference = $1",
        reference
    )
    .fetch_optional(db)
    .await?)
}

/// The latest transfer of a payout (for an admin's OTP).
pub async fn latest_transfer(db: &PgPool, invoice_id: Uuid) -> Result<Option<TransferRow>> {
    Ok(sqlx::query_as!(
        TransferRow,
        "SELECT reference, invoice_id, attempt, amount, currency, recipient_code, transfer_code,
                status
           FROM payout_transfers WHERE invoice_id = $1 ORDER BY attempt DESC LIMIT 1",
        invoice_id
    )
    .fetch_optional(db)
    .await?)
}

/// Records Paystack's word on a transfer and moves the payout with it:
/// `success` pays it, `otp` waits for an admin, anything unfinished is
/// `sending`; a conclusive failure leaves the next attempt to the workflow.
/// A final status (success, failed, reversed…) is not overwritten by a late
/// unfinished one.
pub async fn record_transfer(
    db: &PgPool,
    reference: &str,
    status: &str,
    transfer_code: Option<&str>,
    fee: Option<i64>,
) -> Result<Option<TransferRow>> {
    let mut tx = db.begin().await?;
    let row = sqlx::query!(
        "UPDATE payout_transfers SET
                status = CASE
                    WHEN status IN ('success', 'failed', 'reversed', 'abandoned', 'blocked',
                                    'rejected')
                         AND $2 NOT IN ('success', 'failed', 'reversed', 'abandoned', 'blocked',
                                        'rejected')
                    THEN status ELSE $2 END,
                transfer_code = COALESCE($3, transfer_code), fee = COALESCE($4, fee),
                updated_at = now()
          WHERE reference = $1
          RETURNING invoice_id, attempt, status",
        reference,
        status,
        transfer_code,
        fee
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = &row {
        let payout_state = match row.status.as_str() {
            "success" => "paid",
            "otp" => "otp",
            "failed" | "reversed" | "abandoned" | "blocked" | "rejected" => "scheduled",
            _ => "sending",
        };
        // A reversal after success re-opens the payout (the money is back).
        // Only the latest attempt speaks for the payout: a late event about
        // an older one (failed before the one that paid) moves nothing.
        sqlx::query!(
            "UPDATE sales SET payout_state = $2,
                    paid_out_at = CASE WHEN $2 = 'paid' THEN COALESCE(paid_out_at, now()) END,
                    held_reason = NULL, updated_at = now()
              WHERE invoice_id = $1 AND payout_state NOT IN ('cancelled', 'failed')
                AND $3 = (SELECT max(attempt) FROM payout_transfers WHERE invoice_id = $1)",
            row.invoice_id,
            payout_state,
            row.attempt
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    transfer(db, reference).await
}

/// The payout waits for the balance: still scheduled, and why. Returns how
/// many payouts wait for the balance now.
pub async fn hold_for_balance(db: &PgPool, invoice_id: Uuid) -> Result<i64> {
    sqlx::query!(
        "UPDATE sales SET held_reason = 'balance', updated_at = now()
          WHERE invoice_id = $1 AND payout_state = 'scheduled'",
        invoice_id
    )
    .execute(db)
    .await?;
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM sales
            WHERE payout_state = 'scheduled' AND held_reason = 'balance'"#
    )
    .fetch_one(db)
    .await?)
}

/// The last attempt failed, or Paystack refused: an admin acts.
pub async fn payout_failed(db: &PgPool, invoice_id: Uuid, why: &str) -> Result<()> {
    sqlx::query!(
        "UPDATE sales SET payout_state = 'failed', held_reason = $2, updated_at = now()
          WHERE invoice_id = $1 AND payout_state NOT IN ('paid', 'cancelled')",
        invoice_id,
        why
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Money in the Paystack balance that belongs to other sales: what their
/// buyers paid and kept, not yet paid out (a payout must leave it there,
/// for their refunds), plus refunds asked and not yet processed.
pub async fn held_for_others(db: &PgPool, invoice_id: Uuid) -> Result<i64> {
    Ok(sqlx::query_scalar!(
        r#"SELECT (COALESCE(sum(s.hammer - COALESCE(r.taken, 0)), 0)
                   + COALESCE((SELECT sum(amount) FROM refunds
                                WHERE state IN ('requested', 'pending', 'processing')), 0)
                  )::bigint AS "held!"
             FROM sales s
             LEFT JOIN LATERAL (
                SELECT sum(rf.amount) FILTER (WHERE rf.state <> 'failed') AS taken
                  FROM payments p JOIN refunds rf ON rf.payment_id = p.id
                 WHERE p.invoice_id = s.invoice_id AND p.pays_invoice) r ON true
            WHERE s.invoice_id <> $1
              AND s.payout_state NOT IN ('paid', 'cancelled')"#,
        invoice_id
    )
    .fetch_one(db)
    .await?)
}

/// Seller strikes since `since`, not cleared.
pub async fn seller_strikes(db: &PgPool, user_id: Uuid, since: DateTime<Utc>) -> Result<i64> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM seller_strikes
            WHERE user_id = $1 AND cleared_at IS NULL AND created_at >= $2"#,
        user_id,
        since
    )
    .fetch_one(db)
    .await?)
}

/// One breach of "what the buyer paid = payout + commission + refunds", or
/// of "every transfer is in the ledger once".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy {
    pub invoice_id: Uuid,
    pub problem: String,
}

/// The reconciliation: for every sale whose payout is done (paid or
/// cancelled), the buyer's payment equals payout + commission + processed
/// refunds to the minor unit; a paid payout has exactly one successful
/// transfer of exactly the payout; no other sale has one.
pub async fn reconcile(db: &PgPool) -> Result<Vec<Discrepancy>> {
    let rows = sqlx::query!(
        r#"SELECT s.invoice_id, s.payout_state, s.hammer, s.payout, s.commission,
                  p.amount AS "paid?",
                  (SELECT COALESCE(sum(r.amount), 0) FROM refunds r
                    WHERE r.payment_id = p.id AND r.state = 'processed')::bigint AS "refunded!",
                  (SELECT count(*) FROM payout_transfers t
                    WHERE t.invoice_id = s.invoice_id AND t.status = 'success') AS "successes!",
                  (SELECT COALESCE(sum(t.amount), 0) FROM payout_transfers t
                    WHERE t.invoice_id = s.invoice_id AND t.status = 'success')::bigint AS "sent!"
             FROM sales s
             LEFT JOIN payments p ON p.invoice_id = s.invoice_id AND p.pays_invoice
            ORDER BY s.created_at"#
    )
    .fetch_all(db)
    .await?;
    let mut found = Vec::new();
    for row in rows {
        let mut problem = |text: String| {
            found.push(Discrepancy {
                invoice_id: row.invoice_id,
                problem: text,
            })
        };
        let done = matches!(row.payout_state.as_str(), "paid" | "cancelled");
        if row.payout_state == "paid" && (row.successes != 1 || Some(row.sent) != row.payout) {
            problem(format!(
                "paid with {} successful transfers of {} (payout {:?})",
                row.successes, row.sent, row.payout
            ));
        }
        if row.payout_state != "paid" && row.successes > 0 {
            problem(format!(
                "{} with {} successful transfers",
                row.payout_state, row.successes
            ));
        }
        if done {
            let paid = row.paid.unwrap_or(row.hammer);
            let accounted = row.payout.unwrap_or(0) + row.commission.unwrap_or(0) + row.refunded;
            if paid != accounted {
                problem(format!(
                    "paid {paid} but payout {:?} + commission {:?} + refunds {} = {accounted}",
                    row.payout, row.commission, row.refunded
                ));
            }
        }
    }
    Ok(found)
}

/// How many sales there are (for the reconciliation's report).
pub async fn count(db: &PgPool) -> Result<i64> {
    Ok(sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM sales"#)
        .fetch_one(db)
        .await?)
}
