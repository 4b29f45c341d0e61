//! The ledger of verified payments (`payments`): every one is recorded once
//! by its reference and either pays its invoice (`kept`) or is given back
//! (`refunding` → `refunded`, or `refund_failed`). Deciding which happens in
//! one transaction with the invoice locked, so two payments racing for one
//! invoice cannot both pay it, and a payment racing its void cannot be kept
//! by a void invoice.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

/// A verified payment as Paystack reported it.
#[derive(Debug, Clone)]
pub struct Verified<'a> {
    pub reference: &'a str,
    pub paystack_id: Option<u64>,
    pub amount: i64,
    pub currency: &'a str,
}

/// What the ledger decided for a verified payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounted {
    /// It pays the invoice (now, or it did before).
    Kept,
    /// It cannot pay the invoice and is to be refunded.
    Refund {
        payment_id: i64,
        amount: i64,
        reason: String,
    },
}

/// One row of the ledger.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Payment {
    pub id: i64,
    pub invoice_id: Uuid,
    pub reference: String,
    pub paystack_id: Option<i64>,
    pub amount: i64,
    pub currency: String,
    pub channel: String,
    pub state: String,
    pub refund_reason: Option<String>,
    pub refund_requested_at: Option<DateTime<Utc>>,
    pub paystack_refund_id: Option<i64>,
    pub refund_status: Option<String>,
    pub refunded_at: Option<DateTime<Utc>>,
    pub disputed_at: Option<DateTime<Utc>>,
    pub verified_at: DateTime<Utc>,
}

fn paystack_id(id: Option<u64>) -> Option<i64> {
    id.and_then(|i| i64::try_from(i).ok())
}

/// Records a verified Paystack payment against `invoice_id` and decides
/// whether it pays the invoice. Running it again for the same reference
/// returns the first decision.
pub async fn account(
    db: &PgPool,
    invoice_id: Uuid,
    paid: &Verified<'_>,
) -> sqlx::Result<Accounted> {
    let mut tx = db.begin().await?;
    let (status, total, currency): (String, i64, String) =
        sqlx::query_as("SELECT status, total, currency FROM invoices WHERE id = $1 FOR UPDATE")
            .bind(invoice_id)
            .fetch_one(&mut *tx)
            .await?;
    let earlier: Option<(i64, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT id, state, amount, refund_reason FROM payments WHERE reference = $1",
    )
    .bind(paid.reference)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((id, state, amount, reason)) = earlier {
        tx.commit().await?;
        return Ok(if state == "kept" {
            Accounted::Kept
        } else {
            Accounted::Refund {
                payment_id: id,
                amount,
                reason: reason.unwrap_or_default(),
            }
        });
    }
    let matches = paid.amount == total && paid.currency == currency;
    if status == "open" && matches {
        sqlx::query(
            "UPDATE invoices SET status = 'paid', paid_at = now(), paid_via = 'paystack',
                 updated_at = now() WHERE id = $1",
        )
        .bind(invoice_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO payments (invoice_id, reference, paystack_id, amount, currency, channel, state)
             VALUES ($1, $2, $3, $4, $5, 'paystack', 'kept')",
        )
        .bind(invoice_id)
        .bind(paid.reference)
        .bind(paystack_id(paid.paystack_id))
        .bind(paid.amount)
        .bind(paid.currency)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(Accounted::Kept);
    }
    let reason = if !matches {
        format!(
            "paid {} {}, but the invoice is for {total} {currency}",
            paid.amount, paid.currency
        )
    } else if status == "paid" {
        "the invoice was already paid".to_owned()
    } else {
        format!("the invoice is {status}")
    };
    let (payment_id,): (i64,) = sqlx::query_as(
        "INSERT INTO payments (invoice_id, reference, paystack_id, amount, currency, channel,
             state, refund_reason)
         VALUES ($1, $2, $3, $4, $5, 'paystack', 'refunding', $6) RETURNING id",
    )
    .bind(invoice_id)
    .bind(paid.reference)
    .bind(paystack_id(paid.paystack_id))
    .bind(paid.amount)
    .bind(paid.currency)
    .bind(&reason)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Accounted::Refund {
        payment_id,
        amount: paid.amount,
        reason,
    })
}

