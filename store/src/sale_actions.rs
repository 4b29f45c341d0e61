//! What people do to a paid sale (`sales`, `claims`, and the refunds a
//! settled claim gives back): the seller ships, the buyer confirms receipt
//! or claims, the seller answers, an admin decides. The rows they read are
//! in [`crate::sale_statements`].
//!
//! Every move is one conditional UPDATE (or an INSERT under the sale's lock):
//! the sale's workflow applies its deadlines the same way, so a person's
//! action and a deadline racing it cannot both win. The API nudges the
//! workflow after each move; nothing here talks to it.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    Result,
    sale_statements::{Claim, SaleRow, sale},
    sales::claim_refund_key,
};

/// What a move of a sale came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moved<T> {
    Done(T),
    NotFound,
    /// The user is not the party who may do this; `involved` when they are
    /// the sale's other party (they may see it).
    NotYours {
        involved: bool,
    },
    /// The sale (or the claim) is not where this move starts: its stage or
    /// state now.
    WrongStage(String),
}

/// Why a claim was not opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOpened {
    Opened(Claim),
    NotFound,
    NotYours {
        involved: bool,
    },
    /// Claims are closed at this stage (not yet shipped, or closed).
    ClaimsClosed(String),
    /// This sale has a claim already (one per sale).
    ClaimExists(i64),
    /// More than the buyer paid.
    TooMuch {
        hammer: i64,
    },
}

/// Why a claim's answer or decision gave nothing back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimSettled {
    Settled(Claim),
    NotFound,
    NotYours {
        involved: bool,
    },
    /// The claim is not waiting for this (its state now).
    WrongState(String),
    /// More than is left of the payment to give back.
    TooMuch {
        left: i64,
    },
    /// The sale's payment cannot be refunded through Paystack (offline, or
    /// none): an admin gives money back by hand.
    NotRefundable,
}

/// The parties and stage of a sale, to explain a move that did not happen.
async fn refusal<T>(db: &PgPool, invoice_id: Uuid, user: Uuid, seller: bool) -> Result<Moved<T>> {
    let row = sqlx::query!(
        "SELECT seller_id, buyer_id, stage FROM sales WHERE invoice_id = $1",
        invoice_id
    )
    .fetch_optional(db)
    .await?;
    Ok(match row {
        None => Moved::NotFound,
        Some(row) => {
            let (party, other) = if seller {
                (row.seller_id, row.buyer_id)
            } else {
                (row.buyer_id, row.seller_id)
            };
            if party == user {
                Moved::WrongStage(row.stage)
            } else {
                Moved::NotYours {
                    involved: other == user,
                }
            }
        }
    })
}

/// The seller marks the lot shipped: `awaiting_shipment` → `shipped`.
pub async fn mark_shipped(
    db: &PgPool,
    invoice_id: Uuid,
    seller_id: Uuid,
    carrier: Option<&str>,
    tracking: Option<&str>,
) -> Result<Moved<SaleRow>> {
    let moved = sqlx::query_scalar!(
        "UPDATE sales SET stage = 'shipped', shipped_at = now(), carrier = $3, tracking = $4,
                updated_at = now()
          WHERE invoice_id = $1 AND seller_id = $2 AND stage = 'awaiting_shipment'
          RETURNING invoice_id",
        invoice_id,
        seller_id,
        carrier,
        tracking
    )
    .fetch_optional(db)
    .await?;
    if moved.is_none() {
        return refusal(db, invoice_id, seller_id, true).await;
    }
    done(db, invoice_id).await
}

/// The buyer says the lot arrived: `shipped` → `received`. The claim
/// window's end is the workflow's to set (it keeps the clock).
pub async fn mark_received(
    db: &PgPool,
    invoice_id: Uuid,
    buyer_id: Uuid,
) -> Result<Moved<SaleRow>> {
    let moved = sqlx::query_scalar!(
        "UPDATE sales SET stage = 'received', received_at = now(), updated_at = now()
          WHERE invoice_id = $1 AND buyer_id = $2 AND stage = 'shipped'
          RETURNING invoice_id",
        invoice_id,
        buyer_id
    )
    .fetch_optional(db)
    .await?;
    if moved.is_none() {
        return refusal(db, invoice_id, buyer_id, false).await;
    }
    done(db, invoice_id).await
}

