//! Signing up, in and out: the forms, where a signed-in visitor goes next
//! (only ever on this site), and the session cookie set or dropped.

use askama::Template;
use axum::{
    Form,
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::shared::{
    Chrome, CsrfForm, database_sentence, failed_as, input_sentence, message, page, sentence,
};
use crate::{
    error::ApiError,
    limits::ClientIp,
    service::accounts::{self, AccountError, Registration},
    state::AppState,
    web::session::{self, Visitor},
};

#[derive(Template)]
#[template(path = "web/sign_up.html")]
struct SignUpPage {
    chrome: Chrome,
    next: String,
    name: String,
    email: String,
    role: String,
}

#[derive(Template)]
#[template(path = "web/sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    next: String,
    email: String,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    pub next: Option<String>,
    /// `done` after a password reset: sign in with the new password.
    pub reset: Option<String>,
}

/// `GET /signup`.
pub async fn sign_up_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<NextQuery>,
) -> Response {
    page(&SignUpPage {
        chrome: Chrome::of(&visitor),
        next: safe_next(
            query.next.as_deref().unwrap_or("/"),
            &state.config.public_url,
        ),
        name: String::new(),
        email: String::new(),
        role: "bidder".into(),
    })
}

/// `GET /signin`.
pub async fn sign_in_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<NextQuery>,
) -> Response {
    let chrome = match query.reset.as_deref() {
        Some("done") => {
            Chrome::of(&visitor).saying("Your password is changed: sign in with it.", "good")
        }
        _ => Chrome::of(&visitor),
    };
    page(&SignInPage {
        chrome,
        next: safe_next(
            query.next.as_deref().unwrap_or("/"),
            &state.config.public_url,
        ),
        email: String::new(),
    })
}

#[derive(Debug, Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub next: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub role: String,
}

/// Where to go after signing in: `next` resolved against the public URL the
/// way a browser resolves it (tabs and newlines dropped, `\\` read as `/`),
/// kept only when it lands on this origin and holds no control character;
/// else `/`. What is kept is the URL's own serialization (path, query,
/// fragment), percent-encoded ASCII, so it is always a valid `Location`.
/// Resolving collapses dot segments, which can leave an empty first segment
/// (`/.//host` becomes `//host`): a browser reads that as another host, so
/// a serialization starting `//`, or holding any `\`, is not kept either.
fn safe_next(next: &str, public_url: &str) -> String {
    let home = || "/".to_owned();
    if next.chars().any(char::is_control) {
        return home();
    }
    let Ok(base) = url::Url::parse(public_url) else {
        return home();
    };
    match base.join(next) {
        Ok(target) if target.origin() == base.origin() => {
            let kept = &target[url::Position::BeforePath..];
            if kept.starts_with("//") || kept.contains('\\') {
                home()
            } else {
                kept.to_owned()
            }
        }
        _ => home(),
    }
}

pub fn signed_in_to(
    state: &AppState,
    token: &str,
    expires_at: DateTime<Utc>,
    next: &str,
) -> Response {
    let max_age = (expires_at - Utc::now()).num_seconds().max(0);
    let mut response = Redirect::to(&safe_next(next, &state.config.public_url)).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session::session_cookie(state, token, max_age),
    );
    response
}

/// A browser that signs in again drops the cookie of the session it had:
/// that session ends too, so no copy of the dropped cookie lives on. (Were
/// the database to fail here, the new sign-in still stands.)
async fn end_replaced_session(state: &AppState, visitor: &Visitor) {
    if let Some(old) = visitor.user
        && let Err(err) = accounts::end_session(state, old).await
    {
        let code = ApiError::from(err).code;
        tracing::warn!(user_id = %old.id, code, "the replaced session was not ended");
    }
}

