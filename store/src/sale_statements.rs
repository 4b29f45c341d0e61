//! The rows people read about paid sales: one sale as its buyer, seller or
//! an admin sees it ("hammer − refunds − commission = payout", the claim, the
//! latest transfer), a seller's statement, a buyer's purchases, the admins'
//! payouts and what the ledger holds for sales not yet paid out. The moves
//! people make are in [`crate::sale_actions`].

use chrono::{DateTime, Utc};
use gavel_workflows::contract::sale::commission;
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

/// A buyer's claim about a sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub id: i64,
    pub invoice_id: Uuid,
    pub buyer_id: Uuid,
    pub reason: String,
    /// What the buyer asks back (`None`: all of it).
    pub amount: Option<i64>,
    pub state: String,
    pub answer_by: Option<DateTime<Utc>>,
    pub refund_amount: Option<i64>,
    pub refund_id: Option<i64>,
    pub answered_at: Option<DateTime<Utc>>,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// One sale as people read it: where the lot is, where the money is, and
/// "hammer − refunds − commission = payout".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRow {
    pub invoice_id: Uuid,
    pub invoice_number: String,
    pub payout_id: i64,
    pub auction_id: Uuid,
    pub auction_title: String,
    pub seller_id: Uuid,
    pub buyer_id: Uuid,
    pub currency: String,
    pub hammer: i64,
    pub commission_bps: i32,
    pub commission_min: i64,
    pub stage: String,
    pub ship_by: DateTime<Utc>,
    pub receipt_assumed_at: Option<DateTime<Utc>>,
    pub claims_until: Option<DateTime<Utc>>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub carrier: Option<String>,
    pub tracking: Option<String>,
    pub received_at: Option<DateTime<Utc>>,
    pub receipt_assumed: bool,
    pub payout_state: String,
    pub held_reason: Option<String>,
    /// Refunds of the sale's payment Paystack has processed.
    pub refunds_processed: i64,
    /// Refunds asked for and not yet processed or failed.
    pub refunds_in_flight: i64,
    /// Refunds counted against the payout (processed + in flight, or what
    /// was fixed when the payout was scheduled).
    pub refunds: i64,
    pub commission: i64,
    pub payout: i64,
    /// The three numbers above were fixed when the payout was prepared;
    /// until then they are what they would be now.
    pub fixed: bool,
    pub paid_out_at: Option<DateTime<Utc>>,
    pub claim: Option<Claim>,
    /// The latest transfer attempt's reference and Paystack's word on it.
    pub transfer_reference: Option<String>,
    pub transfer_status: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which sales [`rows`] reads; `None` does not filter.
#[derive(Debug, Clone, Copy, Default)]
struct Filter<'a> {
    invoice_id: Option<Uuid>,
    seller_id: Option<Uuid>,
    buyer_id: Option<Uuid>,
    payout_state: Option<&'a str>,
    payout_id: Option<i64>,
}

/// The most rows a list answers (newest first).
const LIST_MAX: i64 = 200;

