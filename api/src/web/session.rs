//! The browser's session: the same signed token the API hands out, kept in an
//! HttpOnly, SameSite=Lax cookie (Secure when Gavel is served over https), and
//! CSRF protection: every form (and the page's script) must echo a token that
//! is a MAC, under a key derived from the JWT secret, of the session it is
//! for: the signed-in session's id, or for a visitor not signed in the random
//! value of the `gavel_csrf` cookie. A cross-site page cannot read the token.
//! A cookie planted by a sibling domain could be read back through the
//! sign-in page's token (login CSRF), so every form post must also come from
//! this site as the browser tells it (`Origin`, `Sec-Fetch-Site`); over https
//! the cookies are `__Host-` ones, which no other host can set at all.

use std::borrow::Cow;

use axum::{
    extract::{FromRequestParts, Request},
    http::{HeaderMap, HeaderValue, Method, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use axum_extra::extract::cookie::{Cookie, SameSite};
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

/// The name cookie `name` goes by: over https `__Host-{name}`, which a
/// browser accepts only from this very host (Secure, `Path=/`, no `Domain`),
/// so a sibling or parent domain cannot plant one.
fn cookie_name(secure: bool, name: &'static str) -> Cow<'static, str> {
    if secure {
        Cow::Owned(format!("__Host-{name}"))
    } else {
        Cow::Borrowed(name)
    }
}

/// The value of cookie `name` in `headers`, if sent exactly once.
///
/// A browser sends every cookie whose domain and path match, so a second
/// cookie of the same name is one set by another host (a parent domain) or
/// for a longer path, and it is sent first. Neither can be told to be ours:
/// taking either would let a planted session sign the visitor in as someone
/// else, or hide the real one. So two are read as none: the visitor is not
/// signed in (and a fresh anonymous value is issued), which is safe; forms
/// then fail until the planted cookie goes, which is the most a planter can
/// do, and over https the `__Host-` names rule planting out.
///
/// `axum_extra`'s `CookieJar` keeps one cookie per name and drops the other
/// silently, so the cookies are parsed with its `Cookie` and counted here.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|cookie| cookie.name_raw() == Some(name))
        .filter_map(|cookie| cookie.value_raw());
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// Whether the browser says this request comes from another site: an
/// `Origin` (including `null`) that is neither `public_url`'s nor this
/// request's own (the `Host` it was sent to, under `public_url`'s scheme, so
/// `localhost` works as well as `127.0.0.1` and a page of another site,
/// whose requests carry our `Host` but its own `Origin`, does not), or a
/// `Sec-Fetch-Site` other than `same-origin` or `none` (typed or
/// bookmarked). Browsers send at least one of them with every form post;
/// a request with neither is not a browser's, and has no cookie to abuse.
pub fn from_another_site(headers: &HeaderMap, public_url: &str) -> bool {
    let public = url::Url::parse(public_url).ok();
    let ours = public
        .as_ref()
        .map(|url| url.origin().ascii_serialization());
    let own = public.as_ref().and_then(|url| {
        let host = headers.get(header::HOST)?.to_str().ok()?;
        Some(format!("{}://{host}", url.scheme()))
    });
    let origin_elsewhere = headers.get(header::ORIGIN).is_some_and(|origin| {
        let origin = Some(origin.as_bytes());
        origin != ours.as_deref().map(str::as_bytes) && origin != own.as_deref().map(str::as_bytes)
    });
    let fetched_elsewhere = headers
        .get("sec-fetch-site")
        .is_some_and(|site| !matches!(site.as_bytes(), b"same-origin" | b"none"));
    origin_elsewhere || fetched_elsewhere
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
    if !matches!(*request.method(), Method::GET | Method::HEAD)
        && from_another_site(request.headers(), &state.config.public_url)
    {
        return ApiError::forbidden("csrf_failed", "this form was not sent from this site")
            .into_response();
    }
    let csrf_cookie = cookie_name(state.config.cookie_secure, CSRF_COOKIE);
    let existing = cookie(request.headers(), &csrf_cookie)
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
        let cookie = Cookie::build((csrf_cookie, token))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(state.config.cookie_secure)
            .build();
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// `Set-Cookie` for the session cookie holding `token` for `max_age_secs`
/// (an empty token and 0 end it).
fn session_header(state: &AppState, token: &str, max_age_secs: i64) -> HeaderValue {
    let cookie = Cookie::build((
        cookie_name(state.config.cookie_secure, SESSION_COOKIE),
        token.to_owned(),
    ))
    .path("/")
    .http_only(true)
    .same_site(SameSite::Lax)
    .max_age(time::Duration::seconds(max_age_secs))
    .secure(state.config.cookie_secure)
    .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
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
    /// A visitor the request could not be read for (the database is
    /// unavailable): shown as signed out, with no form that could pass.
    pub fn unknown() -> Self {
        Visitor {
            user: None,
            viewer: None,
            csrf: String::new(),
        }
    }

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
/// form passes) when there is neither. Not a signed cookie jar: the token
/// is echoed in forms, not stored in a cookie, and must bind the session id.
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
        // A stale, ended or revoked session (a 401) is simply no session;
        // a database that cannot say (a 503) is not: read as signed out, the
        // visitor's forms would carry the wrong token and a sign-out would
        // end nothing, so the page says the house is unavailable instead.
        let session_cookie = cookie_name(state.config.cookie_secure, SESSION_COOKIE);
        let user = match cookie(&parts.headers, &session_cookie) {
            Some(token) if !token.is_empty() => match AuthUser::from_token(state, token).await {
                Ok(user) => Some(user),
                Err(err) if err.status.is_server_error() => return Err(err),
                Err(_) => None,
            },
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
    fn over_https_the_cookies_are_host_only_by_name() {
        assert_eq!(cookie_name(true, SESSION_COOKIE), "__Host-gavel_session");
        assert_eq!(cookie_name(true, CSRF_COOKIE), "__Host-gavel_csrf");
        assert_eq!(cookie_name(false, SESSION_COOKIE), "gavel_session");
    }

    #[test]
    fn a_cookie_sent_twice_is_read_as_none() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "gavel_session=planted; a=1; gavel_session=ours"
                .parse()
                .unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), None);
        assert_eq!(cookie(&headers, "a"), Some("1"));
        headers.insert(header::COOKIE, "gavel_session=ours".parse().unwrap());
        headers.append(header::COOKIE, "gavel_session=planted".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE), None, "across headers too");
    }

    #[test]
    fn a_form_is_from_another_site_when_the_browser_says_so() {
        let site = "https://gavel.example";
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, HeaderValue::from_static(value));
            }
            from_another_site(&headers, site)
        };
        assert!(!with(&[]), "not a browser: nothing to go by");
        assert!(!with(&[("origin", "https://gavel.example")]));
        assert!(!with(&[("sec-fetch-site", "same-origin")]));
        assert!(!with(&[("sec-fetch-site", "none")]));
        // The page as this request's own host names it (localhost for
        // 127.0.0.1), under the public scheme.
        assert!(!with(&[
            ("host", "localhost:3000"),
            ("origin", "https://localhost:3000")
        ]));
        assert!(with(&[
            ("host", "localhost:3000"),
            ("origin", "http://localhost:3000")
        ]));
        assert!(with(&[
            ("host", "gavel.example"),
            ("origin", "https://evil.example")
        ]));
        assert!(!with(&[
            ("origin", "https://gavel.example"),
            ("sec-fetch-site", "same-origin")
        ]));
        for elsewhere in [
            &[("origin", "https://evil.example")][..],
            &[("origin", "null")],
            &[("origin", "http://gavel.example")],
            &[("origin", "https://gavel.example:8443")],
            &[("origin", "https://sub.gavel.example")],
            &[("sec-fetch-site", "cross-site")],
            &[("sec-fetch-site", "same-site")],
            &[
                ("origin", "https://gavel.example"),
                ("sec-fetch-site", "cross-site"),
            ],
        ] {
            assert!(with(elsewhere), "{elsewhere:?}");
        }
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
