//! An account's own data: everything `GET /me/export` hands its owner (no
//! hash, token or card code), what stands in the way of deleting it, and
//! the deletion itself, which pseudonymises the `users` row (bids and
//! invoices kept for the books still point at it) and drops what only
//! served the person.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool, types::Json};
use uuid::Uuid;

use crate::Result;

/// The account as its owner sees it.
#[derive(Debug, Clone, Serialize)]
pub struct AccountData {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub handle: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub email_verified_at: Option<DateTime<Utc>>,
}

/// The account, `None` when there is none or it was deleted.
pub async fn account(db: &PgPool, user: Uuid) -> Result<Option<AccountData>> {
    let account = sqlx::query_as!(
        AccountData,
        "SELECT id, email, name, handle, role, created_at, email_verified_at
         FROM users WHERE id = $1 AND deleted_at IS NULL",
        user
    )
    .fetch_optional(db)
    .await?;
    Ok(account)
}

/// One of the account's bids, its maximum included (it is theirs).
#[derive(Debug, Clone, Serialize)]
pub struct BidData {
    pub id: Uuid,
    pub auction_id: Uuid,
    pub title: String,
    pub currency: String,
    pub amount: i64,
    pub max_amount: i64,
    pub standing: String,
    pub placed_at: DateTime<Utc>,
}

/// Every bid of the account, newest first.
pub async fn bids(db: &PgPool, user: Uuid) -> Result<Vec<BidData>> {
    let bids = sqlx::query_as!(
        BidData,
        "SELECT b.id, b.auction_id, a.title, a.currency, b.amount, b.max_amount, b.standing,
             b.placed_at
         FROM bids b JOIN auctions a ON a.id = b.auction_id
         WHERE b.bidder_id = $1 ORDER BY b.placed_at DESC, b.id",
        user
    )
    .fetch_all(db)
    .await?;
    Ok(bids)
}

/// One invoice the account is the buyer or the seller of.
#[derive(Debug, Clone, Serialize)]
pub struct InvoiceData {
    pub id: Uuid,
    pub number: String,
    pub auction_id: Uuid,
    pub title: String,
    /// `buyer` or `seller`.
    pub side: String,
    pub status: String,
    pub currency: String,
    pub total: i64,
    pub line_items: Json<Value>,
    pub due_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Every invoice of the account, as buyer or seller, newest first (no
/// payment reference or pay link: those open a checkout).
pub async fn invoices(db: &PgPool, user: Uuid) -> Result<Vec<InvoiceData>> {
    let invoices = sqlx::query_as!(
        InvoiceData,
        r#"SELECT i.id, i.number, i.auction_id, a.title,
               CASE WHEN i.buyer_id = $1 THEN 'buyer' ELSE 'seller' END AS "side!",
               i.status, i.currency, i.total, i.line_items AS "line_items: Json<Value>",
               i.due_at, i.paid_at, i.created_at
           FROM invoices i JOIN auctions a ON a.id = i.auction_id
           WHERE i.buyer_id = $1 OR i.seller_id = $1
           ORDER BY i.created_at DESC, i.id"#,
        user
    )
    .fetch_all(db)
    .await?;
    Ok(invoices)
}

/// What keeps an account from being deleted, each naming what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// `unpaid_invoice`, `open_win`, `leading_bid`, `open_auction` or
    /// `sale_in_flight`.
    pub kind: String,
    /// The invoice or auction it is about.
    pub id: Uuid,
    /// Its invoice number, or the lot's title.
    pub name: String,
}

/// Everything that must end before `user` can go: an invoice to pay, a lot
/// won and not yet invoiced, a live lot it leads, its own lots still
/// running or awaiting payment, and its sales (bought or sold) not closed.
pub async fn blockers(db: impl sqlx::PgExecutor<'_>, user: Uuid) -> Result<Vec<Blocker>> {
    let blockers = sqlx::query_as!(
        Blocker,
        r#"SELECT 'unpaid_invoice' AS "kind!", i.id AS "id!", i.number AS "name!"
             FROM invoices i WHERE i.buyer_id = $1 AND i.status = 'open'
           UNION ALL
           SELECT 'open_win', a.id, a.title FROM auctions a
             WHERE a.status = 'awaiting_payment' AND a.outcome->>'winner_id' = $1::text
               AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.auction_id = a.id
                               AND i.buyer_id = $1 AND i.status = 'open')
           UNION ALL
           SELECT 'leading_bid', a.id, a.title FROM auctions a
             WHERE a.leader_id = $1 AND a.status IN ('scheduled', 'open')
           UNION ALL
           SELECT 'open_auction', a.id, a.title FROM auctions a
             WHERE a.seller_id = $1 AND a.status IN ('scheduled', 'open', 'awaiting_payment')
           UNION ALL
           SELECT 'sale_in_flight', s.invoice_id, a.title FROM sales s
             JOIN auctions a ON a.id = s.auction_id
             WHERE (s.seller_id = $1 OR s.buyer_id = $1)
               AND s.stage IN ('awaiting_shipment', 'shipped', 'received')
           LIMIT 50"#,
        user
    )
    .fetch_all(db)
    .await?;
    Ok(blockers)
}

/// Locks `user`'s row in `tx` for its deletion, so a change of role or
/// password waits for it; `false` when the account is gone already.
pub async fn lock_for_deletion(tx: &mut PgConnection, user: Uuid) -> Result<bool> {
    let found = sqlx::query_scalar!(
        "SELECT id FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
        user
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(found.is_some())
}

/// Deletes `user` in `tx`: the row keeps its id (bids and invoices point at
/// it) under a name, handle and address made from the id, an unusable
/// password and `deleted_at`; its sessions end; its saved searches,
/// preferences, emailed links and kept cards go. `false` when it was gone
/// already. The caller bumps the token version and commits.
pub async fn pseudonymise(tx: &mut PgConnection, user: Uuid) -> Result<bool> {
    let short = &user.simple().to_string()[..12];
    let updated = sqlx::query!(
        "UPDATE users SET email = $2, name = 'Deleted account', handle = $3,
             password_hash = '!deleted', deleted_at = now(), updated_at = now()
         WHERE id = $1 AND deleted_at IS NULL",
        user,
        format!("deleted-{}@deleted.invalid", user.simple()),
        format!("deleted-{short}"),
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(false);
    }
    sqlx::query!(
        "UPDATE sessions SET ended_at = now() WHERE user_id = $1 AND ended_at IS NULL",
        user
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("DELETE FROM saved_searches WHERE user_id = $1", user)
        .execute(&mut *tx)
        .await?;
    sqlx::query!("DELETE FROM notice_preferences WHERE user_id = $1", user)
        .execute(&mut *tx)
        .await?;
    sqlx::query!("DELETE FROM account_tokens WHERE user_id = $1", user)
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "DELETE FROM payment_authorizations WHERE user_id = $1",
        user
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("DELETE FROM watchlist WHERE user_id = $1", user)
        .execute(&mut *tx)
        .await?;
    // Without its key, every unsubscribe link the account was sent is void.
    sqlx::query!("DELETE FROM unsubscribe_keys WHERE user_id = $1", user)
        .execute(&mut *tx)
        .await?;
    Ok(true)
}
