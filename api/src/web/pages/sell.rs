//! `GET /sell` and `POST /sell`: the form to put a lot up, read from its
//! multipart body (fields and photos) and created by the selling service.

use std::collections::HashMap;

use askama::Template;
use axum::{
    extract::State,
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::shared::{
    BUSY, Chrome, FORBIDDEN, database_sentence, input_sentence, message, page, sentence, signed_in,
};
use crate::{
    auctions::input::{AntiSnipingInput, CreateAuctionRequest},
    auth::Role,
    commission::Commission,
    error::ApiError,
    extract::ApiMultipart,
    service::selling::{self, CreateError, NewAuction},
    state::AppState,
    web::{images, money, photos, session::Visitor, upload_reader},
};

#[derive(Debug, Default, Deserialize)]
pub struct SellForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub starting_price: String,
    #[serde(default)]
    pub reserve_price: String,
    #[serde(default)]
    pub buy_now_price: String,
    #[serde(default)]
    pub min_increment: String,
    #[serde(default)]
    pub ends_in_minutes: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub hard_close_at: String,
    #[serde(default)]
    pub window_secs: String,
    #[serde(default)]
    pub extension_secs: String,
    #[serde(default)]
    pub second_chance_offers: Option<String>,
}

pub struct SellFields {
    pub title: String,
    pub description: String,
    pub currency: String,
    pub starting_price: String,
    pub reserve_price: String,
    pub buy_now_price: String,
    pub min_increment: String,
    pub ends_in_minutes: String,
    pub window_secs: String,
    pub extension_secs: String,
    pub second_chance_offers: bool,
}

impl From<&SellForm> for SellFields {
    fn from(f: &SellForm) -> Self {
        Self {
            title: f.title.clone(),
            description: f.description.clone(),
            currency: f.currency.clone(),
            starting_price: f.starting_price.clone(),
            reserve_price: f.reserve_price.clone(),
            buy_now_price: f.buy_now_price.clone(),
            min_increment: f.min_increment.clone(),
            ends_in_minutes: f.ends_in_minutes.clone(),
            window_secs: f.window_secs.clone(),
            extension_secs: f.extension_secs.clone(),
            second_chance_offers: f.second_chance_offers.is_some(),
        }
    }
}

#[derive(Template)]
#[template(path = "web/sell.html")]
struct SellPage {
    chrome: Chrome,
    key: String,
    commission: String,
    form: SellFields,
    currencies: Vec<(&'static str, &'static str)>,
}

/// What a seller is told Gavel keeps (the terms a lot listed now gets), its
/// minimum in the form's currency.
fn commission_line(commission: Commission, currency: &str) -> String {
    let share = format!("Gavel keeps {} % of what the buyer pays", commission.rate);
    if commission.minimum > 0 {
        format!(
            "{share} (at least {}).",
            money::format(commission.minimum, currency)
        )
    } else {
        format!("{share}.")
    }
}

fn sell_page(chrome: Chrome, key: String, commission: Commission, form: SellFields) -> Response {
    page(&SellPage {
        chrome,
        key,
        commission: commission_line(commission, &form.currency),
        form,
        currencies: vec![
            ("NGN", "Naira (₦)"),
            ("GHS", "Cedi (GH₵)"),
            ("ZAR", "Rand (R)"),
            ("KES", "Shilling (KSh)"),
            ("USD", "Dollar ($)"),
        ],
    })
}

/// The answer to a bidder at the sell form.
fn needs_seller(visitor: &Visitor) -> Response {
    message(
        visitor,
        StatusCode::FORBIDDEN,
        "Selling needs a seller account",
        "Your account bids. Start selling from your page (one click), then come back here.",
        "/me",
    )
}

/// `GET /sell`: the form to put something up.
pub async fn sell_form(State(state): State<AppState>, visitor: Visitor) -> Response {
    if let Err(to_sign_in) = signed_in(&visitor, "/sell") {
        return to_sign_in.into_response();
    }
    if !visitor.viewer.as_ref().is_some_and(|v| v.can_sell) {
        return needs_seller(&visitor);
    }
    let blank = SellForm {
        currency: "NGN".into(),
        ends_in_minutes: "4320".into(),
        window_secs: "120".into(),
        extension_secs: "120".into(),
        second_chance_offers: Some("on".into()),
        ..SellForm::default()
    };
    sell_page(
        Chrome::of(&visitor),
        Uuid::new_v4().to_string(),
        state.config.commission,
        (&blank).into(),
    )
}

fn optional_money(text: &str, field: &str) -> Result<Option<i64>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    money::parse_major(text)
        .map(Some)
        .ok_or_else(|| format!("{field}: enter an amount such as 5000 or 5,000.50"))
}

fn optional_time(text: &str, field: &str) -> Result<Option<DateTime<Utc>>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| format!("{field}: pick a date and time"))
}

fn seconds(text: &str, field: &str, default: u32) -> Result<u32, String> {
    if text.trim().is_empty() {
        return Ok(default);
    }
    text.trim()
        .parse()
        .map_err(|_| format!("{field}: enter a number of seconds"))
}

