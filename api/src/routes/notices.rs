//! `/me/preferences` (which optional notices I get) and `/unsubscribe` (an
//! email's link, as JSON). Thin callers of [`crate::service::notices`].

use axum::{
    Router,
    extract::State,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    auth::AuthUser,
    error::{ApiError, ErrorBody},
    extract::ApiJson,
    service::notices::{self as service, NoticePreferences, PreferencesError, UnsubscribeError},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me/preferences", get(show).put(replace))
        .route("/unsubscribe", post(unsubscribe))
}

#[utoipa::path(get, path = "/me/preferences", tag = "auth", operation_id = "get_notice_preferences",
    responses(
        (status = 200, body = NoticePreferences, description = "which optional notices I get (every kind on, a 3600 s lead, until I choose)"),
    ),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<ApiJson<NoticePreferences>, ApiError> {
    Ok(ApiJson(service::get(&state, &user).await?))
}

#[utoipa::path(put, path = "/me/preferences", tag = "auth", operation_id = "put_notice_preferences",
    request_body(content = NoticePreferences, description = "every field: the choices are replaced whole"),
    responses(
        (status = 200, body = NoticePreferences, description = "kept; the next notice of each kind reads them"),
        (status = 422, body = ErrorBody, description = "`invalid_ending_soon_lead` (60 to 604800 s), `invalid_body` (a field missing): nothing is kept"),
    ),
    security(("bearer" = [])))]
pub async fn replace(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(choices): ApiJson<NoticePreferences>,
) -> Result<ApiJson<NoticePreferences>, ApiError> {
    Ok(ApiJson(service::put(&state, &user, choices).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UnsubscribeRequest {
    /// The `token` of an email's unsubscribe link.
    pub token: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Unsubscribed {
    /// The kind of notice stopped: `outbid`, `ending_soon`, `watched_lots`
    /// or `saved_search_digest`.
    #[schema(example = "outbid")]
    pub stopped: String,
}

#[utoipa::path(post, path = "/unsubscribe", tag = "auth", operation_id = "unsubscribe_from_notices",
    request_body = UnsubscribeRequest,
    responses(
        (status = 200, body = Unsubscribed, description = "that kind of notice is stopped for the account the link names (again: no change); no sign-in needed"),
        (status = 400, body = ErrorBody, description = "`invalid_unsubscribe_link`: not a link Gavel signed; nothing changed"),
    ))]
pub async fn unsubscribe(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<UnsubscribeRequest>,
) -> Result<ApiJson<Unsubscribed>, ApiError> {
    let kind = service::unsubscribe(&state, &request.token).await?;
    Ok(ApiJson(Unsubscribed {
        stopped: kind.as_str().to_owned(),
    }))
}

impl From<PreferencesError> for ApiError {
    fn from(err: PreferencesError) -> Self {
        match err {
            PreferencesError::Invalid(err) => err.into(),
            PreferencesError::Database(err) => err.into(),
        }
    }
}

impl From<UnsubscribeError> for ApiError {
    fn from(err: UnsubscribeError) -> Self {
        let message = err.to_string();
        match err {
            UnsubscribeError::InvalidLink => {
                ApiError::bad_request("invalid_unsubscribe_link", message)
            }
            UnsubscribeError::Database(err) => err.into(),
        }
    }
}
