//! My watchlist: `PUT`/`DELETE /me/watchlist/{auction_id}` watch and
//! unwatch a lot, `GET /me/watchlist` lists the watched lots with their live
//! prices. A watched lot's "ending soon" email goes a chosen time before its
//! end (see the account's notice preferences).

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{get, put},
};
use gavel_store::watchlist::WATCHLIST_MAX;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use crate::service::watchlist::WatchedLotResponse;
use crate::state::AppState;
use crate::{
    auth::AuthUser,
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath},
    service::watchlist::{self, WatchError},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me/watchlist", get(list))
        .route("/me/watchlist/{auction_id}", put(watch).delete(unwatch))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Watchlist {
    /// Newest watched first, at most 200.
    pub items: Vec<WatchedLotResponse>,
}

#[utoipa::path(get, path = "/me/watchlist", tag = "watchlist", operation_id = "list_watchlist",
    responses(
        (status = 200, body = Watchlist, description = "the lots I watch, newest watched first, with live prices"),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<ApiJson<Watchlist>, ApiError> {
    let items = watchlist::list(&state, user.id).await?;
    Ok(ApiJson(Watchlist {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(put, path = "/me/watchlist/{auction_id}", tag = "watchlist", operation_id = "watch_lot",
    params(("auction_id" = Uuid, Path)),
    responses(
        (status = 204, description = "watched (watching it already is fine): it is on my watchlist and I get its ending-soon email"),
        (status = 404, body = ErrorBody, description = "`auction_not_found`"),
        (status = 409, body = ErrorBody, description = "`too_many_watched`: the watchlist holds 200 lots already"),
    ),
    security(("bearer" = [])))]
pub async fn watch(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(auction_id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    watchlist::watch(&state, user.id, auction_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/me/watchlist/{auction_id}", tag = "watchlist", operation_id = "unwatch_lot",
    params(("auction_id" = Uuid, Path)),
    responses(
        (status = 204, description = "not watched any more (not watching it is fine)"),
        (status = 404, body = ErrorBody, description = "`auction_not_found`"),
    ),
    security(("bearer" = [])))]
pub async fn unwatch(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(auction_id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    watchlist::unwatch(&state, user.id, auction_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<WatchError> for ApiError {
    fn from(err: WatchError) -> Self {
        match err {
            WatchError::NotFound => ApiError::auction_not_found(),
            WatchError::Full => ApiError::new(
                StatusCode::CONFLICT,
                "too_many_watched",
                format!("a watchlist holds at most {WATCHLIST_MAX} lots: unwatch one first"),
            ),
            WatchError::Database(err) => err.into(),
        }
    }
}
