//! The bank account a seller is paid into: the banks on offer, an account
//! looked up (its name as the bank holds it) and then confirmed, shown and
//! removed. Thin callers of [`crate::service::payout_accounts`].

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{delete, get, post},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    auth::AuthUser,
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiQuery},
    service::payout_accounts::{
        self as service, AccountToLookUp, BankOption, PayoutAccountError, PayoutAccountView,
        PayoutAccounts,
    },
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/banks", get(banks))
        .route("/me/payout-account", get(show).put(look_up).delete(remove))
        .route("/me/payout-account/confirm", post(confirm))
        .route("/me/payout-account/pending", delete(cancel_pending))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BanksQuery {
    /// Only `NGN` for now.
    #[param(example = "NGN")]
    pub currency: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BankList {
    pub currency: String,
    /// Active NUBAN banks, by name.
    pub items: Vec<BankOption>,
}

#[utoipa::path(get, path = "/banks", tag = "payouts", operation_id = "list_payout_banks",
    params(BanksQuery),
    responses(
        (status = 200, body = BankList, description = "the banks a seller may be paid into (Paystack's list, refreshed daily)"),
        (status = 422, body = ErrorBody, description = "`unsupported_currency` (payouts are in NGN only)"),
        (status = 503, body = ErrorBody, description = "`payouts_unavailable` (no Paystack key is configured), `paystack_unavailable`: retry after `Retry-After`"),
    ),
    security(("bearer" = [])))]
pub async fn banks(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiQuery(query): ApiQuery<BanksQuery>,
) -> Result<ApiJson<BankList>, ApiError> {
    let items = service::banks(&state, query.currency.trim()).await?;
    Ok(ApiJson(BankList {
        currency: query.currency.trim().to_owned(),
        items: items.as_ref().clone(),
    }))
}

#[utoipa::path(get, path = "/me/payout-account", tag = "payouts", operation_id = "get_payout_account",
    responses(
        (status = 200, body = PayoutAccounts, description = "the account I am paid into (number masked) and one waiting for my confirmation; each `null` when there is none"),
        (status = 403, body = ErrorBody, description = "`forbidden`: sellers and admins only"),
    ),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<ApiJson<PayoutAccounts>, ApiError> {
    Ok(ApiJson(service::accounts(&state, &user).await?))
}

#[utoipa::path(put, path = "/me/payout-account", tag = "payouts", operation_id = "look_up_payout_account",
    request_body = AccountToLookUp,
    responses(
        (status = 200, body = PayoutAccountView, description = "found: kept as `pending` with the name the bank holds, for me to confirm (`POST /me/payout-account/confirm`); it replaces an older pending one, never the confirmed one"),
        (status = 403, body = ErrorBody, description = "`forbidden`: sellers and admins only; `email_unverified`: the account has not confirmed its email address yet (`POST /auth/verify-email`): nothing is kept"),
        (status = 422, body = ErrorBody, description = "`unsupported_currency`, `invalid_account_number` (10 digits), `unknown_bank` (not in `GET /banks`), `account_not_resolved` (the bank does not know the number): nothing is kept"),
        (status = 429, body = ErrorBody, description = "`account_lookups_limited`: Paystack's cap on look-ups; retry after `Retry-After`"),
        (status = 503, body = ErrorBody, description = "`payouts_unavailable` (no Paystack key is configured), `paystack_unavailable`: retry after `Retry-After`"),
    ),
    security(("bearer" = [])))]
pub async fn look_up(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<AccountToLookUp>,
) -> Result<ApiJson<PayoutAccountView>, ApiError> {
    Ok(ApiJson(service::look_up(&state, &user, &request).await?))
}

#[utoipa::path(post, path = "/me/payout-account/confirm", tag = "payouts", operation_id = "confirm_payout_account",
    responses(
        (status = 200, body = PayoutAccountView, description = "the pending account is now the one I am paid into (number masked); payouts held for want of an account go ahead"),
        (status = 403, body = ErrorBody, description = "`forbidden`: sellers and admins only; `email_unverified`: the account has not confirmed its email address yet (`POST /auth/verify-email`): nothing is kept"),
        (status = 409, body = ErrorBody, description = "`no_pending_account`: look one up first (`PUT /me/payout-account`)"),
        (status = 503, body = ErrorBody, description = "`payouts_unavailable` (no Paystack key is configured), `paystack_unavailable`: retry after `Retry-After` (confirming twice is safe)"),
    ),
    security(("bearer" = [])))]
pub async fn confirm(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<ApiJson<PayoutAccountView>, ApiError> {
    Ok(ApiJson(service::confirm(&state, &user).await?))
}

#[utoipa::path(delete, path = "/me/payout-account/pending", tag = "payouts", operation_id = "cancel_pending_payout_account",
    responses(
        (status = 204, description = "no account waits for my confirmation (the confirmed one stays)"),
        (status = 403, body = ErrorBody, description = "`forbidden`: sellers and admins only"),
    ),
    security(("bearer" = [])))]
pub async fn cancel_pending(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<StatusCode, ApiError> {
    service::cancel_pending(&state, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/me/payout-account", tag = "payouts", operation_id = "delete_payout_account",
    responses(
        (status = 204, description = "removed (both accounts): Paystack pays nothing more into it; my payouts wait for a new account"),
        (status = 403, body = ErrorBody, description = "`forbidden`: sellers and admins only"),
        (status = 503, body = ErrorBody, description = "`payouts_unavailable`, `paystack_unavailable`: nothing was removed; retry after `Retry-After`"),
    ),
    security(("bearer" = [])))]
pub async fn remove(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, ApiError> {
    service::remove(&state, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<PayoutAccountError> for ApiError {
    fn from(err: PayoutAccountError) -> Self {
        let message = err.to_string();
        match err {
            PayoutAccountError::Forbidden(err) => err.into(),
            PayoutAccountError::EmailUnverified => crate::routes::auctions::email_unverified(),
            PayoutAccountError::PayoutsUnavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "payouts_unavailable",
                message,
            ),
            PayoutAccountError::UnsupportedCurrency => {
                ApiError::unprocessable("unsupported_currency", message)
            }
            PayoutAccountError::InvalidAccountNumber => {
                ApiError::unprocessable("invalid_account_number", message)
            }
            PayoutAccountError::UnknownBank => ApiError::unprocessable("unknown_bank", message),
            PayoutAccountError::AccountNotResolved => {
                ApiError::unprocessable("account_not_resolved", message)
            }
            PayoutAccountError::LookupsLimited { retry_after } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "account_lookups_limited",
                message,
            )
            .with_retry_after(retry_after.map_or(60, |after| after.as_secs())),
            PayoutAccountError::NoPendingAccount => {
                ApiError::conflict("no_pending_account", message)
            }
            PayoutAccountError::Paystack(err) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "paystack_unavailable",
                "Paystack is unavailable; retry shortly",
            )
            .with_retry_after(5)
            .with_source(err),
            PayoutAccountError::Database(err) => err.into(),
        }
    }
}
