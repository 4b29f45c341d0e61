//! A buyer's saved cards: the cards they agreed to keep for later wins
//! (`save_card` when asking to pay), listed without the code that charges
//! them, and removable. A removed card is never charged again.

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{delete, get},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::cards::SavedCard;
use crate::{
    auth::AuthUser,
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath},
    service::invoices::{self, CardError},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me/cards", get(list))
        .route("/me/cards/{id}", delete(remove))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SavedCardList {
    pub items: Vec<SavedCard>,
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
        items: invoices::saved_cards(&state, user.id.into()).await?,
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
    invoices::remove_card(&state, user.id.into(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<CardError> for ApiError {
    fn from(err: CardError) -> Self {
        match err {
            CardError::NotFound => {
                ApiError::not_found("card_not_found", "no saved card of yours has this id")
            }
            CardError::Database(err) => err.into(),
        }
    }
}