/// `POST /signup`: the accounts service's registration, then signed in.
pub async fn sign_up(
    State(state): State<AppState>,
    visitor: Visitor,
    client: ClientIp,
    Form(form): Form<SignUpForm>,
) -> Result<Response, ApiError> {
    let again = |text: String| {
        page(&SignUpPage {
            chrome: Chrome::of(&visitor).saying(text, "bad"),
            next: safe_next(&form.next, &state.config.public_url),
            name: form.name.clone(),
            email: form.email.clone(),
            role: form.role.clone(),
        })
    };
    if let Err(err) = visitor.check_csrf(&form.csrf) {
        return Ok(again(sentence(&err)));
    }
    let registration = Registration {
        email: form.email.clone(),
        password: form.password.clone(),
        name: form.name.clone(),
        role: form.role.clone(),
    };
    match accounts::register(&state, client.0, registration).await {
        Ok(auth) => {
            end_replaced_session(&state, &visitor).await;
            Ok(signed_in_to(
                &state,
                &auth.token,
                auth.expires_at,
                &form.next,
            ))
        }
        Err(err) => {
            // A field to fix reads as the check's own words.
            let text = match &err {
                AccountError::Invalid(invalid) => invalid.message.clone(),
                AccountError::Auth(api) if !api.status.is_server_error() => api.message.clone(),
                other => account_sentence(other),
            };
            Ok(answered_as(again(text), err))
        }
    }
}

/// The sentence a person reads for an account refusal.
pub fn account_sentence(error: &AccountError) -> String {
    match error {
        AccountError::Invalid(err) => input_sentence(err),
        AccountError::Auth(err) => sentence(err),
        AccountError::InvalidRole => "role must be `bidder` or `seller`".to_owned(),
        AccountError::TooManyAttempts { .. } => "too many requests; retry later".to_owned(),
        AccountError::InvalidCredentials => "email or password is wrong".to_owned(),
        AccountError::WrongPassword => "the current password is wrong".to_owned(),
        AccountError::AccountGone => "Please sign in again.".to_owned(),
        AccountError::InvalidLink => "This link is unknown, already used or expired: ask for a \
            new one."
            .to_owned(),
        AccountError::AlreadyVerified => "Your email address is already confirmed.".to_owned(),
        AccountError::TooManyResends { .. } => "We sent several links already: wait an hour and \
            ask again, or look for the ones we sent."
            .to_owned(),
        AccountError::Database(err) => database_sentence(err),
    }
}

/// The sentence a person reads when signing in fails.
fn sign_in_sentence(error: &AccountError) -> String {
    match error {
        AccountError::TooManyAttempts { .. } => {
            "Too many attempts: wait a few minutes and try again.".to_owned()
        }
        AccountError::InvalidCredentials => {
            "That email and password do not match an account.".to_owned()
        }
        AccountError::Invalid(_)
        | AccountError::Auth(_)
        | AccountError::InvalidRole
        | AccountError::WrongPassword
        | AccountError::AccountGone
        | AccountError::InvalidLink
        | AccountError::AlreadyVerified
        | AccountError::TooManyResends { .. }
        | AccountError::Database(_) => account_sentence(error),
    }
}

/// The form again: with the refusal's status (and `Retry-After`) when the
/// house failed, as a plain page when the visitor has something to fix.
fn answered_as(form: Response, err: AccountError) -> Response {
    let err = ApiError::from(err);
    if err.status.is_server_error() {
        failed_as(form, &err)
    } else {
        form
    }
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub next: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
}

/// `POST /signin`: the accounts service's login, then signed in.
pub async fn sign_in(
    State(state): State<AppState>,
    visitor: Visitor,
    client: ClientIp,
    Form(form): Form<SignInForm>,
) -> Result<Response, ApiError> {
    let again = |text: String| {
        page(&SignInPage {
            chrome: Chrome::of(&visitor).saying(text, "bad"),
            next: safe_next(&form.next, &state.config.public_url),
            email: form.email.clone(),
        })
    };
    if let Err(err) = visitor.check_csrf(&form.csrf) {
        return Ok(again(sentence(&err)));
    }
    match accounts::login(&state, client.0, &form.email, form.password.clone()).await {
        Ok(auth) => {
            end_replaced_session(&state, &visitor).await;
            Ok(signed_in_to(
                &state,
                &auth.token,
                auth.expires_at,
                &form.next,
            ))
        }
        Err(err) => Ok(answered_as(again(sign_in_sentence(&err)), err)),
    }
}

