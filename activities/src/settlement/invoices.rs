//! Invoices in PostgreSQL: created once per (auction, round), numbered,
//! rendered as HTML; an offer opened when accepted; voided (with a strike)
//! or closed exactly once. Payments against them are in [`super::ledger`].

use chrono::{DateTime, Utc};
use gavel_workflows::settlement::{InvoiceRef, InvoiceRequest};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, PgPool, types::Json};
use uuid::Uuid;

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub description: String,
    pub amount: i64,
}

#[derive(Debug, Clone, FromRow)]
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
    pub status: String,
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
pub async fn create(db: &PgPool, request: &InvoiceRequest) -> sqlx::Result<InvoiceRef> {
    let id = invoice_id(request.auction_id, request.round);
    let items = vec![LineItem {
        description: format!("{} (auction lot)", request.title),
        amount: request.amount,
    }];
    let total: i64 = items.iter().map(|i| i.amount).sum();
    sqlx::query(
        "INSERT INTO invoices (id, auction_id, round, number, buyer_id, seller_id, currency,
             total, line_items, status, reference, due_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $12, $10, $11)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(request.auction_id)
    .bind(i32::try_from(request.round).unwrap_or(i32::MAX))
    .bind(number_for(id))
    .bind(request.buyer_id)
    .bind(request.seller_id)
    .bind(request.currency.code())
    .bind(total)
    .bind(Json(&items))
    .bind(first_reference(id))
    .bind(request.due_at)
    .bind(if request.offer { "offered" } else { "open" })
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

pub async fn find(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Invoice>> {
    sqlx::query_as("SELECT * FROM invoices WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The invoice any of whose references is `reference`.
pub async fn find_by_reference(db: &PgPool, reference: &str) -> sqlx::Result<Option<Invoice>> {
    sqlx::query_as(
        "SELECT i.* FROM invoices i JOIN invoice_references r ON r.invoice_id = i.id
         WHERE r.reference = $1",
    )
    .bind(reference)
    .fetch_optional(db)
    .await
}

async fn remember_reference(db: &PgPool, id: Uuid, reference: &str) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO invoice_references (reference, invoice_id) VALUES ($1, $2)
         ON CONFLICT DO NOTHING",
    )
    .bind(reference)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Moves the invoice to a fresh reference (the old one was used by a charge
/// or a checkout whose link was lost); the old one still finds the invoice.
pub async fn use_reference(db: &PgPool, id: Uuid, reference: &str) -> sqlx::Result<()> {
    remember_reference(db, id, reference).await?;
    sqlx::query("UPDATE invoices SET reference = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(reference)
        .execute(db)
        .await?;
    Ok(())
}

/// Whether `reference` is one of the invoice's.
pub async fn has_reference(db: &PgPool, id: Uuid, reference: &str) -> sqlx::Result<bool> {
    let found: Option<(i32,)> =
        sqlx::query_as("SELECT 1 FROM invoice_references WHERE reference = $1 AND invoice_id = $2")
            .bind(reference)
            .bind(id)
            .fetch_optional(db)
            .await?;
    Ok(found.is_some())
}

pub async fn set_pay_link(db: &PgPool, id: Uuid, url: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE invoices SET authorization_url = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(url)
        .execute(db)
        .await?;
    Ok(())
}

/// Turns an accepted offer into an open invoice due at `due_at` (again
/// harmless: an open invoice stays as it is).
pub async fn accept_offer(db: &PgPool, id: Uuid, due_at: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE invoices SET status = 'open', due_at = $2, accepted_at = now(), updated_at = now()
         WHERE id = $1 AND status = 'offered'",
    )
    .bind(id)
    .bind(due_at)
    .execute(db)
    .await?;
    Ok(())
}

/// An offer nobody took up: `declined` or `expired` (no strike).
pub async fn close_offer(db: &PgPool, id: Uuid, status: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE invoices SET status = $2, updated_at = now() WHERE id = $1 AND status = 'offered'",
    )
    .bind(id)
    .bind(status)
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
pub async fn void(db: &PgPool, id: Uuid) -> sqlx::Result<Voided> {
    let mut tx = db.begin().await?;
    let voided: Option<(Uuid, Uuid)> = sqlx::query_as(
        "UPDATE invoices SET status = 'void', updated_at = now()
         WHERE id = $1 AND status = 'open' RETURNING buyer_id, auction_id",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((buyer, auction)) = voided {
        sqlx::query(
            "INSERT INTO strikes (invoice_id, user_id, auction_id) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(buyer)
        .bind(auction)
        .execute(&mut *tx)
        .await?;
    }
    let (status,): (String,) = sqlx::query_as("SELECT status FROM invoices WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(if status == "paid" {
        Voided::Paid
    } else {
        Voided::Voided
    })
}

/// `125000` kobo in NGN → `NGN 1,250.00`.
pub fn format_money(amount: i64, currency: &str) -> String {
    let major = amount / 100;
    let minor = (amount % 100).abs();
    let digits = major.abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if amount < 0 { "-" } else { "" };
    format!("{currency} {sign}{grouped}.{minor:02}")
}

/// Escapes text for HTML bodies.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The invoice as an HTML fragment for email.
pub fn render_html(invoice: &Invoice) -> String {
    let rows: String = invoice
        .line_items
        .iter()
        .map(|item| {
            format!(
                "<tr><td>{}</td><td style=\"text-align:right\">{}</td></tr>",
                escape(&item.description),
                format_money(item.amount, &invoice.currency)
            )
        })
        .collect();
    format!(
        "<table><caption>Invoice {number}</caption>{rows}\
         <tr><th>Total</th><th style=\"text-align:right\">{total}</th></tr></table>\
         <p>Due by {due} UTC.</p>",
        number = escape(&invoice.number),
        total = format_money(invoice.total, &invoice.currency),
        due = invoice.due_at.format("%Y-%m-%d %H:%M"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_formatted_from_minor_units() {
        assert_eq!(format_money(125_000, "NGN"), "NGN 1,250.00");
        assert_eq!(format_money(5, "USD"), "USD 0.05");
        assert_eq!(format_money(123_456_789, "KES"), "KES 1,234,567.89");
    }

    #[test]
    fn references_are_stable_and_paystack_safe() {
        let id = invoice_id(Uuid::from_u128(7), 2);
        assert_eq!(id, invoice_id(Uuid::from_u128(7), 2));
        assert_ne!(id, invoice_id(Uuid::from_u128(7), 3));
        assert!(crate::paystack::valid_reference(&first_reference(id)));
        assert!(number_for(id).starts_with("GV-"));
    }
}