impl SellForm {
    /// The API's request from the form, or what to fix.
    fn request(&self, now: DateTime<Utc>) -> Result<CreateAuctionRequest, String> {
        let starting_price = money::parse_major(&self.starting_price)
            .ok_or("Starting price: enter an amount such as 5000 or 5,000.50")?;
        let ends_at = match optional_time(&self.ends_at, "Ends at")? {
            Some(at) => at,
            None => {
                let minutes: f64 = self
                    .ends_in_minutes
                    .trim()
                    .parse()
                    .map_err(|_| "Ends in: enter a number of minutes, or pick an end")?;
                if !(minutes.is_finite() && minutes > 0.0 && minutes <= 90.0 * 24.0 * 60.0) {
                    return Err("Ends in: between a moment and 90 days".into());
                }
                now + Duration::milliseconds((minutes * 60_000.0) as i64)
            }
        };
        Ok(CreateAuctionRequest {
            title: self.title.clone(),
            description: self.description.clone(),
            currency: self.currency.clone(),
            starting_price,
            reserve_price: optional_money(&self.reserve_price, "Reserve price")?,
            buy_now_price: optional_money(&self.buy_now_price, "Buy-now price")?,
            min_increment: optional_money(&self.min_increment, "Bid increment")?,
            starts_at: optional_time(&self.starts_at, "Opens at")?,
            ends_at,
            anti_sniping: Some(AntiSnipingInput {
                window_secs: seconds(&self.window_secs, "Anti-sniping window", 120)?,
                extension_secs: seconds(&self.extension_secs, "Extension", 120)?,
            }),
            hard_close_at: optional_time(&self.hard_close_at, "Never ends after")?,
            second_chance_offers: Some(self.second_chance_offers.is_some()),
        })
    }
}

impl SellForm {
    /// The form's text fields (anything else sent is skipped unread).
    const FIELDS: [&str; 16] = [
        "csrf",
        "key",
        "title",
        "description",
        "currency",
        "starting_price",
        "reserve_price",
        "buy_now_price",
        "min_increment",
        "ends_in_minutes",
        "ends_at",
        "starts_at",
        "hard_close_at",
        "window_secs",
        "extension_secs",
        "second_chance_offers",
    ];

    fn from_fields(fields: HashMap<String, String>) -> Self {
        // Every field is text, so this cannot fail on what a browser sends.
        serde_json::from_value(json!(fields)).unwrap_or_default()
    }
}

const SELLING_SUSPENDED: &str = "Selling is suspended on your account: paid lots were left \
    unshipped. An admin can lift it.";

const UNVERIFIED_SELLING: &str = "Confirm your email address before you sell: follow the link \
    we emailed you (your account page can send another).";

/// The sentence a seller reads for an auction not created.
fn create_sentence(error: &CreateError) -> String {
    match error {
        CreateError::Invalid(err) => input_sentence(err),
        CreateError::Forbidden(_) => FORBIDDEN.to_owned(),
        CreateError::Suspended => SELLING_SUSPENDED.to_owned(),
        CreateError::EmailUnverified => UNVERIFIED_SELLING.to_owned(),
        // The words the form has always given a reused key.
        CreateError::KeyReused => "That bid was already placed.".to_owned(),
        CreateError::NotFound => "no such auction".to_owned(),
        CreateError::Unavailable(_) => BUSY.to_owned(),
        CreateError::Database(err) => database_sentence(err),
    }
}

/// `POST /sell`: creates the auction through the selling service, then
/// stores its photos.
pub async fn sell(
    State(state): State<AppState>,
    visitor: Visitor,
    ApiMultipart(mut multipart): ApiMultipart,
) -> Result<Response, ApiError> {
    let user = match signed_in(&visitor, "/sell") {
        Ok(user) => user,
        Err(to_sign_in) => return Ok(to_sign_in.into_response()),
    };
    // A bidder's form, and an unverified seller's, are refused before a
    // byte of it is read (no photo is decoded for a form that cannot list).
    if user.require(&[Role::Seller]).is_err() {
        return Ok(needs_seller(&visitor));
    }
    if let Err(err) = selling::may_sell(&state, &user).await {
        let text = create_sentence(&err);
        return Ok(message(
            &visitor,
            ApiError::from(err).status,
            "Put a lot up",
            &text,
            "/me",
        ));
    }
    // The form again, saying what is wrong, with the refusal's status.
    let again = |form: &SellForm, status: StatusCode, text: String| {
        let page = sell_page(
            Chrome::of(&visitor).saying(text, "bad"),
            form.key.clone(),
            state.config.commission,
            form.into(),
        );
        (status, page).into_response()
    };
    // The token is judged before any photo is read (the form puts it
    // first); a form without photos is judged below.
    let before_photos = |fields: &HashMap<String, String>| {
        visitor.check_csrf(fields.get("csrf").map_or("", String::as_str))
    };
    let keep = |name: &str| SellForm::FIELDS.contains(&name);
    let (form, photos) = match upload_reader::read_upload(
        &state.uploads,
        &mut multipart,
        keep,
        images::MAX_IMAGES,
        before_photos,
    )
    .await
    {
        Ok(upload) => (SellForm::from_fields(upload.fields), upload.photos),
        Err((upload, err)) => {
            return Ok(again(
                &SellForm::from_fields(upload.fields),
                err.status,
                sentence(&err),
            ));
        }
    };
    if let Err(err) = visitor.check_csrf(&form.csrf) {
        return Ok(again(&form, err.status, sentence(&err)));
    }
    let request = match form.request(Utc::now()) {
        Ok(request) => request,
        Err(text) => return Ok(again(&form, StatusCode::UNPROCESSABLE_ENTITY, text)),
    };
    // What a header could carry of the key, as the API reads its header.
    let key = HeaderValue::from_str(form.key.trim())
        .ok()
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let created = match selling::create_auction(&state, &user, NewAuction { key, request }).await {
        Ok(created) => created,
        Err(err) => {
            let text = create_sentence(&err);
            return Ok(again(&form, ApiError::from(err).status, text));
        }
    };
    // A retried form finds its auction again; its photos are already there.
    if !photos.is_empty() && photos::of_auction(&state.db, created.id).await?.is_empty() {
        photos::add(&state.db, created.id, photos).await?;
    }
    Ok(Redirect::to(&format!("/auctions/{}", created.id)).into_response())
}