/// `POST /signout`. A sign-out that did not end the session never looks
/// like one that did: the visitor is told, and (signed in) given a fresh form.
pub async fn sign_out(
    State(state): State<AppState>,
    visitor: Result<Visitor, ApiError>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let unavailable = |visitor: &Visitor, err: &ApiError| {
        failed_as(
            message(
                visitor,
                err.status,
                "Sign out",
                "You are still signed in: signing out failed, as the auction house is unavailable. Try again in a moment.",
                "/",
            ),
            err,
        )
    };
    let visitor = match visitor {
        Ok(visitor) => visitor,
        Err(err) => return unavailable(&Visitor::unknown(), &err),
    };
    if visitor.check_csrf(&form.csrf).is_err() {
        if visitor.user.is_some() {
            // The page's header carries a fresh sign-out form.
            return message(
                &visitor,
                StatusCode::FORBIDDEN,
                "Sign out",
                "You are still signed in: that sign-out form had expired. Sign out again with the button above.",
                "/",
            );
        }
        // No live session here: nothing to end, only the cookie to drop.
        let mut response = Redirect::to("/").into_response();
        response
            .headers_mut()
            .append(header::SET_COOKIE, session::ended_session(&state));
        return response;
    }
    // The session ends on the server, not just in this browser: a copied
    // cookie (or the same token as a bearer) is refused from now on.
    if let Some(user) = visitor.user
        && let Err(err) = accounts::end_session(&state, user).await
    {
        return unavailable(&visitor, &ApiError::from(err));
    }
    let mut response = Redirect::to("/").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::ended_session(&state));
    response
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const SITE: &str = "https://gavel.example";

    #[test]
    fn only_paths_on_this_site_are_followed_after_signing_in() {
        assert_eq!(safe_next("/auctions/1", SITE), "/auctions/1");
        assert_eq!(safe_next("/a?q=1#b", SITE), "/a?q=1#b");
        assert_eq!(safe_next("https://gavel.example/me", SITE), "/me");
        for elsewhere in [
            "//evil.example",
            "https://evil.example",
            "http://gavel.example/me",
            "/\\evil",
            "/\t/evil.example",
            "/\n/evil.example",
            "\t//evil.example",
            "/me\u{1}",
            "/me\u{7f}",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(elsewhere, SITE), "/", "{elsewhere:?}");
        }
    }

    /// Dot segments collapse while the URL is resolved: what is left may
    /// begin with an empty segment, which a browser reads as `//host`.
    #[test]
    fn dot_segments_never_leave_a_scheme_relative_path() {
        for collapsing in [
            "/.//evil.example",
            "/..//evil.example",
            "/%2e//evil.example",
            "/a/..//evil.example",
            "\\.\\\\evil.example",
            "/./\\evil.example",
            "/%2e%2e//evil.example/y",
            "../../..//evil.example",
            "https://gavel.example/.//evil.example",
            ".\\\\",
        ] {
            let target = safe_next(collapsing, SITE);
            assert_eq!(target, "/", "{collapsing:?} gave {target:?}");
        }
        assert_eq!(safe_next("/a/./b/../c", SITE), "/a/c");
    }

    /// What a browser does with a `Location`: resolves it against the page
    /// (dropping tabs and newlines on the way).
    fn followed(location: &str) -> url::Url {
        url::Url::parse(SITE).unwrap().join(location).unwrap()
    }

    proptest::proptest! {
        #[test]
        fn whatever_next_says_signing_in_stays_on_this_site(next in proptest::prelude::any::<String>()) {
            let target = safe_next(&next, SITE);
            proptest::prop_assert!(HeaderValue::from_str(&target).is_ok(), "{target:?}");
            proptest::prop_assert!(target.starts_with('/') && !target.starts_with("//"), "{target:?}");
            let site = url::Url::parse(SITE).unwrap();
            proptest::prop_assert_eq!(followed(&target).origin(), site.origin());
            // Redirect::to panics on a value no header can carry (a 500).
            let response = std::panic::catch_unwind(|| Redirect::to(&target).into_response());
            proptest::prop_assert!(response.is_ok());
        }

        #[test]
        fn paths_that_look_like_escapes_stay_on_this_site(
            next in proptest::prop_oneof![
                "[/\\\\\t\n\r .:@a-z%0-9\u{0}-\u{1f}\u{7f}é]{0,24}",
                "((https://gavel\\.example)?|[./\\\\]{0,3})([/\\\\]|\\.|\\.\\.|%2[eE]|%2[eE]%2[eE]|[a-z]){0,8}([/\\\\]{1,3}evil\\.example[/a-z]{0,3})?",
            ]
        ) {
            let target = safe_next(&next, SITE);
            proptest::prop_assert!(HeaderValue::from_str(&target).is_ok(), "{target:?}");
            proptest::prop_assert!(target.starts_with('/') && !target.starts_with("//") && !target.contains('\\'), "{target:?}");
            proptest::prop_assert_eq!(followed(&target).origin(), url::Url::parse(SITE).unwrap().origin());
        }
    }
}