async fn done(db: &PgPool, invoice_id: Uuid) -> Result<Moved<SaleRow>> {
    Ok(match sale(db, invoice_id).await? {
        Some(row) => Moved::Done(row),
        None => Moved::NotFound,
    })
}

/// The buyer opens the sale's one claim, while the lot is shipped or
/// received (the sale's row locked, so the claims deadline cannot close it
/// in between).
pub async fn open_claim(
    db: &PgPool,
    invoice_id: Uuid,
    buyer_id: Uuid,
    reason: &str,
    amount: Option<i64>,
) -> Result<ClaimOpened> {
    let mut tx = db.begin().await?;
    let Some(sale) = sqlx::query!(
        "SELECT seller_id, buyer_id, stage, hammer FROM sales WHERE invoice_id = $1 FOR UPDATE",
        invoice_id
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(ClaimOpened::NotFound);
    };
    if sale.buyer_id != buyer_id {
        return Ok(ClaimOpened::NotYours {
            involved: sale.seller_id == buyer_id,
        });
    }
    if !matches!(sale.stage.as_str(), "shipped" | "received") {
        return Ok(ClaimOpened::ClaimsClosed(sale.stage));
    }
    if amount.is_some_and(|amount| amount > sale.hammer) {
        return Ok(ClaimOpened::TooMuch {
            hammer: sale.hammer,
        });
    }
    let id = sqlx::query_scalar!(
        "INSERT INTO claims (invoice_id, buyer_id, reason, amount) VALUES ($1, $2, $3, $4)
         ON CONFLICT (invoice_id) DO NOTHING RETURNING id",
        invoice_id,
        buyer_id,
        reason,
        amount
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        let existing =
            sqlx::query_scalar!("SELECT id FROM claims WHERE invoice_id = $1", invoice_id)
                .fetch_one(&mut *tx)
                .await?;
        return Ok(ClaimOpened::ClaimExists(existing));
    };
    sqlx::query!(
        "UPDATE sales SET updated_at = now() WHERE invoice_id = $1",
        invoice_id
    )
    .execute(&mut *tx)
    .await?;
    let claim = claim_on(&mut tx, id).await?;
    tx.commit().await?;
    Ok(match claim {
        Some(claim) => ClaimOpened::Opened(claim),
        None => ClaimOpened::NotFound,
    })
}

/// A claim by its id.
pub async fn claim(db: &PgPool, claim_id: i64) -> Result<Option<Claim>> {
    let mut conn = db.acquire().await?;
    claim_on(&mut conn, claim_id).await
}

async fn claim_on(conn: &mut PgConnection, claim_id: i64) -> Result<Option<Claim>> {
    Ok(sqlx::query_as!(
        Claim,
        "SELECT id, invoice_id, buyer_id, reason, amount, state, answer_by, refund_amount,
                refund_id, answered_at, decided_by, decided_at, created_at
           FROM claims WHERE id = $1",
        claim_id
    )
    .fetch_optional(conn)
    .await?)
}

/// The seller answers an open claim: gives back `refund_amount` (by
/// default what the buyer asked, or all that is left) or contests it for
/// an admin to decide.
pub async fn answer_claim(
    db: &PgPool,
    claim_id: i64,
    seller_id: Uuid,
    accept: bool,
    refund_amount: Option<i64>,
) -> Result<ClaimSettled> {
    let mut tx = db.begin().await?;
    let Some(claim) = sqlx::query!(
        "SELECT c.invoice_id, c.state, c.amount, s.seller_id, s.buyer_id
           FROM claims c JOIN sales s ON s.invoice_id = c.invoice_id
          WHERE c.id = $1 FOR UPDATE OF c",
        claim_id
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(ClaimSettled::NotFound);
    };
    if claim.seller_id != seller_id {
        return Ok(ClaimSettled::NotYours {
            involved: claim.buyer_id == seller_id,
        });
    }
    if claim.state != "open" {
        return Ok(ClaimSettled::WrongState(claim.state));
    }
    if accept {
        let refund = match give_back(
            &mut tx,
            claim.invoice_id,
            claim_id,
            refund_amount.or(claim.amount),
            "the seller accepted the buyer's claim",
        )
        .await?
        {
            Ok(refund) => refund,
            Err(refused) => return Ok(refused),
        };
        sqlx::query!(
            "UPDATE claims SET state = 'accepted', refund_amount = $2, refund_id = $3,
                    answered_at = now(), updated_at = now()
              WHERE id = $1",
            claim_id,
            refund.amount,
            refund.id
        )
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query!(
            "UPDATE claims SET state = 'contested', answered_at = now(), updated_at = now()
              WHERE id = $1",
            claim_id
        )
        .execute(&mut *tx)
        .await?;
    }
    settled(tx, claim_id).await
}

