//! The browser's session: the same signed token the API hands out, kept in an
//! HttpOnly, SameSite=Lax cookie (Secure when Gavel is served over https), and
//! CSRF protection: every form (and the page's script) must echo a token that
//! is a MAC, under a key derived from the JWT secret, of the session it is
//! for: the signed-in session's id, or for a visitor not signed in the random
//! value of the `gavel_csrf` cookie. A cross-site page cannot read the token,
//! and a cookie planted by a sibling domain cannot make one.

use axum::{
    extract::{FromRequestParts, Request},
    http::{HeaderMap, HeaderValue, header, request::Parts},
    middleware::Next,
    response::Response,
};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::{
    accounts,
    auth::{AuthUser, Role},
    error::ApiError,
    state::AppState,
};

pub const SESSION_COOKIE: &str = "gavel_session";
pub const CSRF_COOKIE: &str = "gavel_csrf";

/// The value of cookie `name` in `headers`, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// This browser's anonymous-session value (from its `gavel_csrf` cookie, or
/// made for it just now): what a visitor's CSRF token is bound to until they
/// sign in.
#[derive(Debug, Clone)]
pub struct AnonymousSession(pub String);

/// Gives every page request an anonymous-session value, setting the cookie
/// when new.
pub async fn ensure_csrf(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let existing = cookie(request.headers(), CSRF_COOKIE)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned);
    let fresh = existing.is_none();
    let token = existing.unwrap_or_else(|| {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        hex::encode(bytes)
    });
    request
        .extensions_mut()
        .insert(AnonymousSession(token.clone()));
    let mut response = next.run(request).await;
    if fresh {
        let value = format!(
            "{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{}",
            secure(&state)
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

fn secure(state: &AppState) -> &'static str {
    if state.config.cookie_secure {
        "; Secure"
    } else {
        ""
    }
}

/// `Set-Cookie` for the session cookie holding `token` for `max_age_secs`
/// (an empty token and 0 end it).
fn session_header(state: &AppState, token: &str, max_age_secs: i64) -> HeaderValue {
    let value = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        secure(state)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` for a new session holding `token` for `max_age_secs`.
pub fn session_cookie(state: &AppState, token: &str, max_age_secs: i64) -> HeaderValue {
    session_header(state, token, max_age_secs)
}

/// `Set-Cookie` that ends the session.
pub fn ended_session(state: &AppState) -> HeaderValue {
    session_header(state, "", 0)
}

/// Who is signed in, as the page header shows them.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub handle: String,
    pub name: String,
    pub can_sell: bool,
}

/// The person at the browser: signed in or not, with this request's CSRF token.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub user: Option<AuthUser>,
    pub viewer: Option<Viewer>,
    pub csrf: String,
}

impl Visitor {
    /// Passes when `given` is this browser's CSRF token, else 403 `csrf_failed`.
    pub fn check_csrf(&self, given: &str) -> Result<(), ApiError> {
        let same: bool = given.as_bytes().ct_eq(self.csrf.as_bytes()).into();
        if same && !given.is_empty() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "csrf_failed",
                "this form has expired; reload the page and try again",
            ))
        }
    }
}

/// What a session's forms must echo: HMAC-SHA256 under `key` of the
/// signed-in `session`, else of the browser's `anonymous` value; empty (no
/// form passes) when there is neither.
pub fn csrf_token(key: &[u8; 32], session: Option<Uuid>, anonymous: Option<&str>) -> String {
    let bound = match (session, anonymous) {
        (Some(session), _) => format!("session:{session}"),
        (None, Some(anonymous)) if !anonymous.is_empty() => format!("anonymous:{anonymous}"),
        _ => return String::new(),
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(bound.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // A stale or revoked session is simply no session.
        let user = match cookie(&parts.headers, SESSION_COOKIE) {
            Some(token) if !token.is_empty() => AuthUser::from_token(state, token).await.ok(),
            _ => None,
        };
        let anonymous = parts.extensions.get::<AnonymousSession>();
        let csrf = csrf_token(
            state.jwt.csrf_key(),
            user.map(|u| u.session),
            anonymous.map(|a| a.0.as_str()),
        );
        let viewer = match &user {
            Some(user) => accounts::find_by_id(&state.db, user.id)
                .await?
                .map(|found| Viewer {
                    handle: found.handle,
                    name: found.name,
                    can_sell: matches!(found.role, Role::Seller | Role::Admin),
                }),
            None => None,
        };
        Ok(Visitor {
            user: user.filter(|_| viewer.is_some()),
            viewer,
            csrf,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; gavel_session=tok; gavel_session_x=no"
                .parse()
                .unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn a_csrf_token_is_bound_to_its_session_and_key() {
        let (key, other_key) = ([7u8; 32], [8u8; 32]);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let planted = "5eed".repeat(16);
        let signed_in = csrf_token(&key, Some(a), Some(&planted));
        assert_eq!(signed_in.len(), 64);
        assert_eq!(
            signed_in,
            csrf_token(&key, Some(a), None),
            "the cookie plays no part"
        );
        assert_ne!(signed_in, csrf_token(&key, Some(b), Some(&planted)));
        assert_ne!(signed_in, csrf_token(&other_key, Some(a), Some(&planted)));
        assert_ne!(signed_in, planted);
        let visitor = csrf_token(&key, None, Some(&planted));
        assert_ne!(visitor, planted, "not the cookie's own value");
        assert_eq!(csrf_token(&key, None, None), "");
        assert_eq!(csrf_token(&key, None, Some("")), "");
    }
}
