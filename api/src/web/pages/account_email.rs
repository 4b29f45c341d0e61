//! The pages behind the account emails' links: confirming the address
//! (the link's page posts its token), asking for another link, and the
//! forgotten password (ask for a link, then choose a new password). Thin
//! callers of the same service functions as `/api/v1/auth/…`.

use askama::Template;
use axum::{
    Form,
    extract::{Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{Redirect, Response},
};
use serde::Deserialize;

use super::{
    account::account_sentence,
    shared::{Chrome, CsrfForm, failed_as, message, page, sentence, signed_in},
};
use crate::{
    error::ApiError,
    limits::ClientIp,
    service::{account_email, accounts::AccountError},
    state::AppState,
    web::session::Visitor,
};

#[derive(Template)]
#[template(path = "web/verify_email.html")]
struct VerifyEmailPage {
    chrome: Chrome,
    token: String,
}

#[derive(Template)]
#[template(path = "web/forgot_password.html")]
struct ForgotPasswordPage {
    chrome: Chrome,
    email: String,
}

#[derive(Template)]
#[template(path = "web/reset_password.html")]
struct ResetPasswordPage {
    chrome: Chrome,
    token: String,
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    pub token: String,
}

/// The refusal's page: its status (and `Retry-After`), its sentence.
fn refused(visitor: &Visitor, heading: &str, err: AccountError, back: &str) -> Response {
    let text = account_sentence(&err);
    let err = ApiError::from(err);
    failed_as(message(visitor, err.status, heading, &text, back), &err)
}

/// A page whose address or form carries a link's token: no cache keeps it
/// and no other site learns the address from a `Referer`.
pub(super) fn keeps_token_private(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `GET /verify-email?token=…`: the email's link. Following a link changes
/// nothing (mail scanners follow links): the page's button posts it.
pub async fn verify_email_form(visitor: Visitor, Query(query): Query<TokenQuery>) -> Response {
    keeps_token_private(page(&VerifyEmailPage {
        chrome: Chrome::of(&visitor),
        token: query.token,
    }))
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub token: String,
}

/// `POST /verify-email`.
pub async fn verify_email(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<TokenForm>,
) -> Response {
    if let Err(err) = visitor.check_csrf(&form.csrf) {
        let again = keeps_token_private(page(&VerifyEmailPage {
            chrome: Chrome::of(&visitor).saying(sentence(&err), "bad"),
            token: form.token,
        }));
        return failed_as(again, &err);
    }
    match account_email::verify_email(&state, &form.token).await {
        Ok(()) => message(
            &visitor,
            StatusCode::OK,
            "Email address confirmed",
            "Thank you: your account can bid and sell now.",
            "/",
        ),
        Err(err) => refused(&visitor, "Confirm your email address", err, "/me"),
    }
}

/// `POST /me/verify-email/resend`: another link for the signed-in account.
pub async fn resend_verification(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<CsrfForm>,
) -> Response {
    let user = match signed_in(&visitor, "/me") {
        Ok(user) => user,
        Err(to_sign_in) => return axum::response::IntoResponse::into_response(to_sign_in),
    };
    if let Err(err) = visitor.check_csrf(&form.csrf) {
        return failed_as(
            message(
                &visitor,
                err.status,
                "Confirm your email address",
                &sentence(&err),
                "/me",
            ),
            &err,
        );
    }
    match account_email::resend_verification(&state, user).await {
        Ok(()) => message(
            &visitor,
            StatusCode::ACCEPTED,
            "Check your email",
            "We sent you a new link to confirm your email address.",
            "/me",
        ),
        Err(err) => refused(&visitor, "Confirm your email address", err, "/me"),
    }
}

/// `GET /forgot-password`.
pub async fn forgot_password_form(visitor: Visitor) -> Response {
    page(&ForgotPasswordPage {
        chrome: Chrome::of(&visitor),
        email: String::new(),
    })
}

#[derive(Debug, Deserialize)]
pub struct ForgotPasswordForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub email: String,
}

/// `POST /forgot-password`: the same "check your email" page whether or not
/// an account has the address.
pub async fn forgot_password(
    State(state): State<AppState>,
    visitor: Visitor,
    client: ClientIp,
    Form(form): Form<ForgotPasswordForm>,
) -> Response {
    let again = |text: String, err: &ApiError| {
        let form = page(&ForgotPasswordPage {
            chrome: Chrome::of(&visitor).saying(text, "bad"),
            email: form.email.clone(),
        });
        failed_as(form, err)
    };
    if let Err(err) = visitor.check_csrf(&form.csrf) {
        return again(sentence(&err), &err);
    }
    match account_email::request_password_reset(&state, client.0, &form.email).await {
        Ok(()) => message(
            &visitor,
            StatusCode::OK,
            "Check your email",
            "If an account has this email address, a link to choose a new password is on its \
             way. It works once, for an hour.",
            "/signin",
        ),
        Err(err) => {
            let text = match &err {
                AccountError::Invalid(invalid) => invalid.message.clone(),
                other => account_sentence(other),
            };
            again(text, &ApiError::from(err))
        }
    }
}

/// `GET /reset-password?token=…`: the reset email's link.
pub async fn reset_password_form(visitor: Visitor, Query(query): Query<TokenQuery>) -> Response {
    keeps_token_private(page(&ResetPasswordPage {
        chrome: Chrome::of(&visitor),
        token: query.token,
    }))
}

#[derive(Debug, Deserialize)]
pub struct ResetPasswordForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub new_password: String,
}

/// `POST /reset-password`: the new password, then off to sign in with it.
pub async fn reset_password(
    State(state): State<AppState>,
    visitor: Visitor,
    client: ClientIp,
    Form(form): Form<ResetPasswordForm>,
) -> Response {
    let again = |text: String, err: &ApiError| {
        let form = keeps_token_private(page(&ResetPasswordPage {
            chrome: Chrome::of(&visitor).saying(text, "bad"),
            token: form.token.clone(),
        }));
        failed_as(form, err)
    };
    if let Err(err) = visitor.check_csrf(&form.csrf) {
        return again(sentence(&err), &err);
    }
    match account_email::confirm_password_reset(&state, client.0, &form.token, &form.new_password)
        .await
    {
        Ok(()) => axum::response::IntoResponse::into_response(Redirect::to("/signin?reset=done")),
        Err(AccountError::InvalidLink) => refused(
            &visitor,
            "Choose a new password",
            AccountError::InvalidLink,
            "/forgot-password",
        ),
        Err(err) => {
            // A password to fix reads as the check's own words.
            let text = match &err {
                AccountError::Invalid(invalid) => invalid.message.clone(),
                other => account_sentence(other),
            };
            again(text, &ApiError::from(err))
        }
    }
}
