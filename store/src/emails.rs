//! The `emails` table: every lifecycle email, stored once per idempotency
//! key before it is sent, then marked sent (or only recorded).

use gavel_workflows::ids::{AuctionId, UserId};
use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::Result;

/// Where an email stands (stored in `emails.status`).
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
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum EmailStatus {
    /// Stored, not yet handed to Brevo.
    Pending,
    /// Brevo accepted it.
    Sent,
    /// Kept in the table only (no `BREVO_API_KEY`).
    Recorded,
    /// Never handed over: Brevo refused it for good, or every attempt
    /// failed (account emails; the person asks again).
    Failed,
    /// An optional notice its recipient had switched off when it was due:
    /// never handed over, and never sent by a retry.
    Skipped,
}

impl EmailStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The status of the email under `key`, if one is stored.
pub async fn status(db: &PgPool, key: &str) -> Result<Option<EmailStatus>> {
    let status = sqlx::query_scalar!(
        r#"SELECT status AS "status: EmailStatus" FROM emails WHERE idempotency_key = $1"#,
        key
    )
    .fetch_optional(db)
    .await?;
    Ok(status)
}

/// A rendered email, to store before sending.
#[derive(Debug, Clone, Copy)]
pub struct NewEmail<'a> {
    pub id: Uuid,
    pub idempotency_key: &'a str,
    pub kind: &'a str,
    pub recipient_id: UserId,
    pub recipient_email: &'a str,
    pub auction_id: AuctionId,
    pub round: i32,
    pub occasion: i64,
    pub subject: &'a str,
    pub html_body: &'a str,
    pub text_body: &'a str,
}

/// Stores `email` as pending; an email already stored under its key stays
/// as it is.
pub async fn store_pending(db: &PgPool, email: NewEmail<'_>) -> Result<()> {
    insert(
        db,
        Stored {
            id: email.id,
            idempotency_key: email.idempotency_key,
            kind: email.kind,
            recipient_id: email.recipient_id,
            recipient_email: email.recipient_email,
            auction: Some((email.auction_id, email.round, email.occasion)),
            subject: email.subject,
            html_body: email.html_body,
            text_body: email.text_body,
            status: EmailStatus::Pending,
        },
    )
    .await
}

/// Keeps `email` as skipped (its recipient does not want its kind): a new
/// row, or one left pending by an earlier attempt; one already handed over
/// stays as it is.
///
/// Not through [`insert`], on purpose: that one leaves a stored row alone
/// (`DO NOTHING`, which takes no row lock, unlike a `DO UPDATE … WHERE`
/// even when nothing is updated) and stamps `sent_at` on any status but
/// pending, while a skipped email was never handed over.
pub async fn store_skipped(db: &PgPool, email: NewEmail<'_>) -> Result<()> {
    sqlx::query!(
        "INSERT INTO emails (id, idempotency_key, kind, recipient_id, recipient_email,
             auction_id, round, occasion, subject, html_body, text_body, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'skipped')
         ON CONFLICT (idempotency_key) DO UPDATE SET status = 'skipped'
         WHERE emails.status = 'pending'",
        email.id,
        email.idempotency_key,
        email.kind,
        email.recipient_id.0,
        email.recipient_email,
        email.auction_id.0,
        email.round,
        email.occasion,
        email.subject,
        email.html_body,
        email.text_body
    )
    .execute(db)
    .await?;
    Ok(())
}

/// An email about an account rather than an auction (verify the address,
/// reset the password), to store before sending.
#[derive(Debug, Clone, Copy)]
pub struct NewAccountEmail<'a> {
    pub id: Uuid,
    pub idempotency_key: &'a str,
    pub kind: &'a str,
    pub recipient_id: UserId,
    pub recipient_email: &'a str,
    pub subject: &'a str,
    pub html_body: &'a str,
    pub text_body: &'a str,
    pub status: EmailStatus,
}

