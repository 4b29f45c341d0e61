//! Refunds of payments (the `refunds` table): rows under a payment that
//! only move forward (`requested` → `pending` → `processing` → `processed` |
//! `failed`), never add up to more than the payment (a trigger checks, the
//! payment locked), and the payment's state is derived from them (a trigger).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::ledger::paystack_id;
use crate::Result;

/// Where a refund is: forward only, `processed` and `failed` final.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    sqlx::Type,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum RefundState {
    /// Recorded; Paystack has not answered yet.
    Requested,
    Pending,
    Processing,
    Processed,
    Failed,
}

impl RefundState {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Paystack's refund status as a step of ours; `None` for one that is
    /// no step (`needs-attention`), which is noted but moves nothing.
    pub fn from_paystack(status: &str) -> Option<Self> {
        match status {
            "pending" => Some(Self::Pending),
            "processing" => Some(Self::Processing),
            "processed" => Some(Self::Processed),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One refund of a payment.
#[derive(Debug, Clone, Serialize)]
pub struct Refund {
    pub id: i64,
    pub payment_id: i64,
    pub amount: i64,
    pub reason: String,
    pub state: RefundState,
    pub paystack_status: Option<String>,
    pub paystack_refund_id: Option<i64>,
    /// The admin who asked; `None` when Gavel gave back money it could not keep.
    pub asked_by: Option<Uuid>,
    pub requested_at: Option<DateTime<Utc>>,
    pub processed_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// One refund.
pub async fn refund(db: &PgPool, id: i64) -> Result<Option<Refund>> {
    sqlx::query_as!(
        Refund,
        r#"SELECT id, payment_id, amount, reason, state AS "state: RefundState", paystack_status,
               paystack_refund_id, asked_by, requested_at, processed_at, failed_at, created_at
           FROM refunds WHERE id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
    .map_err(Into::into)
}

/// The refunds of `payment_ids`, oldest first.
pub async fn refunds_of(db: &PgPool, payment_ids: &[i64]) -> Result<Vec<Refund>> {
    sqlx::query_as!(
        Refund,
        r#"SELECT id, payment_id, amount, reason, state AS "state: RefundState", paystack_status,
               paystack_refund_id, asked_by, requested_at, processed_at, failed_at, created_at
           FROM refunds WHERE payment_id = ANY($1) ORDER BY payment_id, id"#,
        payment_ids
    )
    .fetch_all(db)
    .await
    .map_err(Into::into)
}

/// The refund Gavel makes of money it could not keep (the payment's first).
pub async fn whole_refund_of(db: &PgPool, payment_id: i64) -> Result<Option<i64>> {
    sqlx::query_scalar!(
        "SELECT id FROM refunds WHERE payment_id = $1 AND asked_by IS NULL ORDER BY id LIMIT 1",
        payment_id
    )
    .fetch_optional(db)
    .await
    .map_err(Into::into)
}

/// Notes that a refund is about to be asked for (committed before the call,
/// so a retry after a lost answer knows to look first).
pub async fn refund_requested(db: &PgPool, id: i64) -> Result<()> {
    sqlx::query!(
        "UPDATE refunds SET requested_at = COALESCE(requested_at, now()), updated_at = now()
         WHERE id = $1",
        id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Moves refund `id` to Paystack's `status`, only ever forward: a step
/// behind (or a repeat) changes nothing, and a final state stays. Paystack's
/// own word is kept while the refund is not final. Returns the refund's state.
pub async fn refund_moved(
    db: &PgPool,
    id: i64,
    refund_id: Option<u64>,
    status: &str,
) -> Result<Option<RefundState>> {
    let mut conn = db.acquire().await?;
    move_refund(&mut conn, id, paystack_id(refund_id)?, None, status).await
}

/// [`refund_moved`] on `conn`; Paystack's id and event reference, once
/// known, stick.
async fn move_refund(
    conn: &mut sqlx::PgConnection,
    id: i64,
    refund_id: Option<i64>,
    reference: Option<&str>,
    status: &str,
) -> Result<Option<RefundState>> {
    let to = RefundState::from_paystack(status).map(RefundState::as_str);
    sqlx::query_scalar!(
        r#"UPDATE refunds SET
             state = CASE WHEN $3::text IS NOT NULL AND refund_rank($3) > refund_rank(state)
                          THEN $3 ELSE state END,
             paystack_status = CASE WHEN refund_rank(state) < 3 THEN $4 ELSE paystack_status END,
             paystack_refund_id = COALESCE(paystack_refund_id, $2),
             paystack_reference = COALESCE(paystack_reference, $5),
             processed_at = CASE WHEN $3 = 'processed' AND refund_rank(state) < 3 THEN now()
                                 ELSE processed_at END,
             failed_at = CASE WHEN $3 = 'failed' AND refund_rank(state) < 3 THEN now()
                              ELSE failed_at END,
             updated_at = now()
           WHERE id = $1 RETURNING state AS "state: RefundState""#,
        id,
        refund_id,
        to,
        status,
        reference
    )
    .fetch_optional(conn)
    .await
    .map_err(Into::into)
}

/// What a refund webhook came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundReport {
    /// It moved (or noted Paystack's word on) this refund of ours.
    Moved(i64),
    /// It is about a refund that is already further along: nothing changed.
    Stale,
    /// A refund made outside Gavel (Paystack's dashboard), recorded now.
    Recorded(i64),
    /// It could be about any of these refunds (ours, with Paystack's id
    /// when known): nothing changed; Paystack is to be asked about each.
    Ambiguous(Vec<(i64, Option<u64>)>),
    /// It may be about a refund Paystack has not answered us for yet:
    /// nothing changed; asking for that refund finds it on Paystack.
    NotAnswered,
    /// No payment of ours, or a refund that cannot be one of it (no amount,
    /// or more than is left): stored only.
    Unknown,
}

/// Which refund a webhook is about, as Paystack names it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RefundNamed<'a> {
    /// This refund's amount (minor units).
    pub amount: Option<i64>,
    /// Paystack's refund id (`id`, only in `refund.needs-attention`).
    pub id: Option<u64>,
    /// The event's `refund_reference`.
    pub reference: Option<&'a str>,
}

/// A refund webhook for the transaction `reference`. The refund it is about:
/// the one with the event's Paystack id or refund reference; else, among
/// refunds Paystack has accepted (never one still waiting for Paystack's
/// answer) and not yet tied to another id or reference, the one of that
/// amount, which the event's id and reference are then tied to. When
/// several are of that amount, none is guessed
/// ([`RefundReport::Ambiguous`]: Paystack is asked about each that can
/// still move). An event about a refund that is already
/// further along changes nothing; one about no refund of ours (made on
/// Paystack's dashboard) records it, if it fits the payment.
pub async fn refund_reported(
    db: &PgPool,
    reference: &str,
    status: &str,
    named: RefundNamed<'_>,
) -> Result<RefundReport> {
    let rank: i32 = match RefundState::from_paystack(status) {
        Some(RefundState::Requested) | None => 3,
        Some(RefundState::Pending) => 1,
        Some(RefundState::Processing) => 2,
        Some(RefundState::Processed | RefundState::Failed) => 3,
    };
    // Every answer ends the transaction at once: a payment left locked
    // would hold up the refund's own activity.
    let mut tx = db.begin().await?;
    let report = report_refund(&mut tx, reference, status, rank, named).await?;
    tx.commit().await?;
    Ok(report)
}

async fn report_refund(
    tx: &mut sqlx::PgConnection,
    reference: &str,
    status: &str,
    rank: i32,
    named: RefundNamed<'_>,
) -> Result<RefundReport> {
    let refund_id = paystack_id(named.id)?;
    let refund_ref = named.reference.filter(|r| !r.is_empty());
    let amount = named.amount;
    // The payment locked: events about one refund are matched one at a time.
    let Some(payment_id) = sqlx::query_scalar!(
        "SELECT id FROM payments WHERE reference = $1 FOR UPDATE",
        reference
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(RefundReport::Unknown);
    };
    let by_name = sqlx::query!(
        r#"SELECT id, refund_rank(state) < $4 AS "movable!" FROM refunds
           WHERE payment_id = $1 AND (paystack_refund_id = $2 OR paystack_reference = $3)
           ORDER BY (paystack_refund_id = $2) IS TRUE DESC, id LIMIT 1"#,
        payment_id,
        refund_id,
        refund_ref,
        rank
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(found) = by_name {
        if !found.movable {
            return Ok(RefundReport::Stale);
        }
        move_refund(tx, found.id, refund_id, refund_ref, status).await?;
        return Ok(RefundReport::Moved(found.id));
    }
    // Paystack accepted it: it answered with an id, or the refund is
    // already under way (recorded from Paystack's own events).
    let candidates = sqlx::query!(
        r#"SELECT id, paystack_refund_id, refund_rank(state) < $5 AS "movable!" FROM refunds
           WHERE payment_id = $1
             AND (paystack_refund_id IS NOT NULL OR state <> 'requested')
             AND ($2::bigint IS NULL OR paystack_refund_id IS NULL)
             AND ($3::text IS NULL OR paystack_reference IS NULL)
             AND ($4::bigint IS NULL OR amount = $4)
           ORDER BY id"#,
        payment_id,
        refund_id,
        refund_ref,
        amount,
        rank
    )
    .fetch_all(&mut *tx)
    .await?;
    // A refund of ours asked of Paystack whose answer has not been recorded
    // (lost, or still on its way) may be the one this event is about: the
    // event waits (Paystack redelivers it) until that answer is in, rather
    // than be pinned on another refund of the same amount or recorded twice.
    if let Some(amount) = amount {
        let unanswered = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM refunds
               WHERE payment_id = $1 AND state = 'requested' AND paystack_refund_id IS NULL
                 AND requested_at IS NOT NULL AND amount = $2"#,
            payment_id,
            amount
        )
        .fetch_one(&mut *tx)
        .await?;
        if unanswered > 0 {
            return Ok(RefundReport::NotAnswered);
        }
    }
    let movable: Vec<_> = candidates.iter().filter(|c| c.movable).collect();
    // Only a refund that is the one of its amount is taken on the event's
    // word: with another of that amount (even one further along, whose
    // event this may be), Paystack is asked instead.
    match movable.as_slice() {
        [one] if candidates.len() == 1 => {
            move_refund(tx, one.id, refund_id, refund_ref, status).await?;
            return Ok(RefundReport::Moved(one.id));
        }
        [_, ..] => {
            return Ok(RefundReport::Ambiguous(
                movable
                    .iter()
                    .map(|c| {
                        (
                            c.id,
                            c.paystack_refund_id.and_then(|id| u64::try_from(id).ok()),
                        )
                    })
                    .collect(),
            ));
        }
        [] if !candidates.is_empty() => return Ok(RefundReport::Stale),
        [] => {}
    }
    let Some(amount) = amount.filter(|a| *a > 0) else {
        return Ok(RefundReport::Unknown);
    };
    let left = sqlx::query_scalar!(
        r#"SELECT (p.amount - COALESCE(sum(r.amount) FILTER (WHERE r.state <> 'failed'), 0))::bigint
             AS "left!"
           FROM payments p LEFT JOIN refunds r ON r.payment_id = p.id
           WHERE p.id = $1 GROUP BY p.id"#,
        payment_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if amount > left {
        return Ok(RefundReport::Unknown);
    }
    let id = sqlx::query_scalar!(
        "INSERT INTO refunds (payment_id, amount, reason) VALUES ($1, $2,
             'refunded outside Gavel (Paystack dashboard)') RETURNING id",
        payment_id,
        amount
    )
    .fetch_one(&mut *tx)
    .await?;
    move_refund(tx, id, refund_id, refund_ref, status).await?;
    Ok(RefundReport::Recorded(id))
}

/// What asking for a refund of a payment came to.
#[derive(Debug)]
pub enum RefundAsked {
    /// Recorded now; a workflow is to ask Paystack.
    Recorded(Refund),
    /// Asked before with this key and the same amount and reason.
    Again(Refund),
    /// The key was used for another refund.
    KeyReused,
    /// More than what is left of the payment (`left`).
    TooMuch {
        left: i64,
    },
    /// Not money Paystack holds (offline), or given back whole already.
    NotRefundable(&'static str),
    NoPayment,
}

/// An admin asks for `amount` of payment `payment_id` back. Checked and
/// recorded with the payment locked, so two requests cannot both fit.
pub async fn ask_refund(
    db: &PgPool,
    payment_id: i64,
    amount: i64,
    reason: &str,
    admin: Uuid,
    key: &str,
) -> Result<RefundAsked> {
    let mut tx = db.begin().await?;
    let Some(payment) = sqlx::query!(
        "SELECT amount, channel, pays_invoice FROM payments WHERE id = $1 FOR UPDATE",
        payment_id
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(RefundAsked::NoPayment);
    };
    let earlier = sqlx::query_as!(
        Refund,
        r#"SELECT id, payment_id, amount, reason, state AS "state: RefundState", paystack_status,
               paystack_refund_id, asked_by, requested_at, processed_at, failed_at, created_at
           FROM refunds WHERE payment_id = $1 AND idempotency_key = $2"#,
        payment_id,
        key
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(earlier) = earlier {
        tx.commit().await?;
        return Ok(if earlier.amount == amount && earlier.reason == reason {
            RefundAsked::Again(earlier)
        } else {
            RefundAsked::KeyReused
        });
    }
    if payment.channel != "paystack" {
        return Ok(RefundAsked::NotRefundable(
            "an offline payment is given back by hand",
        ));
    }
    if !payment.pays_invoice {
        return Ok(RefundAsked::NotRefundable(
            "this payment could not pay its invoice and is given back whole already",
        ));
    }
    let taken = sqlx::query_scalar!(
        r#"SELECT COALESCE(sum(amount), 0)::bigint AS "taken!" FROM refunds
           WHERE payment_id = $1 AND state <> 'failed'"#,
        payment_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let left = payment.amount - taken;
    if amount > left {
        return Ok(RefundAsked::TooMuch { left });
    }
    let id = sqlx::query_scalar!(
        "INSERT INTO refunds (payment_id, amount, reason, asked_by, idempotency_key)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        payment_id,
        amount,
        reason,
        admin,
        key
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(RefundAsked::Recorded(
        refund(db, id).await?.ok_or(sqlx::Error::RowNotFound)?,
    ))
}