/// Records an admin's offline payment; `Ok(true)` when the invoice is paid
/// (now or already), `Ok(false)` when it is not open for payment.
pub async fn pay_offline(db: &PgPool, invoice_id: Uuid) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let (status, total, currency): (String, i64, String) =
        sqlx::query_as("SELECT status, total, currency FROM invoices WHERE id = $1 FOR UPDATE")
            .bind(invoice_id)
            .fetch_one(&mut *tx)
            .await?;
    match status.as_str() {
        "paid" => {
            tx.commit().await?;
            return Ok(true);
        }
        "open" => {}
        _ => {
            tx.commit().await?;
            return Ok(false);
        }
    }
    sqlx::query(
        "UPDATE invoices SET status = 'paid', paid_at = now(), paid_via = 'offline',
             updated_at = now() WHERE id = $1",
    )
    .bind(invoice_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO payments (invoice_id, reference, amount, currency, channel, state)
         VALUES ($1, $2, $3, $4, 'offline', 'kept') ON CONFLICT DO NOTHING",
    )
    .bind(invoice_id)
    .bind(format!("offline-{invoice_id}"))
    .bind(total)
    .bind(&currency)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

pub async fn find(db: &PgPool, id: i64) -> sqlx::Result<Option<Payment>> {
    sqlx::query_as("SELECT * FROM payments WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Notes that a refund is about to be asked for (committed before the call,
/// so a retry after a lost answer knows to look first).
pub async fn refund_requested(db: &PgPool, id: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE payments SET refund_requested_at = COALESCE(refund_requested_at, now()),
             updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Paystack accepted the refund (`refund_id` when it said which).
pub async fn refund_accepted(
    db: &PgPool,
    id: i64,
    refund_id: Option<u64>,
    status: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE payments SET paystack_refund_id = COALESCE($2, paystack_refund_id),
             refund_status = $3, updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(paystack_id(refund_id))
    .bind(status)
    .execute(db)
    .await?;
    Ok(())
}

/// A refund webhook: `refund.processed` → `refunded`, `refund.failed` →
/// `refund_failed`, anything else only updates Paystack's status. Returns
/// the payment it concerned, if any.
pub async fn refund_reported(
    db: &PgPool,
    reference: &str,
    status: &str,
) -> sqlx::Result<Option<i64>> {
    let state = match status {
        "processed" => Some("refunded"),
        "failed" => Some("refund_failed"),
        _ => None,
    };
    let row: Option<(i64,)> = sqlx::query_as(
        "UPDATE payments SET refund_status = $2,
             state = COALESCE($3, CASE WHEN state = 'kept' THEN 'refunding' ELSE state END),
             refunded_at = CASE WHEN $3 = 'refunded' THEN now() ELSE refunded_at END,
             updated_at = now()
         WHERE reference = $1 RETURNING id",
    )
    .bind(reference)
    .bind(status)
    .bind(state)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// A dispute (chargeback) on `reference`: the payment and its invoice are
/// flagged. Returns the invoice, if the reference is known.
pub async fn disputed(db: &PgPool, reference: &str) -> sqlx::Result<Option<Uuid>> {
    let mut tx = db.begin().await?;
    let invoice: Option<(Uuid,)> =
        sqlx::query_as("SELECT invoice_id FROM invoice_references WHERE reference = $1")
            .bind(reference)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some((invoice_id,)) = invoice {
        sqlx::query(
            "UPDATE payments SET disputed_at = COALESCE(disputed_at, now()), updated_at = now()
             WHERE reference = $1",
        )
        .bind(reference)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE invoices SET disputed_at = COALESCE(disputed_at, now()), updated_at = now()
             WHERE id = $1",
        )
        .bind(invoice_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(invoice.map(|(id,)| id))
}

/// Payments in `state` (all when `None`), newest first.
pub async fn list(db: &PgPool, state: Option<&str>, limit: i64) -> sqlx::Result<Vec<Payment>> {
    sqlx::query_as(
        "SELECT * FROM payments WHERE ($1::text IS NULL OR state = $1)
         ORDER BY verified_at DESC, id DESC LIMIT $2",
    )
    .bind(state)
    .bind(limit)
    .fetch_all(db)
    .await
}