async fn rows(db: &PgPool, filter: Filter<'_>) -> Result<Vec<SaleRow>> {
    let found = sqlx::query!(
        r#"SELECT s.invoice_id, i.number AS invoice_number, s.payout_id, s.auction_id,
                  a.title AS auction_title, s.seller_id, s.buyer_id, s.currency, s.hammer,
                  s.commission_bps, s.commission_min, s.stage, s.ship_by, s.receipt_assumed_at,
                  s.claims_until, s.shipped_at, s.carrier, s.tracking, s.received_at,
                  s.receipt_assumed, s.payout_state, s.held_reason, s.refunded AS fixed_refunded,
                  s.commission AS fixed_commission, s.payout AS fixed_payout, s.paid_out_at,
                  s.created_at, s.updated_at,
                  COALESCE(r.processed, 0)::bigint AS "refunds_processed!",
                  COALESCE(r.in_flight, 0)::bigint AS "refunds_in_flight!",
                  c.id AS "claim_id?", c.buyer_id AS "claim_buyer_id?",
                  c.reason AS "claim_reason?", c.amount AS claim_amount,
                  c.state AS "claim_state?", c.answer_by AS claim_answer_by,
                  c.refund_amount AS claim_refund_amount, c.refund_id AS claim_refund_id,
                  c.answered_at AS claim_answered_at, c.decided_by AS claim_decided_by,
                  c.decided_at AS claim_decided_at, c.created_at AS "claim_created_at?",
                  t.reference AS "transfer_reference?", t.status AS "transfer_status?"
             FROM sales s
             JOIN invoices i ON i.id = s.invoice_id
             JOIN auctions a ON a.id = s.auction_id
             LEFT JOIN claims c ON c.invoice_id = s.invoice_id
             LEFT JOIN LATERAL (
                SELECT sum(rf.amount) FILTER (WHERE rf.state = 'processed') AS processed,
                       sum(rf.amount) FILTER (WHERE rf.state IN ('requested', 'pending',
                                                                  'processing')) AS in_flight
                  FROM payments p JOIN refunds rf ON rf.payment_id = p.id
                 WHERE p.invoice_id = s.invoice_id AND p.pays_invoice) r ON true
             LEFT JOIN LATERAL (
                SELECT reference, status FROM payout_transfers pt
                 WHERE pt.invoice_id = s.invoice_id ORDER BY attempt DESC LIMIT 1) t ON true
            WHERE ($1::uuid IS NULL OR s.invoice_id = $1)
              AND ($2::uuid IS NULL OR s.seller_id = $2)
              AND ($3::uuid IS NULL OR s.buyer_id = $3)
              AND ($4::text IS NULL OR s.payout_state = $4)
              AND ($5::bigint IS NULL OR s.payout_id = $5)
            ORDER BY s.created_at DESC, s.invoice_id
            LIMIT $6"#,
        filter.invoice_id,
        filter.seller_id,
        filter.buyer_id,
        filter.payout_state,
        filter.payout_id,
        LIST_MAX
    )
    .fetch_all(db)
    .await?;
    Ok(found
        .into_iter()
        .map(|row| {
            let claim = match (
                row.claim_id,
                row.claim_buyer_id,
                row.claim_reason,
                row.claim_state,
                row.claim_created_at,
            ) {
                (Some(id), Some(buyer_id), Some(reason), Some(state), Some(created_at)) => {
                    Some(Claim {
                        id,
                        invoice_id: row.invoice_id,
                        buyer_id,
                        reason,
                        amount: row.claim_amount,
                        state,
                        answer_by: row.claim_answer_by,
                        refund_amount: row.claim_refund_amount,
                        refund_id: row.claim_refund_id,
                        answered_at: row.claim_answered_at,
                        decided_by: row.claim_decided_by,
                        decided_at: row.claim_decided_at,
                        created_at,
                    })
                }
                _ => None,
            };
            // Fixed once the payout was prepared; until then, what the
            // payout would be if it were prepared now.
            let (refunds, commission, payout, fixed) =
                match (row.fixed_refunded, row.fixed_commission, row.fixed_payout) {
                    (Some(refunded), Some(commission), Some(payout)) => {
                        (refunded, commission, payout, true)
                    }
                    _ => {
                        let refunds = row.refunds_processed + row.refunds_in_flight;
                        let kept = (row.hammer - refunds).max(0);
                        let commission = commission(kept, row.commission_bps, row.commission_min);
                        (refunds, commission, kept - commission, false)
                    }
                };
            SaleRow {
                invoice_id: row.invoice_id,
                invoice_number: row.invoice_number,
                payout_id: row.payout_id,
                auction_id: row.auction_id,
                auction_title: row.auction_title,
                seller_id: row.seller_id,
                buyer_id: row.buyer_id,
                currency: row.currency,
                hammer: row.hammer,
                commission_bps: row.commission_bps,
                commission_min: row.commission_min,
                stage: row.stage,
                ship_by: row.ship_by,
                receipt_assumed_at: row.receipt_assumed_at,
                claims_until: row.claims_until,
                shipped_at: row.shipped_at,
                carrier: row.carrier,
                tracking: row.tracking,
                received_at: row.received_at,
                receipt_assumed: row.receipt_assumed,
                payout_state: row.payout_state,
                held_reason: row.held_reason,
                refunds_processed: row.refunds_processed,
                refunds_in_flight: row.refunds_in_flight,
                refunds,
                commission,
                payout,
                fixed,
                paid_out_at: row.paid_out_at,
                claim,
                transfer_reference: row.transfer_reference,
                transfer_status: row.transfer_status,
                created_at: row.created_at,
                updated_at: row.updated_at,
            }
        })
        .collect())
}

