//! `/auth/register`, `/auth/login`, `/auth/logout`, `/auth/password`,
//! `/auth/seller`, `/auth/me`.

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use gavel_workflows::rules::strikes::suspended_until;

use crate::{
    accounts::{self, Strike, User},
    auth::AuthUser,
    error::{ApiError, ErrorBody},
    extract::ApiJson,
    limits::ClientIp,
    service::{
        account_email,
        accounts::{self as service, AccountError, Registration, SignedIn},
    },
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/auth/password", post(change_password))
        .route("/auth/seller", post(become_seller))
        .route("/auth/me", get(me))
        .route("/auth/verify-email", post(verify_email))
        .route("/auth/verify-email/resend", post(resend_verification))
        .route("/auth/password-reset", post(request_password_reset))
        .route("/auth/password-reset/confirm", post(confirm_password_reset))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "correct horse battery", min_length = 10, max_length = 128)]
    pub password: String,
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    /// `bidder` or `seller`; admins are made with `gavel admin create-user`.
    #[schema(example = "bidder")]
    pub role: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuthResponse {
    pub user: User,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[utoipa::path(post, path = "/auth/register", tag = "auth", operation_id = "register_account",
    request_body = RegisterRequest,
    responses(
        (status = 201, body = AuthResponse, description = "account created, signed in. Unless the deployment turned verification off, a single-use link (24 h) is emailed to the address; until it is followed (`POST /auth/verify-email`) bids, new auctions and payout accounts answer 403 `email_unverified` (`/auth/me` has `email_verified`)"),
        (status = 409, body = ErrorBody, description = "`email_taken`"),
        (status = 422, body = ErrorBody, description = "`invalid_email`, `weak_password`, `invalid_name`, `invalid_text`, `invalid_role`"),
        (status = 429, body = ErrorBody, description = "`too_many_attempts`: too many sign-ups from this address (`GAVEL_SIGNUPS_PER_IP_HOUR`), with `Retry-After`"),
        (status = 503, body = ErrorBody, description = "`busy`: too many passwords are being hashed; `service_unavailable`: the database is unavailable; retry after `Retry-After`"),
    ))]
pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, ApiJson<AuthResponse>), ApiError> {
    let form = Registration {
        email: body.email,
        password: body.password,
        name: body.name,
        role: body.role,
    };
    let signed_in = service::register(&state, ip, form).await?;
    Ok((StatusCode::CREATED, ApiJson(signed_in.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub password: String,
}

#[utoipa::path(post, path = "/auth/login", tag = "auth", operation_id = "sign_in",
    request_body = LoginRequest,
    responses(
        (status = 200, body = AuthResponse),
        (status = 401, body = ErrorBody, description = "`invalid_credentials`"),
        (status = 429, body = ErrorBody, description = "`too_many_attempts`, with `Retry-After`"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<ApiJson<AuthResponse>, ApiError> {
    let signed_in = service::login(&state, ip, &body.email, body.password).await?;
    Ok(ApiJson(signed_in.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    #[schema(min_length = 10, max_length = 128)]
    pub new_password: String,
}

#[utoipa::path(post, path = "/auth/password", tag = "auth", operation_id = "change_password",
    request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = AuthResponse, description = "changed: every older token of this account stops working (at once on this replica, within the revocation delay, 30 s by default, on others); use the new one"),
        (status = 401, body = ErrorBody, description = "`unauthenticated`, `invalid_token`, `token_expired`, `token_revoked`, `session_ended`, `invalid_credentials` (the current password is wrong)"),
        (status = 422, body = ErrorBody, description = "`weak_password`"),
        (status = 429, body = ErrorBody, description = "`too_many_attempts`, with `Retry-After`"),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: AuthUser,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> Result<ApiJson<AuthResponse>, ApiError> {
    let signed_in =
        service::change_password(&state, ip, auth, body.current_password, &body.new_password)
            .await?;
    Ok(ApiJson(signed_in.into()))
}

#[utoipa::path(post, path = "/auth/seller", tag = "auth", operation_id = "become_seller",
    security(("bearer" = [])),
    responses(
        (status = 200, body = AuthResponse, description = "the account sells too (it bids as before); older tokens are revoked, use the new one. A seller or admin gets a fresh token and no change"),
        (status = 401, body = ErrorBody, description = "`unauthenticated`, `invalid_token`, `token_expired`, `token_revoked`, `session_ended`"),
    ))]
pub async fn become_seller(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<ApiJson<AuthResponse>, ApiError> {
    Ok(ApiJson(service::become_seller(&state, auth).await?.into()))
}

impl From<SignedIn> for AuthResponse {
    fn from(signed_in: SignedIn) -> Self {
        Self {
            user: signed_in.user,
            token: signed_in.token,
            expires_at: signed_in.expires_at,
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        match err {
            AccountError::Invalid(err) => err.into(),
            AccountError::Auth(err) => err,
            AccountError::InvalidRole => {
                ApiError::unprocessable("invalid_role", "role must be `bidder` or `seller`")
            }
            AccountError::TooManyAttempts { retry_after_secs } => {
                ApiError::too_many_requests("too_many_attempts", retry_after_secs)
            }
            AccountError::InvalidCredentials => {
                ApiError::unauthorized("invalid_credentials", "email or password is wrong")
            }
            AccountError::WrongPassword => {
                ApiError::unauthorized("invalid_credentials", "the current password is wrong")
            }
            AccountError::AccountGone => gone(),
            AccountError::InvalidLink => ApiError::bad_request(
                "invalid_link",
                "this link is unknown, already used or expired; ask for a new one",
            ),
            AccountError::AlreadyVerified => ApiError::conflict(
                "email_already_verified",
                "this email address is already verified",
            ),
            AccountError::TooManyResends { retry_after_secs } => {
                ApiError::too_many_requests("too_many_resends", retry_after_secs)
            }
            AccountError::Database(err) => err.into(),
        }
    }
}

fn gone() -> ApiError {
    ApiError::unauthorized("invalid_token", "this account no longer exists")
}

#[utoipa::path(post, path = "/auth/logout", tag = "auth", operation_id = "sign_out",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "the token's session is ended: this token (and the browser cookie holding it) is refused at once on this replica and within the revocation delay (`GAVEL_REVOCATION_SECS`, 30 s by default) on others; the account's other sessions go on"),
        (status = 401, body = ErrorBody, description = "`unauthenticated`, `invalid_token`, `token_expired`, `token_revoked`, `session_ended` (already signed out)"),
    ))]
pub async fn logout(State(state): State<AppState>, auth: AuthUser) -> Result<StatusCode, ApiError> {
    service::end_session(&state, auth).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user, with the strikes that count against them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeResponse {
    #[serde(flatten)]
    pub user: User,
    /// Won auctions left unpaid, newest first (those younger than the
    /// strike lifetime and not cleared by an admin).
    pub strikes: Vec<Strike>,
    /// Set while the strikes suspend bidding: when bidding opens again.
    pub bidding_suspended_until: Option<DateTime<Utc>>,
    /// The address was confirmed by the link emailed at sign-up; until
    /// then (where `GAVEL_REQUIRE_VERIFIED_EMAIL` is on) bids and new
    /// auctions are refused with `email_unverified`.
    pub email_verified: bool,
}

#[utoipa::path(get, path = "/auth/me", tag = "auth", operation_id = "get_me",
    security(("bearer" = [])),
    responses(
        (status = 200, body = MeResponse),
        (status = 401, body = ErrorBody, description = "`unauthenticated`, `invalid_token`, `token_expired`, `token_revoked`, `session_ended`"),
    ))]
pub async fn me(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<ApiJson<MeResponse>, ApiError> {
    let user = accounts::find_by_id(&state.db, auth.id)
        .await?
        .ok_or_else(gone)?;
    let policy = state.config.strikes;
    let strikes = accounts::strikes(&state.db, auth.id, policy.ttl).await?;
    let times: Vec<DateTime<Utc>> = strikes.iter().map(|s| s.created_at).collect();
    let bidding_suspended_until = suspended_until(&times, policy.limit, policy.ttl, Utc::now());
    let email_verified = account_email::email_verified(&state, auth.id).await?;
    Ok(ApiJson(MeResponse {
        user,
        strikes,
        bidding_suspended_until,
        email_verified,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyEmailRequest {
    /// The `token` of the link in the verification email.
    pub token: String,
}

/// What an account-email request came to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountEmailResponse {
    pub status: AccountEmailStatus,
    pub message: String,
}

/// What an account-email request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountEmailStatus {
    /// The address is verified.
    Verified,
    /// A new verification link is on its way.
    Sent,
    /// A reset was asked for (the same answer for any address).
    Accepted,
    /// The password was changed.
    PasswordChanged,
}

fn answered(status: AccountEmailStatus, message: &str) -> ApiJson<AccountEmailResponse> {
    ApiJson(AccountEmailResponse {
        status,
        message: message.to_owned(),
    })
}

#[utoipa::path(post, path = "/auth/verify-email", tag = "auth", operation_id = "verify_email",
    request_body = VerifyEmailRequest,
    responses(
        (status = 200, body = AccountEmailResponse, description = "`verified`: the address is verified; every session of the account may bid and sell at once"),
        (status = 400, body = ErrorBody, description = "`invalid_link`: the token is unknown, already used or expired (24 h)"),
    ))]
pub async fn verify_email(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<VerifyEmailRequest>,
) -> Result<ApiJson<AccountEmailResponse>, ApiError> {
    account_email::verify_email(&state, &body.token).await?;
    Ok(answered(
        AccountEmailStatus::Verified,
        "your email address is verified",
    ))
}

#[utoipa::path(post, path = "/auth/verify-email/resend", tag = "auth", operation_id = "resend_verification_email",
    security(("bearer" = [])),
    responses(
        (status = 202, body = AccountEmailResponse, description = "`sent`: a new link is on its way (earlier links still work until they expire)"),
        (status = 401, body = ErrorBody, description = "`unauthenticated`, `invalid_token`, `token_expired`, `token_revoked`, `session_ended`"),
        (status = 409, body = ErrorBody, description = "`email_already_verified`"),
        (status = 429, body = ErrorBody, description = "`too_many_resends`: 3 an hour per account, with `Retry-After`"),
    ))]
pub async fn resend_verification(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<(StatusCode, ApiJson<AccountEmailResponse>), ApiError> {
    account_email::resend_verification(&state, auth).await?;
    Ok((
        StatusCode::ACCEPTED,
        answered(
            AccountEmailStatus::Sent,
            "a new verification link is on its way",
        ),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordResetRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
}

/// The one answer to a password-reset request, whoever asks.
const RESET_ANSWER: &str =
    "if an account has this email address, a link to reset its password is on its way";

#[utoipa::path(post, path = "/auth/password-reset", tag = "auth", operation_id = "request_password_reset",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, body = AccountEmailResponse, description = "`accepted`: the same answer whether or not an account has the address, and when a limit (per client address, per email) is reached; then nothing is sent. The link works once, for 1 hour"),
        (status = 422, body = ErrorBody, description = "`invalid_email`: not an email address"),
    ))]
pub async fn request_password_reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<PasswordResetRequest>,
) -> Result<(StatusCode, ApiJson<AccountEmailResponse>), ApiError> {
    account_email::request_password_reset(&state, ip, &body.email).await?;
    Ok((
        StatusCode::ACCEPTED,
        answered(AccountEmailStatus::Accepted, RESET_ANSWER),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfirmPasswordResetRequest {
    /// The `token` of the link in the reset email.
    pub token: String,
    #[schema(min_length = 10, max_length = 128)]
    pub new_password: String,
}

#[utoipa::path(post, path = "/auth/password-reset/confirm", tag = "auth", operation_id = "confirm_password_reset",
    request_body = ConfirmPasswordResetRequest,
    responses(
        (status = 200, body = AccountEmailResponse, description = "`password_changed`: sign in with the new password; every older token, session and reset link of the account is revoked"),
        (status = 400, body = ErrorBody, description = "`invalid_link`: the token is unknown, already used or expired (1 h)"),
        (status = 422, body = ErrorBody, description = "`weak_password` (the link still works for a better one)"),
    ))]
pub async fn confirm_password_reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<ConfirmPasswordResetRequest>,
) -> Result<ApiJson<AccountEmailResponse>, ApiError> {
    account_email::confirm_password_reset(&state, ip, &body.token, &body.new_password).await?;
    Ok(answered(
        AccountEmailStatus::PasswordChanged,
        "your password is changed; sign in with it",
    ))
}
