//! The ledger of verified payments (`payments`): every payment is recorded
//! once by its reference and either pays its invoice or is given back whole.
//! Deciding which happens in one transaction with the invoice locked, so two
//! payments racing for one invoice cannot both pay it, and a payment racing
//! its void cannot be kept by a void invoice. Their refunds are
//! [`super::refunds`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::invoices::InvoiceStatus;

use crate::Result;

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
    /// It paid its invoice (a refund of it may be under way).
    Kept,
    /// It paid its invoice and part of it was given back.
    PartlyRefunded,
    /// It could not pay its invoice; a refund is under way.
    Refunding,
    /// All of it was given back.
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
    /// Whether it paid its invoice (else it is given back whole).
    pub pays_invoice: bool,
    /// How much of it went back (refunds `processed`).
    pub refunded: i64,
}

/// Paystack's ids are positive 64-bit numbers; one that does not fit a
/// BIGINT is an error, never dropped.
pub(crate) fn paystack_id(id: Option<u64>) -> Result<Option<i64>> {
    Ok(id.map(crate::fits).transpose()?)
}

/// The invoice's status, total and currency, locked until the transaction ends.
async fn lock_invoice(
    tx: &mut sqlx::PgConnection,
    invoice_id: Uuid,
) -> Result<(InvoiceStatus, i64, String)> {
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
pub async fn account(db: &PgPool, invoice_id: Uuid, paid: &Verified<'_>) -> Result<Accounted> {
    let mut tx = db.begin().await?;
    let (status, total, currency) = lock_invoice(&mut tx, invoice_id).await?;
    let earlier = sqlx::query!(
        r#"SELECT id, pays_invoice, amount, refund_reason
           FROM payments WHERE reference = $1"#,
        paid.reference
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(earlier) = earlier {
        tx.commit().await?;
        return Ok(if earlier.pays_invoice {
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
             state, refund_reason, pays_invoice)
         VALUES ($1, $2, $3, $4, $5, 'paystack', 'refunding', $6, false) RETURNING id",
        invoice_id,
        paid.reference,
        paystack_id(paid.paystack_id)?,
        paid.amount,
        paid.currency,
        &reason
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO refunds (payment_id, amount, reason) VALUES ($1, $2, $3)",
        payment_id,
        paid.amount,
        &reason
    )
    .execute(&mut *tx)
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
pub async fn pay_offline(db: &PgPool, invoice_id: Uuid) -> Result<bool> {
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

pub async fn find(db: &PgPool, id: i64) -> Result<Option<Payment>> {
    sqlx::query_as!(
        Payment,
        r#"SELECT id, invoice_id, reference, paystack_id, amount, currency, channel,
               state AS "state: PaymentState", refund_reason, refund_requested_at,
               paystack_refund_id, refund_status, refunded_at, disputed_at, verified_at,
               pays_invoice,
               (SELECT COALESCE(sum(r.amount), 0) FROM refunds r
                 WHERE r.payment_id = payments.id AND r.state = 'processed')::bigint
                 AS "refunded!"
           FROM payments WHERE id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
    .map_err(Into::into)
}

/// A dispute (chargeback) on `reference`: the payment and its invoice are
/// flagged. Returns the invoice, if the reference is known.
pub async fn disputed(db: &PgPool, reference: &str) -> Result<Option<Uuid>> {
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
pub async fn list(db: &PgPool, state: Option<PaymentState>, limit: i64) -> Result<Vec<Payment>> {
    sqlx::query_as!(
        Payment,
        r#"SELECT id, invoice_id, reference, paystack_id, amount, currency, channel,
               state AS "state: PaymentState", refund_reason, refund_requested_at,
               paystack_refund_id, refund_status, refunded_at, disputed_at, verified_at,
               pays_invoice,
               (SELECT COALESCE(sum(r.amount), 0) FROM refunds r
                 WHERE r.payment_id = payments.id AND r.state = 'processed')::bigint
                 AS "refunded!"
           FROM payments WHERE ($1::text IS NULL OR state = $1)
           ORDER BY verified_at DESC, id DESC LIMIT $2"#,
        state.map(PaymentState::as_str),
        limit
    )
    .fetch_all(db)
    .await
    .map_err(Into::into)
}

/// What [`dispute_resolved`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeResolved {
    pub invoice_id: Uuid,
    /// The refund recorded for money Paystack gave back (`None`: nothing
    /// given back, or recorded before under this dispute).
    pub refund_id: Option<i64>,
}

/// Paystack resolved the dispute on the payment `reference`: the invoice's
/// dispute ends (a payout it held may go ahead) and, when Paystack gave the
/// buyer `given_back` minor units, a processed refund of that much (at most
/// what is left of the payment) is recorded under the payment once per
/// dispute (`dispute-{dispute_id}`), so paid = payout + commission + refunds
/// still holds. `None` for a reference Gavel does not know.
pub async fn dispute_resolved(
    db: &PgPool,
    reference: &str,
    dispute_id: &str,
    given_back: Option<i64>,
) -> Result<Option<DisputeResolved>> {
    let mut tx = db.begin().await?;
    let Some(invoice_id) = sqlx::query_scalar!(
        "SELECT invoice_id FROM invoice_references WHERE reference = $1",
        reference
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    sqlx::query!(
        "UPDATE invoices SET disputed_at = COALESCE(disputed_at, now()),
                dispute_resolved_at = COALESCE(dispute_resolved_at, now()), updated_at = now()
          WHERE id = $1",
        invoice_id
    )
    .execute(&mut *tx)
    .await?;
    let mut refund_id = None;
    if let Some(given_back) = given_back.filter(|amount| *amount > 0) {
        // The payment locked: the refunds' sum is read and added to at once.
        let payment = sqlx::query!(
            r#"SELECT p.id, (p.amount - COALESCE((SELECT sum(r.amount) FROM refunds r
                                                  WHERE r.payment_id = p.id
                                                    AND r.state <> 'failed'), 0))::bigint
                     AS "left!"
                 FROM payments p WHERE p.reference = $1 FOR UPDATE"#,
            reference
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(payment) = payment {
            let amount = given_back.min(payment.left);
            let key = format!("dispute-{dispute_id}");
            if amount > 0 {
                refund_id = sqlx::query_scalar!(
                    "INSERT INTO refunds (payment_id, amount, reason, state, paystack_status,
                                          idempotency_key, processed_at)
                     VALUES ($1, $2, 'dispute', 'processed', 'processed', $3, now())
                     ON CONFLICT (payment_id, idempotency_key) DO NOTHING RETURNING id",
                    payment.id,
                    amount,
                    key
                )
                .fetch_optional(&mut *tx)
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(Some(DisputeResolved {
        invoice_id,
        refund_id,
    }))
}
