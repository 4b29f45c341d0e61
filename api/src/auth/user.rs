//! Who is calling: the [`AuthUser`] extractor (Bearer token → user id and
//! role, refused once revoked) and the role guard every protected route reuses.

use axum::{extract::FromRequestParts, http::request::Parts};
use uuid::Uuid;

use super::Role;
use crate::{error::ApiError, state::AppState};

/// The authenticated caller, taken from `Authorization: Bearer <jwt>`.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub id: Uuid,
    pub role: Role,
    /// The session the token belongs to (what signing out ends).
    pub session: Uuid,
}

impl AuthUser {
    /// Passes when the caller has one of `roles`, else [`RoleError`].
    pub fn require(&self, roles: &[Role]) -> Result<(), RoleError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(RoleError {
                allowed: roles.to_vec(),
            })
        }
    }
}

/// The caller's role may not do this; `allowed` are the roles that may.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("your role may not do this")]
pub struct RoleError {
    pub allowed: Vec<Role>,
}

/// 403 `forbidden`, naming the roles that may.
impl From<RoleError> for ApiError {
    fn from(err: RoleError) -> Self {
        let allowed: Vec<&str> = err.allowed.iter().map(|r| r.as_str()).collect();
        ApiError::forbidden("forbidden", err.to_string())
            .with_details(serde_json::json!({ "allowed_roles": allowed }))
    }
}

impl AuthUser {
    /// The user a token names, once its signature, expiry and version pass
    /// (the bearer header and the browser's session cookie both end here).
    pub async fn from_token(state: &AppState, token: &str) -> Result<Self, ApiError> {
        let claims = state.jwt.verify(token)?;
        let Some(session) = claims.sid else {
            return Err(ApiError::unauthorized(
                "token_revoked",
                "this token predates sign-out support; sign in again",
            ));
        };
        match state.token_versions.current(claims.sub, session).await? {
            None => {
                return Err(ApiError::unauthorized(
                    "invalid_token",
                    "this account no longer exists",
                ));
            }
            Some(current) if claims.ver < current.version => {
                return Err(ApiError::unauthorized(
                    "token_revoked",
                    "the password or role changed since this token was issued; sign in again",
                ));
            }
            // The session ends with its token: within the token's last
            // second (expiry is in whole seconds) it is the token that expired.
            Some(current) if !current.live && claims.exp <= chrono::Utc::now().timestamp() => {
                return Err(ApiError::unauthorized(
                    "token_expired",
                    "the access token has expired",
                ));
            }
            Some(current) if !current.live => {
                return Err(ApiError::unauthorized(
                    "session_ended",
                    "this session was signed out; sign in again",
                ));
            }
            Some(_) => {}
        }
        Ok(AuthUser {
            id: claims.sub,
            role: claims.role,
            session,
        })
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "unauthenticated",
                    "an `Authorization: Bearer` token is required",
                )
            })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "invalid_token",
                    "the Authorization header must be `Bearer <token>`",
                )
            })?;
        AuthUser::from_token(state, token).await
    }
}
