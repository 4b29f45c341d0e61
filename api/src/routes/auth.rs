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
use uuid::Uuid;

use gavel_workflows::rules::strikes::suspended_until;

use crate::{
    accounts::{self, NewUser, Strike, User},
    auth::{AuthUser, DisplayName, Email, Password, Role, password, sessions},
    error::{ApiError, ErrorBody},
    extract::ApiJson,
    limits::ClientIp,
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
        (status = 201, body = AuthResponse, description = "account created, signed in"),
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
    // Counted after the fields are checked (a typo costs no sign-up) and
    // before the password is hashed (the expensive part).
    state.login_limiter.sign_up(ip).await?;
    let hash = password::hash(&state.hashing, &new.password).await?;
    // The account and its first session are one decision: an account left
    // without its session would turn the retry into `email_taken`.
    let mut tx = state.db.begin().await?;
    let user = accounts::insert(&mut tx, &new, &hash).await?;
    let session = Uuid::new_v4();
    let (token, expires_at) = state
        .jwt
        .issue(user.id, user.role, 0, session, Utc::now())?;
    sessions::record(&mut *tx, session, user.id, expires_at).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, role = user.role.as_str(), "user registered");
    sessions::prune(&state.db).await;
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
    let invalid = || ApiError::unauthorized("invalid_credentials", "email or password is wrong");
    let email = Email::parse(&body.email).ok();
    state.login_limiter.begin(ip, email.as_ref()).await?;
    let found = match &email {
        Some(email) => accounts::find_for_login(&state.db, email).await?,
        None => None,
    };
    let hash = found.as_ref().map(|c| c.password_hash.clone());
    if !password::verify(&state.hashing, body.password, hash).await? {
        return Err(invalid());
    }
    let (Some(found), Some(email)) = (found, email) else {
        return Err(invalid());
    };
    state.login_limiter.succeeded(ip, &email).await?;
    let user = found.user;
    let (token, expires_at) = new_session(&state, &user, found.token_version).await?;
    Ok(ApiJson(AuthResponse {
        user,
        token,
        expires_at,
    }))
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
    let user = accounts::find_by_id(&state.db, auth.id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "this account no longer exists"))?;
    let email = Email::parse(&user.email)?;
    // Guessing the current password through here is a login attempt too.
    state.login_limiter.begin(ip, Some(&email)).await?;
    let stored = accounts::password_hash(&state.db, auth.id).await?;
    if !password::verify(&state.hashing, body.current_password, stored).await? {
        return Err(ApiError::unauthorized(
            "invalid_credentials",
            "the current password is wrong",
        ));
    }
    let new = Password::parse(&body.new_password, &email)?;
    let hash = password::hash(&state.hashing, &new).await?;
    let mut tx = state.db.begin().await?;
    accounts::set_password_hash(&mut tx, auth.id, &hash).await?;
    let version = state.token_versions.bump_and_commit(tx, auth.id).await?;
    state.login_limiter.succeeded(ip, &email).await?;
    tracing::info!(user_id = %auth.id, "password changed; older tokens revoked");
    let (token, expires_at) = same_session(&state, auth, &user, version).await?;
    Ok(ApiJson(AuthResponse {
        user,
        token,
        expires_at,
    }))
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
    let gone = || ApiError::unauthorized("invalid_token", "this account no longer exists");
    let (user, version) = match auth.role {
        Role::Bidder => {
            let mut tx = state.db.begin().await?;
            let user = accounts::set_role(&mut tx, auth.id, Role::Seller)
                .await?
                .ok_or_else(gone)?;
            let version = state.token_versions.bump_and_commit(tx, auth.id).await?;
            tracing::info!(user_id = %auth.id, "a bidder became a seller");
            (user, version)
        }
        Role::Seller | Role::Admin => {
            let user = accounts::find_by_id(&state.db, auth.id)
                .await?
                .ok_or_else(gone)?;
            let version = state
                .token_versions
                .current(auth.id, auth.session)
                .await?
                .ok_or_else(gone)?
                .version;
            (user, version)
        }
    };
    let (token, expires_at) = same_session(&state, auth, &user, version).await?;
    Ok(ApiJson(AuthResponse {
        user,
        token,
        expires_at,
    }))
}

/// A new session for `user` and its first token.
async fn new_session(
    state: &AppState,
    user: &User,
    version: i32,
) -> Result<(String, DateTime<Utc>), ApiError> {
    let session = Uuid::new_v4();
    let (token, expires_at) = state
        .jwt
        .issue(user.id, user.role, version, session, Utc::now())?;
    sessions::record(&state.db, session, user.id, expires_at).await?;
    sessions::prune(&state.db).await;
    Ok((token, expires_at))
}

/// A fresh token for `auth`'s session (after a password or role change),
/// the session kept alive as long as the token.
async fn same_session(
    state: &AppState,
    auth: AuthUser,
    user: &User,
    version: i32,
) -> Result<(String, DateTime<Utc>), ApiError> {
    let (token, expires_at) =
        state
            .jwt
            .issue(user.id, user.role, version, auth.session, Utc::now())?;
    sessions::extend(&state.db, auth.session, user.id, expires_at).await?;
    Ok((token, expires_at))
}

#[utoipa::path(post, path = "/auth/logout", tag = "auth", operation_id = "sign_out",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "the token's session is ended: this token (and the browser cookie holding it) is refused at once on this replica and within the revocation delay (`GAVEL_REVOCATION_SECS`, 30 s by default) on others; the account's other sessions go on"),
        (status = 401, body = ErrorBody, description = "`unauthenticated`, `invalid_token`, `token_expired`, `token_revoked`, `session_ended` (already signed out)"),
    ))]
pub async fn logout(State(state): State<AppState>, auth: AuthUser) -> Result<StatusCode, ApiError> {
    end_session(&state, auth).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends `auth`'s session (API logout and the page's sign-out).
pub async fn end_session(state: &AppState, auth: AuthUser) -> Result<(), ApiError> {
    state
        .token_versions
        .end_session(auth.id, auth.session)
        .await?;
    tracing::info!(user_id = %auth.id, "signed out; the session is ended");
    Ok(())
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
