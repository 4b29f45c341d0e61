//! What every page shares: the frame ([`Chrome`]), rendering, the message
//! page, sentences for refusals from below the service layer, and the words
//! for times, durations and statuses.

use askama::Template;
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use chrono::{DateTime, Utc};
use gavel_workflows::contract::view::AuctionStatus;
use serde::{Deserialize, de::DeserializeOwned};

use crate::{
    auth::AuthUser,
    error::ApiError,
    input_error::{InputError, InputKind},
    web::{
        assets,
        session::{Viewer, Visitor},
    },
};

/// What every page's frame needs: who is signed in, the CSRF token, the
/// asset paths, the page's description and a one-line message.
pub struct Chrome {
    pub viewer: Option<Viewer>,
    pub csrf: String,
    pub css: &'static str,
    pub js: &'static str,
    pub icon: &'static str,
    /// `<meta name="description">`: what search results show of the page.
    pub description: String,
    pub flash: String,
    pub flash_tone: &'static str,
}

impl Chrome {
    pub fn of(visitor: &Visitor) -> Self {
        Self {
            viewer: visitor.viewer.clone(),
            csrf: visitor.csrf.clone(),
            css: assets::css(),
            js: assets::js(),
            icon: assets::icon(),
            description: DESCRIPTION.to_owned(),
            flash: String::new(),
            flash_tone: "",
        }
    }

    /// The page describes itself (a lot: its own description), cut to what
    /// search results show.
    pub fn describing(mut self, text: &str) -> Self {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() {
            self.description = match text.char_indices().nth(DESCRIPTION_CHARS) {
                Some((cut, _)) => format!("{}…", &text[..cut]),
                None => text,
            };
        }
        self
    }

    pub fn saying(mut self, text: impl Into<String>, tone: &'static str) -> Self {
        self.flash = text.into();
        self.flash_tone = tone;
        self
    }

    pub fn can_sell(&self) -> bool {
        self.viewer.as_ref().is_some_and(|v| v.can_sell)
    }
}

/// Every page's description unless it has its own.
const DESCRIPTION: &str = "Gavel: an online auction house. Bid live on lots, with proxy bidding, and pay the seller securely.";
/// Longest description kept, in characters (search results show ~160).
const DESCRIPTION_CHARS: usize = 160;

/// A rendered page (or a plain 500 if a template cannot render).
pub fn page(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => ApiError::internal(anyhow::anyhow!("template: {err}")).into_response(),
    }
}

#[derive(Template)]
#[template(path = "web/message.html")]
struct MessagePage {
    chrome: Chrome,
    heading: String,
    text: String,
    back: String,
}

pub fn message(
    visitor: &Visitor,
    status: StatusCode,
    heading: &str,
    text: &str,
    back: &str,
) -> Response {
    let body = page(&MessagePage {
        chrome: Chrome::of(visitor),
        heading: heading.to_owned(),
        text: text.to_owned(),
        back: back.to_owned(),
    });
    (status, body).into_response()
}

