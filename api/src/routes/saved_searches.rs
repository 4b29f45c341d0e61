//! `/me/saved-searches`: the listing's query and filters an account keeps,
//! whose new matches are emailed in a daily digest (the notice preference
//! `saved_search_digest` stops it). Thin callers of
//! [`crate::service::saved_searches`].

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{delete, get},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use crate::service::saved_searches::SavedSearchResponse;
use crate::state::AppState;
use crate::{
    auth::AuthUser,
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath},
    service::saved_searches::{self as service, ListingFilters, SavedSearchError},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me/saved-searches", get(list).post(save))
        .route("/me/saved-searches/{id}", delete(remove))
}

/// A search to save: the listing's own filters (`GET /auctions`), each
/// optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveSearchRequest {
    /// Words in the title or description, at most 100 characters.
    pub q: Option<String>,
    /// One status (`open`, `scheduled`, …); any when left out.
    pub status: Option<String>,
    pub seller_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SavedSearchList {
    pub items: Vec<SavedSearchResponse>,
}

#[utoipa::path(post, path = "/me/saved-searches", tag = "searches", operation_id = "save_search",
    request_body = SaveSearchRequest,
    responses(
        (status = 201, body = SavedSearchResponse, description = "saved: lots listed from now on that match it are emailed in the daily digest"),
        (status = 409, body = ErrorBody, description = "`saved_search_exists`: one of mine has these filters; `too_many_saved_searches`: I have 25 already"),
        (status = 422, body = ErrorBody, description = "`invalid_status`, `invalid_seller_id`, `invalid_query` (as the listing); `status_not_saveable`: a status other than `open` or `scheduled` (the digest names only lots that can be bid on)"),
    ),
    security(("bearer" = [])))]
pub async fn save(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<SaveSearchRequest>,
) -> Result<(StatusCode, ApiJson<SavedSearchResponse>), ApiError> {
    let filters = ListingFilters::parse(
        body.status.as_deref(),
        body.seller_id.as_deref(),
        body.q.as_deref(),
    )
    .map_err(SavedSearchError::from)?;
    let saved = service::save(&state, user.id, filters).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(SavedSearchResponse::of(&saved)),
    ))
}

#[utoipa::path(get, path = "/me/saved-searches", tag = "searches", operation_id = "list_saved_searches",
    responses(
        (status = 200, body = SavedSearchList, description = "my saved searches, oldest first"),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<ApiJson<SavedSearchList>, ApiError> {
    let searches = service::list(&state, user.id).await?;
    Ok(ApiJson(SavedSearchList {
        items: searches.iter().map(SavedSearchResponse::of).collect(),
    }))
}

#[utoipa::path(delete, path = "/me/saved-searches/{id}", tag = "searches", operation_id = "delete_saved_search",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "deleted: its digest stops"),
        (status = 404, body = ErrorBody, description = "`saved_search_not_found` (none of mine has this id)"),
    ),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    service::delete(&state, user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<SavedSearchError> for ApiError {
    fn from(err: SavedSearchError) -> Self {
        match err {
            SavedSearchError::Filter(err) => err.into(),
            err @ SavedSearchError::Exists => {
                ApiError::conflict("saved_search_exists", err.to_string())
            }
            err @ SavedSearchError::TooMany => {
                ApiError::conflict("too_many_saved_searches", err.to_string())
            }
            err @ SavedSearchError::NotFound => {
                ApiError::not_found("saved_search_not_found", err.to_string())
            }
            err @ SavedSearchError::StatusNeverNew => {
                ApiError::unprocessable("status_not_saveable", err.to_string())
            }
            SavedSearchError::Database(err) => err.into(),
        }
    }
}
