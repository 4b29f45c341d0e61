//! The `payment_authorizations` table: cards a buyer agreed to keep for
//! later wins (written when a payment with "save my card" is kept), listed
//! and removed by their owner, and charged first for a later win.

use chrono::{DateTime, Utc};
use gavel_workflows::ids::UserId;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::Result;

/// A saved card, as its owner sees it.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct SavedCard {
    pub id: i64,
    /// `visa`, `mastercard`, `verve`, … as Paystack names it.
    pub brand: Option<String>,
    pub last4: Option<String>,
    /// When its owner agreed to keep it.
    pub saved_at: DateTime<Utc>,
}

/// The cards `user_id` agreed to keep, newest first (the one charged first).
pub async fn saved(db: &PgPool, user_id: UserId) -> Result<Vec<SavedCard>> {
    let cards = sqlx::query_as!(
        SavedCard,
        r#"SELECT id, brand, last4, consented_at AS "saved_at!" FROM payment_authorizations
           WHERE user_id = $1 AND consented_at IS NOT NULL ORDER BY updated_at DESC, id DESC"#,
        user_id.0
    )
    .fetch_all(db)
    .await?;
    Ok(cards)
}

/// Removes card `id` of `user_id`; whether there was one.
pub async fn remove(db: &PgPool, user_id: UserId, id: i64) -> Result<bool> {
    let removed = sqlx::query!(
        "DELETE FROM payment_authorizations WHERE user_id = $1 AND id = $2",
        user_id.0,
        id
    )
    .execute(db)
    .await?;
    Ok(removed.rows_affected() > 0)
}

/// A reusable card `user_id` agreed to keep for later wins, newest first.
#[derive(Debug, Clone)]
pub struct StoredCard {
    pub authorization_code: String,
    pub email: String,
}

/// The card to charge first for `user_id`'s win, if they kept one.
pub async fn to_charge(db: &PgPool, user_id: UserId) -> Result<Option<StoredCard>> {
    let card = sqlx::query_as!(
        StoredCard,
        "SELECT authorization_code, email FROM payment_authorizations
         WHERE user_id = $1 AND consented_at IS NOT NULL ORDER BY updated_at DESC LIMIT 1",
        user_id.0
    )
    .fetch_optional(db)
    .await?;
    Ok(card)
}

/// A reusable card as Paystack described it.
#[derive(Debug, Clone, Copy)]
pub struct CardToKeep<'a> {
    pub signature: &'a str,
    pub authorization_code: &'a str,
    pub email: &'a str,
    pub last4: Option<&'a str>,
    pub brand: Option<&'a str>,
}

/// Keeps `card` for `user_id`'s later wins (consented now).
pub async fn keep(db: &PgPool, user_id: UserId, card: CardToKeep<'_>) -> Result<()> {
    sqlx::query!(
        "INSERT INTO payment_authorizations (user_id, signature, authorization_code, email, last4,
             brand, consented_at)
         VALUES ($1, $2, $3, $4, $5, $6, now())
         ON CONFLICT (user_id, signature) DO UPDATE SET authorization_code = EXCLUDED.authorization_code,
             email = EXCLUDED.email, consented_at = now(), updated_at = now()",
        user_id.0,
        card.signature,
        card.authorization_code,
        card.email,
        card.last4,
        card.brand
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Stores a placeholder card (`SIG_<id>`, `AUTH_<id>`, `email`) for each of
/// `users`, without recording consent (benchmarks seed these).
pub async fn insert_placeholders(db: &PgPool, users: &[uuid::Uuid], email: &str) -> Result<()> {
    sqlx::query!(
        "INSERT INTO payment_authorizations (user_id, signature, authorization_code, email)
         SELECT id, 'SIG_' || id, 'AUTH_' || id, $2 FROM unnest($1::uuid[]) AS u(id)",
        users,
        email,
    )
    .execute(db)
    .await?;
    Ok(())
}