/// `response` answered as `err` is: its status, and its `Retry-After` when
/// the house is unavailable for a moment.
pub fn failed_as(mut response: Response, err: &ApiError) -> Response {
    *response.status_mut() = err.status;
    if let Some(secs) = err.retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// What a person reads when the auction house cannot answer just now.
pub const BUSY: &str = "The auction house is busy right now; try again in a moment.";
/// What a person reads when a form's CSRF token is stale.
pub const FORM_EXPIRED: &str = "This form has expired; reload the page and try again.";
/// What a person reads for an amount that is not one.
pub const INVALID_AMOUNT: &str = "Enter an amount such as 5000 or 5,000.50.";

/// What a person reads when their role may not do something.
pub const FORBIDDEN: &str = "Your account may not do that.";

/// The sentence a person reads for a field the checks refuse: the check's
/// own words, but for an amount, which the form words its own way.
pub fn input_sentence(err: &InputError) -> String {
    match err.kind {
        InputKind::InvalidAmount => INVALID_AMOUNT.to_owned(),
        InputKind::InvalidText
        | InputKind::InvalidTitle
        | InputKind::InvalidDescription
        | InputKind::InvalidCurrency
        | InputKind::InvalidReservePrice
        | InputKind::InvalidBuyNowPrice
        | InputKind::InvalidMinIncrement
        | InputKind::InvalidEndsAt
        | InputKind::InvalidAntiSniping
        | InputKind::InvalidHardCloseAt
        | InputKind::InvalidReason
        | InputKind::InvalidIdempotencyKey
        | InputKind::IdempotencyKeyRequired
        | InputKind::InvalidEmail
        | InputKind::WeakPassword
        | InputKind::InvalidName
        | InputKind::InvalidShipping
        | InputKind::InvalidEndingSoonLead => err.message.clone(),
    }
}

/// The sentence a person reads for what still arrives as an [`ApiError`]
/// (the session, the CSRF check, reading uploads, the photo store, the auth
/// layer below the accounts service): the few codes those give that need
/// words, else the API's own message. Field checks and the role guard are
/// typed: [`input_sentence`], [`FORBIDDEN`].
pub fn sentence(error: &ApiError) -> String {
    match error.code {
        "auction_busy" | "service_unavailable" | "timeout" | "bid_in_progress" => BUSY.to_owned(),
        "unauthenticated" | "invalid_token" | "token_expired" | "token_revoked" => {
            "Please sign in again.".to_owned()
        }
        "csrf_failed" => FORM_EXPIRED.to_owned(),
        _ => error.message.clone(),
    }
}

/// What a person reads when the database failed: busy when it is
/// unreachable for a moment, else that something went wrong inside.
pub fn database_sentence(err: &gavel_store::StoreError) -> String {
    if err.is_unavailable() {
        BUSY.to_owned()
    } else {
        "internal error".to_owned()
    }
}

pub fn signed_in(visitor: &Visitor, next: &str) -> Result<AuthUser, Redirect> {
    visitor
        .user
        .ok_or_else(|| Redirect::to(&format!("/signin?next={}", encode(next))))
}

/// Percent-encodes a path for a `next=` parameter.
pub fn encode(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn time_left(end: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (end - now).num_seconds().max(0);
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3_600,
        secs % 3_600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        _ if secs == 0 => "ending now".to_owned(),
        (1.., _, _) => format!("{d}d {h}h left"),
        (0, 1.., _) => format!("{h}h {m}m left"),
        (0, 0, 1..) => format!("{m}m {s}s left"),
        _ => format!("{s}s left"),
    }
}

/// A status in words; a status this build does not know says nothing.
pub fn status_words(status: Option<AuctionStatus>) -> &'static str {
    match status {
        Some(AuctionStatus::Scheduled) => "Not open yet",
        Some(AuctionStatus::Open) => "Open",
        Some(AuctionStatus::Closed) => "Closed",
        Some(AuctionStatus::AwaitingPayment) => "Sold — awaiting payment",
        Some(AuctionStatus::Settled) => "Sold and paid",
        Some(AuctionStatus::NoSale) => "Closed without a sale",
        Some(AuctionStatus::Unsold) => "Unsold",
        Some(AuctionStatus::Cancelled) => "Cancelled",
        None => "",
    }
}

pub fn duration_words(secs: u32) -> String {
    match secs {
        s if s % 60 == 0 && s >= 60 => {
            let m = s / 60;
            format!("{m} minute{}", if m == 1 { "" } else { "s" })
        }
        s => format!("{s} seconds"),
    }
}

/// A form that carries only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// `?said=`: what the page says about the form just sent (one of `S`'s
/// words, else nothing).
#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "S: DeserializeOwned"))]
pub struct SaidQuery<S> {
    #[serde(default, deserialize_with = "super::said::known_word")]
    pub said: Option<S>,
}
