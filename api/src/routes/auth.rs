//! `/auth/register`, `/auth/login`, `/auth/me`.

use std::net::SocketAddr;

use axum::{
    Router,
    extract::{ConnectInfo, State},
    http::StatusCode,
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use gavel_workflows::rules::strikes::suspended_until;

use crate::{
    accounts::{self, NewUser, Strike, User},
    auth::{AuthUser, DisplayName, Email, Password, Role, password},
    error::{ApiError, ErrorBody},
    extract::ApiJson,
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/me", get(me))
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

#[utoipa::path(post, path = "/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, body = AuthResponse, description = "account created, signed in"),
        (status = 409, body = ErrorBody, description = "`email_taken`"),
        (status = 422, body = ErrorBody, description = "`invalid_email`, `weak_password`, `invalid_name`, `invalid_role`"),
    ))]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, ApiJson<AuthResponse>), ApiError> {
    let role = match Role::parse(&body.role) {
        Some(role @ (Role::Bidder | Role::Seller)) => role,
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_role",
                "role must be `bidder` or `seller`",
            ));
        }
    };
    let email = Email::parse(&body.email)?;
    let new = NewUser {
        password: Password::parse(&body.password, &email)?,
        name: DisplayName::parse(&body.name)?,
        email,
        role,
    };
    let user = accounts::create(&state.db, new).await?;
    tracing::info!(user_id = %user.id, role = user.role.as_str(), "user registered");
    let (token, expires_at) = state.jwt.issue(user.id, user.role, Utc::now())?;
    Ok((
        StatusCode::CREATED,
        ApiJson(AuthResponse {
            user,
            token,
            expires_at,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub password: String,
}

#[utoipa::path(post, path = "/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = AuthResponse),
        (status = 401, body = ErrorBody, description = "`invalid_credentials`"),
        (status = 429, body = ErrorBody, description = "`too_many_attempts`, with `Retry-After`"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<ApiJson<AuthResponse>, ApiError> {
    let invalid = || ApiError::unauthorized("invalid_credentials", "email or password is wrong");
    let account = body.email.trim().to_lowercase();
    state
        .login_limiter
        .begin(peer.ip(), &account)
        .map_err(|secs| ApiError::too_many_requests("too_many_attempts", secs))?;
    let found = match Email::parse(&body.email) {
        Ok(email) => accounts::find_for_login(&state.db, &email).await?,
        Err(_) => None,
    };
    let (user, hash) = found.map_or((None, None), |(u, h)| (Some(u), Some(h)));
    if !password::verify(body.password, hash).await? {
        state.login_limiter.failed(&account);
        return Err(invalid());
    }
    let user = user.ok_or_else(invalid)?;
    state.login_limiter.succeeded(&account);
    let (token, expires_at) = state.jwt.issue(user.id, user.role, Utc::now())?;
    Ok(ApiJson(AuthResponse {
        user,
        token,
        expires_at,
    }))
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
}

#[utoipa::path(get, path = "/auth/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = MeResponse),
        (status = 401, body = ErrorBody, description = "`unauthenticated`, `invalid_token`, `token_expired`"),
    ))]
pub async fn me(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<ApiJson<MeResponse>, ApiError> {
    let user = accounts::find_by_id(&state.db, auth.id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "this account no longer exists"))?;
    let policy = state.config.strikes;
    let strikes = accounts::strikes(&state.db, auth.id, policy.ttl).await?;
    let times: Vec<DateTime<Utc>> = strikes.iter().map(|s| s.created_at).collect();
    let bidding_suspended_until = suspended_until(&times, policy.limit, policy.ttl, Utc::now());
    Ok(ApiJson(MeResponse {
        user,
        strikes,
        bidding_suspended_until,
    }))
}
