//! Invoices in PostgreSQL: created once per (auction, round), numbered,
//! rendered as HTML, paid or voided exactly once.

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

/// The Paystack reference: only `[A-Za-z0-9.=-]`, deterministic, so a
/// retried call can never create a second transaction.
fn reference_for(id: Uuid) -> String {
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
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10, $11)
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
    .bind(reference_for(id))
    .bind(request.due_at)
    .execute(db)
    .await?;
    remember_reference(db, id, &reference_for(id)).await?;
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

/// What was paid, for the `payments` row.
pub struct PaymentRecord<'a> {
    pub reference: &'a str,
    pub paystack_id: Option<u64>,
    pub amount: i64,
    pub currency: &'a str,
    pub channel: &'a str,
}

/// Marks an open invoice paid and records the payment, once. `false` when
/// the invoice was void (a payment that came too late).
pub async fn mark_paid(db: &PgPool, id: Uuid, payment: &PaymentRecord<'_>) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let updated = sqlx::query(
        "UPDATE invoices SET status = 'paid', paid_at = now(), paid_via = $2, updated_at = now()
         WHERE id = $1 AND status IN ('open', 'paid')",
    )
    .bind(id)
    .bind(payment.channel)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO payments (invoice_id, reference, paystack_id, amount, currency, channel)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (invoice_id) DO NOTHING",
    )
    .bind(id)
    .bind(payment.reference)
    .bind(payment.paystack_id.and_then(|i| i64::try_from(i).ok()))
    .bind(payment.amount)
    .bind(payment.currency)
    .bind(payment.channel)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Voids an unpaid invoice and records the buyer's strike, once.
pub async fn void(db: &PgPool, id: Uuid) -> sqlx::Result<()> {
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
    tx.commit().await
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
        assert!(crate::paystack::valid_reference(&reference_for(id)));
        assert!(number_for(id).starts_with("GV-"));
    }
}