/// Stores an account email with `status` (no auction); one already stored
/// under its key stays as it is.
pub async fn store_account(db: impl PgExecutor<'_>, email: NewAccountEmail<'_>) -> Result<()> {
    insert(
        db,
        Stored {
            id: email.id,
            idempotency_key: email.idempotency_key,
            kind: email.kind,
            recipient_id: email.recipient_id,
            recipient_email: email.recipient_email,
            auction: None,
            subject: email.subject,
            html_body: email.html_body,
            text_body: email.text_body,
            status: email.status,
        },
    )
    .await
}

/// An email as first stored, about an auction or an account.
struct Stored<'a> {
    id: Uuid,
    idempotency_key: &'a str,
    kind: &'a str,
    recipient_id: UserId,
    recipient_email: &'a str,
    /// The auction, offer round and occasion; `None` for an account email
    /// (the columns' defaults: no auction, round and occasion 0).
    auction: Option<(AuctionId, i32, i64)>,
    subject: &'a str,
    html_body: &'a str,
    text_body: &'a str,
    status: EmailStatus,
}

/// Stores `email` unless one is stored under its key already (that one
/// stays as it is). Any status but pending was reached now: it gets its
/// `sent_at`.
async fn insert(db: impl PgExecutor<'_>, email: Stored<'_>) -> Result<()> {
    let (auction_id, round, occasion) = match email.auction {
        Some((auction, round, occasion)) => (Some(auction.0), round, occasion),
        None => (None, 0, 0),
    };
    sqlx::query!(
        "INSERT INTO emails (id, idempotency_key, kind, recipient_id, recipient_email,
             auction_id, round, occasion, subject, html_body, text_body, status, sent_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
             CASE WHEN $12 = 'pending' THEN NULL ELSE now() END)
         ON CONFLICT (idempotency_key) DO NOTHING",
        email.id,
        email.idempotency_key,
        email.kind,
        email.recipient_id.0,
        email.recipient_email,
        auction_id,
        round,
        occasion,
        email.subject,
        email.html_body,
        email.text_body,
        email.status.as_str(),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// An account email stored and not yet handed to Brevo.
#[derive(Debug, Clone)]
pub struct PendingEmail {
    pub id: Uuid,
    pub idempotency_key: String,
    pub recipient_email: String,
    pub subject: String,
    pub html_body: String,
    pub text_body: String,
}

/// `user`'s `kind` emails still pending, oldest first (at most 10: what a
/// retry has left to send).
pub async fn pending_of(db: &PgPool, user: UserId, kind: &str) -> Result<Vec<PendingEmail>> {
    let pending = sqlx::query_as!(
        PendingEmail,
        "SELECT id, idempotency_key, recipient_email, subject, html_body, text_body
         FROM emails WHERE recipient_id = $1 AND kind = $2 AND status = 'pending'
         ORDER BY created_at LIMIT 10",
        user.0,
        kind
    )
    .fetch_all(db)
    .await?;
    Ok(pending)
}

/// Marks the email under `key` as handed over (`status`), with Brevo's
/// message id when there is one.
pub async fn mark(
    db: &PgPool,
    key: &str,
    status: EmailStatus,
    message_id: Option<String>,
) -> Result<()> {
    sqlx::query!(
        "UPDATE emails SET status = $2, message_id = COALESCE($3, message_id), sent_at = now()
         WHERE idempotency_key = $1",
        key,
        status.as_str(),
        message_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// How many (auction, kind, recipient, round) among auctions `ids` have
/// more than one email: each should have one.
pub async fn duplicates_among(db: &PgPool, auctions: &[Uuid]) -> Result<i64> {
    let duplicates = sqlx::query_scalar!(
        r#"SELECT count(*) AS "duplicates!" FROM (SELECT auction_id, kind, recipient_id, round
           FROM emails WHERE auction_id = ANY($1) GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) d"#,
        auctions
    )
    .fetch_one(db)
    .await?;
    Ok(duplicates)
}
