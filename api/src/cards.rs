//! Saved cards in PostgreSQL (`payment_authorizations` a buyer agreed to
//! keep): listed without the code that charges them, and removed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

/// A saved card, as its owner sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct SavedCard {
    pub id: i64,
    /// `visa`, `mastercard`, `verve`, … as Paystack names it.
    pub brand: Option<String>,
    pub last4: Option<String>,
    /// When its owner agreed to keep it.
    pub saved_at: DateTime<Utc>,
}

/// The cards `user_id` agreed to keep, newest first (the one charged first).
pub async fn saved_cards(db: &PgPool, user_id: Uuid) -> sqlx::Result<Vec<SavedCard>> {
    sqlx::query_as!(
        SavedCard,
        r#"SELECT id, brand, last4, consented_at AS "saved_at!" FROM payment_authorizations
           WHERE user_id = $1 AND consented_at IS NOT NULL ORDER BY updated_at DESC, id DESC"#,
        user_id
    )
    .fetch_all(db)
    .await
}

/// Removes card `id` of `user_id`; whether there was one.
pub async fn remove_card(db: &PgPool, user_id: Uuid, id: i64) -> sqlx::Result<bool> {
    let removed = sqlx::query!(
        "DELETE FROM payment_authorizations WHERE user_id = $1 AND id = $2",
        user_id,
        id
    )
    .execute(db)
    .await?;
    Ok(removed.rows_affected() > 0)
}
