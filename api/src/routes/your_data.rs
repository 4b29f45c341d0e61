//! `/me/export` and `DELETE /me`: an account's own data as JSON, and
//! deleting the account. Thin callers of [`crate::service::your_data`].

use axum::{
    Router,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{delete, get},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::{
    auth::AuthUser,
    error::{ApiError, ErrorBody},
    extract::ApiJson,
    limits::ClientIp,
    routes::{saved_searches::SavedSearchResponse, watchlist::WatchedLotResponse},
    service::your_data::{self as service, YourData, YourDataError},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me/export", get(export))
        .route("/me", delete(remove))
}

/// Everything Gavel keeps about my account: no password hash, token, card
/// code or payment reference.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExportResponse {
    /// id, email, name, handle, role, created_at, email_verified_at.
    #[schema(value_type = Object)]
    pub account: Value,
    /// Every bid, newest first, with its maximum.
    #[schema(value_type = Vec<Object>)]
    pub bids: Vec<Value>,
    /// Every invoice, as buyer or seller (`side`), newest first.
    #[schema(value_type = Vec<Object>)]
    pub invoices: Vec<Value>,
    /// Lots on my watchlist, with their prices now.
    pub watchlist: Vec<WatchedLotResponse>,
    pub saved_searches: Vec<SavedSearchResponse>,
    /// Which optional notices I want.
    #[schema(value_type = Object)]
    pub preferences: Value,
}

impl ExportResponse {
    pub fn of(data: &YourData) -> Result<Self, ApiError> {
        Ok(Self {
            account: to_json(&data.account)?,
            bids: data.bids.iter().map(to_json).collect::<Result<_, _>>()?,
            invoices: data
                .invoices
                .iter()
                .map(to_json)
                .collect::<Result<_, _>>()?,
            watchlist: data
                .watchlist
                .iter()
                .cloned()
                .map(WatchedLotResponse::from)
                .collect(),
            saved_searches: data
                .saved_searches
                .iter()
                .map(SavedSearchResponse::of)
                .collect(),
            preferences: to_json(&data.preferences)?,
        })
    }
}

fn to_json(value: &impl Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(ApiError::internal)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    /// The account's password.
    pub password: String,
}

#[utoipa::path(get, path = "/me/export", tag = "auth", operation_id = "export_my_data",
    responses(
        (status = 200, body = ExportResponse, description = "my account, bids, invoices, watchlist, saved searches and preferences, as a download"),
    ),
    security(("bearer" = [])))]
pub async fn export(State(state): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    let data = service::export(&state, &user).await?;
    download(&data)
}

/// `data` as the JSON download both `GET /me/export` and the page's link
/// (`/me/export`, signed in by the session cookie) answer.
pub fn download(data: &YourData) -> Result<Response, ApiError> {
    let mut response = ApiJson(ExportResponse::of(data)?).into_response();
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"gavel-my-data.json\""),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[utoipa::path(delete, path = "/me", tag = "auth", operation_id = "delete_my_account",
    request_body = DeleteAccountRequest,
    responses(
        (status = 204, description = "deleted: every session and token is revoked, the address may sign up again; bids and invoices stay for the books under a pseudonym"),
        (status = 403, body = ErrorBody, description = "`wrong_password`"),
        (status = 409, body = ErrorBody, description = "`account_deletion_blocked`: something under way names the account (`details.blockers`: each `kind` — `unpaid_invoice`, `open_win`, `leading_bid`, `open_auction`, `sale_in_flight` — with the invoice or lot's `id` and `name`)"),
        (status = 429, body = ErrorBody, description = "`too_many_attempts`, with `Retry-After`"),
    ),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: AuthUser,
    ApiJson(body): ApiJson<DeleteAccountRequest>,
) -> Result<StatusCode, ApiError> {
    service::delete_account(&state, ip, &user, body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<YourDataError> for ApiError {
    fn from(err: YourDataError) -> Self {
        match err {
            YourDataError::WrongPassword => {
                ApiError::forbidden("wrong_password", "the password is wrong")
            }
            YourDataError::Blocked(blockers) => ApiError::conflict(
                "account_deletion_blocked",
                service::blocked_sentence(&blockers),
            )
            .with_details(json!({ "blockers": blockers })),
            YourDataError::TooManyAttempts { retry_after_secs } => {
                ApiError::too_many_requests("too_many_attempts", retry_after_secs)
            }
            YourDataError::AccountGone => {
                ApiError::unauthorized("invalid_token", "this account no longer exists")
            }
            YourDataError::Auth(err) => err,
            YourDataError::Database(err) => err.into(),
        }
    }
}
