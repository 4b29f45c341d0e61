//! The ledger of verified payments (`payments`): every one is recorded once
//! by its reference and either pays its invoice (`kept`) or is given back
//! (`refunding` → `refunded`, or `refund_failed`). Deciding which happens in
//! one transaction with the invoice locked, so two payments racing for one
//! invoice cannot both pay it, and a payment racing its void cannot be kept
//! by a void invoice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::invoices::InvoiceStatus;

/// What became of a payment (stored in `payments.state`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    sqlx::Type,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum PaymentState {
    /// It paid its invoice.
    Kept,
    /// It could not pay its invoice; a refund is under way.
    Refunding,
    Refunded,
    /// Paystack could not refund it: an admin settles it by hand.
    RefundFailed,
}

impl PaymentState {
    pub const ALL: &[PaymentState] = <PaymentState as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

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
#[derive(Debug, Clone, Serialize)]
pub struct Payment {
    pub id: i64,
    pub invoice_id: Uuid,
    pub reference: String,
    pub paystack_id: Option<i64>,
    pub amount: i64,
    pub currency: String,
    pub channel: String,
    pub state: PaymentState,
    pub refund_reason: Option<String>,
    pub refund_requested_at: Option<DateTime<Utc>>,
    pub paystack_refund_id: Option<i64>,
    pub refund_status: Option<String>,
    pub refunded_at: Option<DateTime<Utc>>,
    pub disputed_at: Option<DateTime<Utc>>,
    pub verified_at: DateTime<Utc>,
}

/// Paystack's ids are positive 64-bit numbers; one that does not fit a
/// BIGINT is an error, never dropped.
fn paystack_id(id: Option<u64>) -> sqlx::Result<Option<i64>> {
    id.map(crate::fits).transpose()
}

/// The invoice's status, total and currency, locked until the transaction ends.
async fn lock_invoice(
    tx: &mut sqlx::PgConnection,
    invoice_id: Uuid,
) -> sqlx::Result<(InvoiceStatus, i64, String)> {
    let row = sqlx::query!(
        r#"SELECT status AS "status: InvoiceStatus", total, currency
           FROM invoices WHERE id = $1 FOR UPDATE"#,
        invoice_id
    )
    .fetch_one(tx)
    .await?;
    Ok((row.status, row.total, row.currency))
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
    let (status, total, currency) = lock_invoice(&mut tx, invoice_id).await?;
    let earlier = sqlx::query!(
        r#"SELECT id, state AS "state: PaymentState", amount, refund_reason
           FROM payments WHERE reference = $1"#,
        paid.reference
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(earlier) = earlier {
        tx.commit().await?;
        return Ok(if earlier.state == PaymentState::Kept {
            Accounted::Kept
        } else {
            Accounted::Refund {
                payment_id: earlier.id,
                amount: earlier.amount,
                reason: earlier.refund_reason.unwrap_or_default(),
            }
        });
    }
    let matches = paid.amount == total && paid.currency == currency;
    if status == InvoiceStatus::Open && matches {
        sqlx::query!(
            "UPDATE invoices SET status = 'paid', paid_at = now(), paid_via = 'paystack',
                 updated_at = now() WHERE id = $1",
            invoice_id
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO payments (invoice_id, reference, paystack_id, amount, currency, channel, state)
             VALUES ($1, $2, $3, $4, $5, 'paystack', 'kept')",
            invoice_id,
            paid.reference,
            paystack_id(paid.paystack_id)?,
            paid.amount,
            paid.currency
        )
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
    } else if status == InvoiceStatus::Paid {
        "the invoice was already paid".to_owned()
    } else {
        format!("the invoice is {}", status.as_str())
    };
    let payment_id = sqlx::query_scalar!(
        "INSERT INTO payments (invoice_id, reference, paystack_id, amount, currency, channel,
             state, refund_reason)
         VALUES ($1, $2, $3, $4, $5, 'paystack', 'refunding', $6) RETURNING id",
        invoice_id,
        paid.reference,
        paystack_id(paid.paystack_id)?,
        paid.amount,
        paid.currency,
        &reason
    )
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
    let (status, total, currency) = lock_invoice(&mut tx, invoice_id).await?;
    match status {
        InvoiceStatus::Paid => {
            tx.commit().await?;
            return Ok(true);
        }
        InvoiceStatus::Open => {}
        _ => {
            tx.commit().await?;
            return Ok(false);
        }
    }
    sqlx::query!(
        "UPDATE invoices SET status = 'paid', paid_at = now(), paid_via = 'offline',
             updated_at = now() WHERE id = $1",
        invoice_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO payments (invoice_id, reference, amount, currency, channel, state)
         VALUES ($1, $2, $3, $4, 'offline', 'kept') ON CONFLICT DO NOTHING",
        invoice_id,
        format!("offline-{invoice_id}"),
        total,
        &currency
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

pub async fn find(db: &PgPool, id: i64) -> sqlx::Result<Option<Payment>> {
    sqlx::query_as!(
        Payment,
        r#"SELECT id, invoice_id, reference, paystack_id, amount, currency, channel,
               state AS "state: PaymentState", refund_reason, refund_requested_at,
               paystack_refund_id, refund_status, refunded_at, disputed_at, verified_at
           FROM payments WHERE id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// Notes that a refund is about to be asked for (committed before the call,
/// so a retry after a lost answer knows to look first).
pub async fn refund_requested(db: &PgPool, id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE payments SET refund_requested_at = COALESCE(refund_requested_at, now()),
             updated_at = now() WHERE id = $1",
        id
    )
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
    sqlx::query!(
        "UPDATE payments SET paystack_refund_id = COALESCE($2, paystack_refund_id),
             refund_status = $3, updated_at = now() WHERE id = $1",
        id,
        paystack_id(refund_id)?,
        status
    )
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
        "processed" => Some(PaymentState::Refunded),
        "failed" => Some(PaymentState::RefundFailed),
        _ => None,
    };
    sqlx::query_scalar!(
        "UPDATE payments SET refund_status = $2,
             state = COALESCE($3, CASE WHEN state = 'kept' THEN 'refunding' ELSE state END),
             refunded_at = CASE WHEN $3 = 'refunded' THEN now() ELSE refunded_at END,
             updated_at = now()
         WHERE reference = $1 RETURNING id",
        reference,
        status,
        state.map(PaymentState::as_str)
    )
    .fetch_optional(db)
    .await
}

/// A dispute (chargeback) on `reference`: the payment and its invoice are
/// flagged. Returns the invoice, if the reference is known.
pub async fn disputed(db: &PgPool, reference: &str) -> sqlx::Result<Option<Uuid>> {
    let mut tx = db.begin().await?;
    let invoice = sqlx::query_scalar!(
        "SELECT invoice_id FROM invoice_references WHERE reference = $1",
        reference
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(invoice_id) = invoice {
        sqlx::query!(
            "UPDATE payments SET disputed_at = COALESCE(disputed_at, now()), updated_at = now()
             WHERE reference = $1",
            reference
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE invoices SET disputed_at = COALESCE(disputed_at, now()), updated_at = now()
             WHERE id = $1",
            invoice_id
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(invoice)
}

/// Payments in `state` (all when `None`), newest first.
pub async fn list(
    db: &PgPool,
    state: Option<PaymentState>,
    limit: i64,
) -> sqlx::Result<Vec<Payment>> {
    sqlx::query_as!(
        Payment,
        r#"SELECT id, invoice_id, reference, paystack_id, amount, currency, channel,
               state AS "state: PaymentState", refund_reason, refund_requested_at,
               paystack_refund_id, refund_status, refunded_at, disputed_at, verified_at
           FROM payments WHERE ($1::text IS NULL OR state = $1)
           ORDER BY verified_at DESC, id DESC LIMIT $2"#,
        state.map(PaymentState::as_str),
        limit
    )
    .fetch_all(db)
    .await
}
