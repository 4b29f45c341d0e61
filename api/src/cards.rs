//! Saved cards as their owner sees them: the `payment_authorizations` rows a
//! buyer agreed to keep (`gavel_store::cards`), without the code that charges
//! them.

use chrono::{DateTime, Utc};
use gavel_store::{StoreError, cards};
use gavel_workflows::ids::UserId;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

/// A saved card, as its owner sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SavedCard {
    pub id: i64,
    /// `visa`, `mastercard`, `verve`, … as Paystack names it.
    pub brand: Option<String>,
    pub last4: Option<String>,
    /// When its owner agreed to keep it.
    pub saved_at: DateTime<Utc>,
}

/// The cards `user_id` agreed to keep, newest first (the one charged first).
pub async fn saved_cards(db: &PgPool, user_id: Uuid) -> Result<Vec<SavedCard>, StoreError> {
    let cards = cards::saved(db, UserId(user_id)).await?;
    Ok(cards
        .into_iter()
        .map(|card| SavedCard {
            id: card.id,
            brand: card.brand,
            last4: card.last4,
            saved_at: card.saved_at,
        })
        .collect())
}

/// Removes card `id` of `user_id`; whether there was one.
pub async fn remove_card(db: &PgPool, user_id: Uuid, id: i64) -> Result<bool, StoreError> {
    cards::remove(db, UserId(user_id), id).await
}