/// The sale of `invoice_id`.
pub async fn sale(db: &PgPool, invoice_id: Uuid) -> Result<Option<SaleRow>> {
    let filter = Filter {
        invoice_id: Some(invoice_id),
        ..Filter::default()
    };
    Ok(rows(db, filter).await?.into_iter().next())
}

/// The sale whose payout has the public number `payout_id`.
pub async fn sale_by_payout_id(db: &PgPool, payout_id: i64) -> Result<Option<SaleRow>> {
    let filter = Filter {
        payout_id: Some(payout_id),
        ..Filter::default()
    };
    Ok(rows(db, filter).await?.into_iter().next())
}

/// A seller's sales, newest first: the statement of their payouts.
pub async fn seller_statement(db: &PgPool, seller_id: Uuid) -> Result<Vec<SaleRow>> {
    let filter = Filter {
        seller_id: Some(seller_id),
        ..Filter::default()
    };
    rows(db, filter).await
}

/// A buyer's paid purchases, newest first.
pub async fn buyer_purchases(db: &PgPool, buyer_id: Uuid) -> Result<Vec<SaleRow>> {
    let filter = Filter {
        buyer_id: Some(buyer_id),
        ..Filter::default()
    };
    rows(db, filter).await
}

/// Every sale (or those whose payout is in `state`), newest first.
pub async fn admin_payouts(db: &PgPool, state: Option<&str>) -> Result<Vec<SaleRow>> {
    let filter = Filter {
        payout_state: state,
        ..Filter::default()
    };
    rows(db, filter).await
}

/// What the Paystack balance must hold for others: what buyers paid and
/// kept for sales not paid out yet, and refunds asked and not finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerNeeds {
    pub held_for_sales: i64,
    pub refunds_in_flight: i64,
}

impl LedgerNeeds {
    pub fn total(&self) -> i64 {
        self.held_for_sales.saturating_add(self.refunds_in_flight)
    }
}

/// [`LedgerNeeds`] as they are now.
pub async fn ledger_needs(db: &PgPool) -> Result<LedgerNeeds> {
    let row = sqlx::query!(
        r#"SELECT
             (SELECT COALESCE(sum(s.hammer - COALESCE(r.taken, 0)), 0)
                FROM sales s
                LEFT JOIN LATERAL (
                   SELECT sum(rf.amount) FILTER (WHERE rf.state <> 'failed') AS taken
                     FROM payments p JOIN refunds rf ON rf.payment_id = p.id
                    WHERE p.invoice_id = s.invoice_id AND p.pays_invoice) r ON true
               WHERE s.payout_state NOT IN ('paid', 'cancelled'))::bigint AS "held!",
             (SELECT COALESCE(sum(amount), 0) FROM refunds
               WHERE state IN ('requested', 'pending', 'processing'))::bigint AS "in_flight!""#
    )
    .fetch_one(db)
    .await?;
    Ok(LedgerNeeds {
        held_for_sales: row.held,
        refunds_in_flight: row.in_flight,
    })
}
