//! The notice choices on `/me` (one form, replaced whole) and the pages
//! behind an email's unsubscribe link: `GET /unsubscribe?token=…` shows a
//! button and changes nothing (mail scanners open links), and a `POST` to
//! the same address, from that button or a mail client's RFC 8058 one-click
//! (`List-Unsubscribe=One-Click`), stops the kind. The token is what
//! authorises it, so that POST needs no session and no CSRF token. Thin
//! callers of [`crate::service::notices`].

use askama::Template;
use axum::{
    Form,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use gavel_activities::mailer::unsubscribe::notice_words;
use serde::Deserialize;

use super::{
    account_email::{TokenQuery, keeps_token_private},
    me::me_form_user,
    said::MeSaid,
    shared::{Chrome, database_sentence, failed_as, input_sentence, message, page},
};
use crate::{
    auth::AuthUser,
    error::ApiError,
    service::notices::{self, NoticePreferences, PreferencesError, UnsubscribeError},
    state::AppState,
    web::session::Visitor,
};

/// The notice choices as `/me` shows them (the lead in minutes).
pub struct NoticesSection {
    pub outbid: bool,
    pub ending_soon: bool,
    pub watched_lots: bool,
    pub saved_search_digest: bool,
    pub lead_minutes: i32,
}

/// The signed-in account's choices for its `/me` section.
pub async fn section(state: &AppState, user: &AuthUser) -> Result<NoticesSection, ApiError> {
    let choices = notices::get(state, user).await?;
    Ok(NoticesSection {
        outbid: choices.outbid,
        ending_soon: choices.ending_soon,
        watched_lots: choices.watched_lots,
        saved_search_digest: choices.saved_search_digest,
        lead_minutes: choices.ending_soon_lead_secs / 60,
    })
}

/// The `/me` form: a ticked box is sent, an unticked one is not.
#[derive(Debug, Deserialize)]
pub struct NoticesForm {
    #[serde(default)]
    pub csrf: String,
    pub outbid: Option<String>,
    pub ending_soon: Option<String>,
    pub watched_lots: Option<String>,
    pub saved_search_digest: Option<String>,
    #[serde(default)]
    pub lead_minutes: String,
}

/// `POST /me/preferences`: my choices, replaced whole.
pub async fn save(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<NoticesForm>,
) -> Response {
    let user = match me_form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return *answer,
    };
    // A lead that is not a whole number of minutes is out of range below.
    let lead_secs = form
        .lead_minutes
        .trim()
        .parse::<i32>()
        .ok()
        .and_then(|minutes| minutes.checked_mul(60))
        .unwrap_or(-1);
    let choices = NoticePreferences {
        outbid: form.outbid.is_some(),
        ending_soon: form.ending_soon.is_some(),
        watched_lots: form.watched_lots.is_some(),
        saved_search_digest: form.saved_search_digest.is_some(),
        ending_soon_lead_secs: lead_secs,
    };
    match notices::put(&state, &user, choices).await {
        Ok(_) => Redirect::to(&format!("{}#notices", MeSaid::NoticesSaved.link())).into_response(),
        Err(err) => {
            let text = match &err {
                PreferencesError::Invalid(invalid) => input_sentence(invalid),
                PreferencesError::Database(db) => database_sentence(db),
            };
            let err = ApiError::from(err);
            failed_as(
                message(&visitor, err.status, "Email notices", &text, "/me#notices"),
                &err,
            )
        }
    }
}

#[derive(Template)]
#[template(path = "web/unsubscribe.html")]
struct UnsubscribePage {
    chrome: Chrome,
    token: String,
    what: &'static str,
}

/// The sentence for a link that did nothing.
fn unsubscribe_sentence(err: &UnsubscribeError) -> String {
    match err {
        UnsubscribeError::InvalidLink => err.to_string(),
        UnsubscribeError::Database(db) => database_sentence(db),
    }
}

fn refused(visitor: &Visitor, err: UnsubscribeError) -> Response {
    let text = unsubscribe_sentence(&err);
    let err = ApiError::from(err);
    keeps_token_private(failed_as(
        message(visitor, err.status, "Unsubscribe", &text, "/me#notices"),
        &err,
    ))
}

/// `GET /unsubscribe?token=…`: what the link stops, and a button; nothing
/// changes until it is pressed.
pub async fn unsubscribe_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<TokenQuery>,
) -> Response {
    match notices::check_link(&state, &query.token).await {
        Ok(kind) => keeps_token_private(page(&UnsubscribePage {
            chrome: Chrome::of(&visitor),
            token: query.token,
            what: notice_words(kind),
        })),
        Err(err) => refused(&visitor, err),
    }
}

/// `POST /unsubscribe?token=…`: the page's button or a mail client's
/// one-click; whatever the body says, the signed token decides. 200 each
/// time (a second time changes nothing).
pub async fn unsubscribe(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<TokenQuery>,
) -> Response {
    match notices::unsubscribe(&state, &query.token).await {
        Ok(kind) => keeps_token_private(message(
            &visitor,
            StatusCode::OK,
            "Unsubscribed",
            &format!(
                "You will get no more {}. You can turn them back on from your account page.",
                notice_words(kind)
            ),
            "/me#notices",
        )),
        Err(err) => refused(&visitor, err),
    }
}