/// An admin decides a contested or unanswered claim: `refund_amount` back
/// to the buyer (0: nothing).
pub async fn decide_claim(
    db: &PgPool,
    claim_id: i64,
    admin_id: Uuid,
    refund_amount: i64,
) -> Result<ClaimSettled> {
    let mut tx = db.begin().await?;
    let Some(claim) = sqlx::query!(
        "SELECT invoice_id, state FROM claims WHERE id = $1 FOR UPDATE",
        claim_id
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(ClaimSettled::NotFound);
    };
    if !matches!(claim.state.as_str(), "contested" | "unanswered") {
        return Ok(ClaimSettled::WrongState(claim.state));
    }
    let refund_id = if refund_amount > 0 {
        match give_back(
            &mut tx,
            claim.invoice_id,
            claim_id,
            Some(refund_amount),
            "an admin decided the buyer's claim",
        )
        .await?
        {
            Ok(refund) => Some(refund.id),
            Err(refused) => return Ok(refused),
        }
    } else {
        None
    };
    sqlx::query!(
        "UPDATE claims SET state = 'decided', refund_amount = $2, refund_id = $3,
                decided_by = $4, decided_at = now(), updated_at = now()
          WHERE id = $1",
        claim_id,
        refund_amount.max(0),
        refund_id,
        admin_id
    )
    .execute(&mut *tx)
    .await?;
    settled(tx, claim_id).await
}

async fn settled(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    claim_id: i64,
) -> Result<ClaimSettled> {
    let claim = claim_on(&mut tx, claim_id).await?;
    tx.commit().await?;
    Ok(match claim {
        Some(claim) => ClaimSettled::Settled(claim),
        None => ClaimSettled::NotFound,
    })
}

/// A claim's refund as recorded.
struct GivenBack {
    id: i64,
    amount: i64,
}

/// Records the claim's refund under the sale's payment (locked, so refunds
/// never add up to more than it), for the sale's workflow to ask Paystack
/// for; `amount` `None` gives back all that is left.
async fn give_back(
    tx: &mut PgConnection,
    invoice_id: Uuid,
    claim_id: i64,
    amount: Option<i64>,
    reason: &str,
) -> Result<std::result::Result<GivenBack, ClaimSettled>> {
    let Some(payment) = sqlx::query!(
        "SELECT id, amount, channel FROM payments
          WHERE invoice_id = $1 AND pays_invoice ORDER BY id LIMIT 1 FOR UPDATE",
        invoice_id
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(Err(ClaimSettled::NotRefundable));
    };
    if payment.channel != "paystack" {
        return Ok(Err(ClaimSettled::NotRefundable));
    }
    let taken = sqlx::query_scalar!(
        r#"SELECT COALESCE(sum(amount), 0)::bigint AS "taken!" FROM refunds
            WHERE payment_id = $1 AND state <> 'failed'"#,
        payment.id
    )
    .fetch_one(&mut *tx)
    .await?;
    let left = payment.amount - taken;
    let amount = amount.unwrap_or(left);
    if amount < 1 || amount > left {
        return Ok(Err(ClaimSettled::TooMuch { left }));
    }
    let key = claim_refund_key(claim_id);
    let id = sqlx::query_scalar!(
        "INSERT INTO refunds (payment_id, amount, reason, asked_by, idempotency_key)
         VALUES ($1, $2, $3, NULL, $4) RETURNING id",
        payment.id,
        amount,
        reason,
        key
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(Ok(GivenBack { id, amount }))
}
