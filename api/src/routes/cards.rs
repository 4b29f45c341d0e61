//! A buyer's saved cards: the cards they agreed to keep for later wins
//! (`save_card` when asking to pay), listed without the code that charges
//! them, and removable. A removed card is never charged again.

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{delete, get},
};
use chrono::{DateTime, Utc};
use gavel_store::{StoreError, cards};
use gavel_workflows::ids::UserId;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    auth::AuthUser,
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me/cards", get(list))
        .route("/me/cards/{id}", delete(remove))
}

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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SavedCardList {
    pub items: Vec<SavedCard>,
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

#[utoipa::path(get, path = "/me/cards", tag = "payments", operation_id = "list_saved_cards",
    responses(
        (status = 200, body = SavedCardList, description = "my saved cards, newest (the one charged for my next win) first"),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<ApiJson<SavedCardList>, ApiError> {
    Ok(ApiJson(SavedCardList {
        items: saved_cards(&state.db, user.id).await?,
    }))
}

#[utoipa::path(delete, path = "/me/cards/{id}", tag = "payments", operation_id = "delete_saved_card",
    params(("id" = i64, Path)),
    responses(
        (status = 204, description = "removed: never charged again; my next win gets a pay link"),
        (status = 404, body = ErrorBody, description = "`card_not_found` (none of mine has this id)"),
    ),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    if remove_card(&state.db, user.id, id).await? {
        tracing::info!(user_id = %user.id, card = id, "saved card removed");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(
            "card_not_found",
            "no saved card of yours has this id",
        ))
    }
}
