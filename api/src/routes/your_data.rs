//! `/me/export` and `DELETE /me`: an account's own data as JSON, and
//! deleting the account. Thin callers of [`crate::service::your_data`].

/// The export's document (made in the service), still public here: the
/// OpenAPI path below names it.
pub use crate::service::your_data::ExportResponse;

use axum::{
    Router,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{delete, get},
};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::{
    auth::AuthUser,
    error::{ApiError, ErrorBody},
    extract::ApiJson,
    limits::ClientIp,
    service::your_data::{self as service, ExportFile, YourDataError},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me/export", get(export))
        .route("/me", delete(remove))
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
    Ok(service::export_file(&data)?.into_response())
}

/// The export as a download: JSON, saved under its file name, never cached.
impl IntoResponse for ExportFile {
    fn into_response(self) -> Response {
        // The name is the service's constant, plain ASCII: always a valid
        // header value.
        let disposition = HeaderValue::try_from(format!("attachment; filename=\"{}\"", self.name))
            .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (header::CONTENT_DISPOSITION, disposition),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            self.json,
        )
            .into_response()
    }
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
            YourDataError::Export(err) => ApiError::internal(err),
        }
    }
}
