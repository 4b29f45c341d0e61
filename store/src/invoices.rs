//! Invoices in PostgreSQL: created once per (auction, round), numbered,
//! rendered as HTML; an offer opened when accepted; voided (with a strike)
//! or closed exactly once. Payments against them are in [`super::ledger`].

use chrono::{DateTime, Utc};
use gavel_workflows::contract::settlement::{InvoiceRef, InvoiceRequest};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, types::Json};
use uuid::Uuid;

use crate::Result;

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub description: String,
    pub amount: i64,
}

/// Where an invoice stands (stored in `invoices.status`).
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
pub enum InvoiceStatus {
    /// A second-chance offer waiting for its answer.
    Offered,
    /// Payable.
    Open,
    Paid,
    /// Unpaid in time (the buyer got a strike).
    Void,
    /// An offer the runner-up turned down.
    Declined,
    /// An offer nobody answered in time.
    Expired,
    /// Paid, but the seller never shipped: refunded in full.
    CancelledUnshipped,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone)]
pub struct Invoice {
    pub id: Uuid,
    pub auction_id: Uuid,
    pub round: i32,
    pub number: String,
    pub buyer_id: Uuid,
    pub seller_id: Uuid,
    pub currency: String,
    pub total: i64,
    pub line_items: Json<Vec<LineItem>>,
    pub status: InvoiceStatus,
    pub reference: String,
    pub authorization_url: Option<String>,
    pub due_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub paid_via: Option<String>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub disputed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The invoice id for (auction, round): the same on every retry.
pub fn invoice_id(auction_id: Uuid, round: u32) -> Uuid {
    Uuid::new_v5(&auction_id, format!("invoice-{round}").as_bytes())
}

/// `GV-` and the first 12 hex digits of the id, upper case.
fn number_for(id: Uuid) -> String {
    format!("GV-{}", &id.simple().to_string()[..12].to_uppercase())
}

/// The invoice's first Paystack reference: only `[A-Za-z0-9.=-]`,
/// deterministic, so a retried call can never create a second transaction.
pub fn first_reference(id: Uuid) -> String {
    format!("gavel-{}", id.simple())
}

/// Creates the invoice if it does not exist; returns it either way.
pub async fn create(db: &PgPool, request: &InvoiceRequest) -> Result<InvoiceRef> {
    let id = invoice_id(request.auction_id, request.round);
    let items = vec![LineItem {
        description: format!("{} (auction lot)", request.title),
        amount: request.amount,
    }];
    let total: i64 = items.iter().map(|i| i.amount).sum();
    let status = if request.offer {
        InvoiceStatus::Offered
    } else {
        InvoiceStatus::Open
    };
    let round: i32 = crate::fits(request.round)?;
    sqlx::query!(
        "INSERT INTO invoices (id, auction_id, round, number, buyer_id, seller_id, currency,
             total, line_items, status, reference, due_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (id) DO NOTHING",
        id,
        request.auction_id,
        round,
        number_for(id),
        request.buyer_id,
        request.seller_id,
        request.currency.code(),
        total,
        Json(&items) as _,
        status.as_str(),
        first_reference(id),
        request.due_at,
    )
    .execute(db)
    .await?;
    remember_reference(db, id, &first_reference(id)).await?;
    let invoice = find(db, id)
        .await?
        .ok_or_else(|| sqlx::Error::RowNotFound)?;
    Ok(InvoiceRef {
        invoice_id: invoice.id,
        number: invoice.number,
        total: invoice.total,
    })
}

pub async fn find(db: &PgPool, id: Uuid) -> Result<Option<Invoice>> {
    sqlx::query_as!(
        Invoice,
        r#"SELECT id, auction_id, round, number, buyer_id, seller_id, currency, total,
               line_items AS "line_items: Json<Vec<LineItem>>", status AS "status: InvoiceStatus",
               reference, authorization_url, due_at, paid_at, paid_via, accepted_at, disputed_at,
               created_at
           FROM invoices WHERE id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
    .map_err(Into::into)
}

async fn find_some(db: &PgPool, id: Option<Uuid>) -> Result<Option<Invoice>> {
    match id {
        Some(id) => find(db, id).await,
        None => Ok(None),
    }
}

/// Invoices `user_id` pays or is paid by, newest first.
pub async fn of_user(db: &PgPool, user_id: Uuid, limit: i64) -> Result<Vec<Invoice>> {
    sqlx::query_as!(
        Invoice,
        r#"SELECT id, auction_id, round, number, buyer_id, seller_id, currency, total,
               line_items AS "line_items: Json<Vec<LineItem>>", status AS "status: InvoiceStatus",
               reference, authorization_url, due_at, paid_at, paid_via, accepted_at, disputed_at,
               created_at
           FROM invoices WHERE buyer_id = $1 OR seller_id = $1
           ORDER BY created_at DESC LIMIT $2"#,
        user_id,
        limit
    )
    .fetch_all(db)
    .await
    .map_err(Into::into)
}

/// The invoice whose id or number (`GV-…`) is `text`.
pub async fn find_by_id_or_number(db: &PgPool, text: &str) -> Result<Option<Invoice>> {
    let id = sqlx::query_scalar!(
        "SELECT id FROM invoices WHERE id::text = $1 OR number = $1",
        text
    )
    .fetch_optional(db)
    .await?;
    find_some(db, id).await
}

/// The invoice any of whose references is `reference`.
pub async fn find_by_reference(db: &PgPool, reference: &str) -> Result<Option<Invoice>> {
    let id = sqlx::query_scalar!(
        "SELECT invoice_id FROM invoice_references WHERE reference = $1",
        reference
    )
    .fetch_optional(db)
    .await?;
    find_some(db, id).await
}

async fn remember_reference(db: &PgPool, id: Uuid, reference: &str) -> Result<()> {
    sqlx::query!(
        "INSERT INTO invoice_references (reference, invoice_id) VALUES ($1, $2)
         ON CONFLICT DO NOTHING",
        reference,
        id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Moves the invoice to a fresh reference (the old one was used by a charge
/// or a checkout whose link was lost); the old one still finds the invoice.
pub async fn use_reference(db: &PgPool, id: Uuid, reference: &str) -> Result<()> {
    remember_reference(db, id, reference).await?;
    sqlx::query!(
        "UPDATE invoices SET reference = $2, updated_at = now() WHERE id = $1",
        id,
        reference
    )
    .execute(db)
    .await?;
    Ok(())
}

/// How many references the invoice has had.
pub async fn references_used(db: &PgPool, id: Uuid) -> Result<i64> {
    let used = sqlx::query_scalar!(
        r#"SELECT count(*) AS "used!" FROM invoice_references WHERE invoice_id = $1"#,
        id
    )
    .fetch_one(db)
    .await?;
    Ok(used)
}

/// Whether `reference` is one of the invoice's.
pub async fn has_reference(db: &PgPool, id: Uuid, reference: &str) -> Result<bool> {
    let found = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM invoice_references
                          WHERE reference = $1 AND invoice_id = $2) AS "found!""#,
        reference,
        id
    )
    .fetch_one(db)
    .await?;
    Ok(found)
}

pub async fn set_pay_link(db: &PgPool, id: Uuid, url: &str) -> Result<()> {
    sqlx::query!(
        "UPDATE invoices SET authorization_url = $2, updated_at = now() WHERE id = $1",
        id,
        url
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Turns an accepted offer into an open invoice due at `due_at` (again
/// harmless: an open invoice stays as it is).
pub async fn accept_offer(db: &PgPool, id: Uuid, due_at: DateTime<Utc>) -> Result<()> {
    sqlx::query!(
        "UPDATE invoices SET status = 'open', due_at = $2, accepted_at = now(), updated_at = now()
         WHERE id = $1 AND status = 'offered'",
        id,
        due_at
    )
    .execute(db)
    .await?;
    Ok(())
}

/// How an offer nobody took up ends (no strike either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferEnd {
    Declined,
    Expired,
}

pub async fn close_offer(db: &PgPool, id: Uuid, end: OfferEnd) -> Result<()> {
    let status = match end {
        OfferEnd::Declined => InvoiceStatus::Declined,
        OfferEnd::Expired => InvoiceStatus::Expired,
    };
    sqlx::query!(
        "UPDATE invoices SET status = $2, updated_at = now() WHERE id = $1 AND status = 'offered'",
        id,
        status.as_str()
    )
    .execute(db)
    .await?;
    Ok(())
}

/// What voiding found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voided {
    /// Void now (or before), with the buyer's strike.
    Voided,
    /// Paid before the void could happen.
    Paid,
}

/// Voids an open invoice and records the buyer's strike, in one
/// transaction; an invoice that is paid stays paid.
pub async fn void(db: &PgPool, id: Uuid) -> Result<Voided> {
    let mut tx = db.begin().await?;
    let voided = sqlx::query!(
        "UPDATE invoices SET status = 'void', updated_at = now()
         WHERE id = $1 AND status = 'open' RETURNING buyer_id, auction_id",
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(voided) = voided {
        sqlx::query!(
            "INSERT INTO strikes (invoice_id, user_id, auction_id) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            id,
            voided.buyer_id,
            voided.auction_id
        )
        .execute(&mut *tx)
        .await?;
    }
    let status = sqlx::query_scalar!(
        r#"SELECT status AS "status: InvoiceStatus" FROM invoices WHERE id = $1"#,
        id
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(if status == InvoiceStatus::Paid {
        Voided::Paid
    } else {
        Voided::Voided
    })
}

/// Records whether the buyer wants the card that pays `id` kept for later
/// wins; only while the invoice can still be paid.
pub async fn set_save_card(db: &PgPool, id: Uuid, save_card: bool) -> Result<()> {
    sqlx::query!(
        "UPDATE invoices SET save_card = $2, updated_at = now()
         WHERE id = $1 AND status IN ('open', 'offered')",
        id,
        save_card
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Whether the buyer asked, when paying invoice `id`, to keep their card.
pub async fn save_card(db: &PgPool, id: Uuid) -> Result<bool> {
    let asked = sqlx::query_scalar!("SELECT save_card FROM invoices WHERE id = $1", id)
        .fetch_one(db)
        .await?;
    Ok(asked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_stable_and_paystack_safe() {
        let id = invoice_id(Uuid::from_u128(7), 2);
        assert_eq!(id, invoice_id(Uuid::from_u128(7), 2));
        assert_ne!(id, invoice_id(Uuid::from_u128(7), 3));
        assert!(gavel_paystack::valid_reference(&first_reference(id)));
        assert!(number_for(id).starts_with("GV-"));
    }
}
