//! The pages: what each shows and what each form does. Every form action
//! goes through the same handler the JSON API runs (so the rules, limits and
//! errors are the API's), signed in by the session cookie and checked
//! against the CSRF token.

use std::collections::HashMap;

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use chrono::{DateTime, Duration, Utc};
use gavel_store::invoices::{self, InvoiceStatus};
use gavel_workflows::ids::UserId;
use gavel_workflows::{
    auction::AuctionStatus,
    rules::{INCREMENT_BANDS, Standing, TOP_INCREMENT},
};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    assets, images, money,
    photos::{self, Photo},
    session::{self, Viewer, Visitor},
};
use crate::{
    auctions::{
        input::{AntiSnipingInput, CreateAuctionRequest, PlaceBidRequest},
        store::{self, ListFilter},
        view::AuctionResponse,
    },
    auth::{AuthUser, Role},
    error::ApiError,
    extract::{ApiJson, ApiMultipart, ApiPath},
    limits::ClientIp,
    routes,
    state::AppState,
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
    fn of(visitor: &Visitor) -> Self {
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
    fn describing(mut self, text: &str) -> Self {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() {
            self.description = match text.char_indices().nth(DESCRIPTION_CHARS) {
                Some((cut, _)) => format!("{}…", &text[..cut]),
                None => text,
            };
        }
        self
    }

    fn saying(mut self, text: impl Into<String>, tone: &'static str) -> Self {
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
fn page(template: &impl Template) -> Response {
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

pub(super) fn message(
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
fn failed_as(mut response: Response, err: &ApiError) -> Response {
    *response.status_mut() = err.status;
    if let Some(secs) = err.retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The sentence a person reads for an API refusal.
pub fn sentence(error: &ApiError, currency: &str) -> String {
    let detail = |key: &str| {
        error
            .details
            .as_ref()
            .and_then(|d| d.get(key))
            .and_then(Value::as_i64)
    };
    match error.code {
        "bid_too_low" => match detail("minimum") {
            Some(minimum) => format!(
                "Your bid is too low: the next bid must be at least {}.",
                money::format(minimum, currency)
            ),
            None => "Your bid is too low.".to_owned(),
        },
        "max_not_raised" => match detail("current_max") {
            Some(max) => format!(
                "You already lead with a maximum of {}: to raise it, enter more than that.",
                money::format(max, currency)
            ),
            None => "Your new maximum must be above your current one.".to_owned(),
        },
        "auction_closed" => "This auction has closed; no more bids are taken.".to_owned(),
        "auction_not_open" => "This auction has not opened yet.".to_owned(),
        "own_auction" => "You cannot bid on your own auction.".to_owned(),
        "bidding_suspended" => {
            "Bidding is suspended on your account: you left won auctions unpaid. An admin can lift it."
                .to_owned()
        }
        "too_many_bids" => "You are bidding very fast; wait a moment and try again.".to_owned(),
        "auction_busy" | "service_unavailable" | "timeout" | "bid_in_progress" => {
            "The auction house is busy right now; try again in a moment.".to_owned()
        }
        "invalid_amount" => "Enter an amount such as 5000 or 5,000.50.".to_owned(),
        "currency_mismatch" => "That currency is not this auction's.".to_owned(),
        "idempotency_key_reused" => "That bid was already placed.".to_owned(),
        "forbidden" => "Your account may not do that.".to_owned(),
        "unauthenticated" | "invalid_token" | "token_expired" | "token_revoked" => {
            "Please sign in again.".to_owned()
        }
        "csrf_failed" => "This form has expired; reload the page and try again.".to_owned(),
        _ => error.message.clone(),
    }
}

pub(super) fn signed_in(visitor: &Visitor, next: &str) -> Result<AuthUser, Redirect> {
    visitor
        .user
        .ok_or_else(|| Redirect::to(&format!("/signin?next={}", encode(next))))
}

/// Percent-encodes a path for a `next=` parameter.
fn encode(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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

fn time_left(end: DateTime<Utc>, now: DateTime<Utc>) -> String {
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

fn status_words(status: &str) -> &'static str {
    match status {
        "scheduled" => "Not open yet",
        "open" => "Open",
        "closed" => "Closed",
        "awaiting_payment" => "Sold — awaiting payment",
        "settled" => "Sold and paid",
        "no_sale" => "Closed without a sale",
        "unsold" => "Unsold",
        "cancelled" => "Cancelled",
        _ => "",
    }
}

fn duration_words(secs: u32) -> String {
    match secs {
        s if s % 60 == 0 && s >= 60 => {
            let m = s / 60;
            format!("{m} minute{}", if m == 1 { "" } else { "s" })
        }
        s => format!("{s} seconds"),
    }
}

// ---------------------------------------------------------------- listing

pub struct Card {
    pub id: Uuid,
    pub title: String,
    pub price: String,
    pub bids: String,
    pub ends_at: String,
    pub ends_text: String,
    pub image: Option<String>,
}

#[derive(Template)]
#[template(path = "web/index.html")]
struct IndexPage {
    chrome: Chrome,
    heading: String,
    q: String,
    status: String,
    statuses: Vec<(&'static str, &'static str)>,
    cards: Vec<Card>,
    next_page: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct IndexQuery {
    pub q: Option<String>,
    pub status: Option<String>,
    pub after: Option<String>,
}

const PAGE_SIZE: i64 = 24;

/// `GET /`: auctions, soonest end first, with search, a status filter and paging.
pub async fn index(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<IndexQuery>,
) -> Result<Response, ApiError> {
    let status_word = query.status.clone().unwrap_or_else(|| "open".to_owned());
    let status = AuctionStatus::parse(&status_word).unwrap_or(AuctionStatus::Open);
    let q: String = query
        .q
        .clone()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(100)
        .collect();
    let after = query
        .after
        .as_deref()
        .and_then(routes::auctions::decode_cursor);
    let filter = ListFilter {
        status: Some(status),
        text: (!q.is_empty()).then(|| q.clone()),
        after,
        limit: PAGE_SIZE + 1,
        ending_first: true,
        ..ListFilter::default()
    };
    let mut rows = store::list(&state.db, &filter).await?;
    let more = rows.len() > PAGE_SIZE as usize;
    rows.truncate(PAGE_SIZE as usize);
    let now = Utc::now();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let covers = photos::covers(&state.db, &ids).await?;
    let cards = rows
        .iter()
        .map(|row| {
            let shown = row.current_price.unwrap_or(row.starting_price);
            Card {
                id: row.id,
                title: row.title.clone(),
                price: money::format(shown, &row.currency),
                bids: match row.bid_count {
                    0 => "no bids yet".to_owned(),
                    1 => "1 bid".to_owned(),
                    n => format!("{n} bids"),
                },
                ends_at: row.ends_at.to_rfc3339(),
                ends_text: time_left(row.ends_at, now),
                image: covers
                    .iter()
                    .find(|(id, _)| *id == row.id)
                    .map(|(_, src)| src.clone()),
            }
        })
        .collect();
    let next_page = more.then(|| {
        let last = rows.last().map(|r| (r.ends_at, r.id));
        let cursor = last.map_or_else(String::new, |(at, id)| {
            routes::auctions::encode_cursor(at, id)
        });
        format!(
            "/?status={}&q={}&after={cursor}",
            status.as_str(),
            encode(&q)
        )
    });
    let heading = match status {
        AuctionStatus::Open => "On sale now".to_owned(),
        other => status_words(other.as_str()).to_owned(),
    };
    Ok(page(&IndexPage {
        chrome: Chrome::of(&visitor),
        heading,
        q,
        status: status.as_str().to_owned(),
        statuses: vec![
            ("open", "Open"),
            ("scheduled", "Opening soon"),
            ("awaiting_payment", "Sold, awaiting payment"),
            ("settled", "Sold"),
            ("no_sale", "No sale"),
            ("unsold", "Unsold"),
            ("cancelled", "Cancelled"),
        ],
        cards,
        next_page,
    }))
}

// ---------------------------------------------------------------- one lot

pub struct HistoryLine {
    pub who: String,
    pub price: String,
    pub at: String,
}

#[derive(Template)]
#[template(path = "web/auction.html")]
struct AuctionPage {
    chrome: Chrome,
    lot: AuctionResponse,
    seller: String,
    images: Vec<Photo>,
    /// The viewer sells this lot (and manages its photos).
    own: bool,
    max_photos: usize,
    me: String,
    leader: String,
    leader_shown: String,
    price: String,
    price_minor: i64,
    minimum: String,
    suggested: String,
    symbol: &'static str,
    buy_now: Option<String>,
    status_words: &'static str,
    open: bool,
    ends_text: String,
    anti_sniping: bool,
    window: String,
    extension: String,
    can_bid: bool,
    why_not: String,
    said: String,
    history: Vec<HistoryLine>,
    increment: i64,
    bands: String,
    points: String,
}

#[derive(Debug, Deserialize)]
pub struct SaidQuery {
    pub said: Option<String>,
}

/// `GET /auctions/{id}`: the lot, live.
pub async fn auction(
    State(state): State<AppState>,
    visitor: Visitor,
    ApiPath(id): ApiPath<Uuid>,
    Query(query): Query<SaidQuery>,
) -> Result<Response, ApiError> {
    let Some(row) = store::find(&state.db, id).await? else {
        return Ok(message(
            &visitor,
            StatusCode::NOT_FOUND,
            "No such auction",
            "This auction does not exist, or never did.",
            "/",
        ));
    };
    let lot = routes::auctions::present(&state, &row).await?;
    let history = store::bids(&state.db, id, None, 100).await?;
    let images = photos::of_auction(&state.db, id).await?;
    let me = visitor
        .viewer
        .as_ref()
        .map(|v| v.handle.clone())
        .unwrap_or_default();
    let me_handle = me.clone();
    let own = visitor.user.is_some_and(|u| u.id == lot.seller.id);
    let open = lot.status == "open";
    let currency = lot.currency.clone();
    let points: Vec<(i64, i64)> = history
        .iter()
        .rev()
        .map(|b| (b.placed_at.timestamp_millis(), b.price_after))
        .collect();
    let said = query
        .said
        .as_deref()
        .map(|code| match code {
            "leading" => "You lead.".to_owned(),
            "outbid" => {
                "Someone else's maximum is higher: a proxy bid outbid you at once.".to_owned()
            }
            code => sentence(&ApiError::conflict(known_code(code), ""), &currency),
        })
        .unwrap_or_default();
    let leader = lot.leader.clone().unwrap_or_default();
    let page_data = AuctionPage {
        chrome: Chrome::of(&visitor).describing(&lot.description),
        seller: lot
            .seller
            .handle
            .clone()
            .unwrap_or_else(|| "a seller".into()),
        images,
        own,
        max_photos: images::MAX_IMAGES,
        me,
        leader_shown: lot.leader.clone().unwrap_or_else(|| "—".into()),
        leader,
        price: money::format(lot.current_price.unwrap_or(lot.starting_price), &currency),
        price_minor: lot.current_price.unwrap_or(0),
        minimum: money::format(lot.minimum_bid, &currency),
        suggested: money::as_major(lot.minimum_bid),
        symbol: money::symbol(&currency).trim(),
        buy_now: lot
            .buy_now_price
            .filter(|_| lot.buy_now_available)
            .map(|p| money::format(p, &currency)),
        status_words: status_words(&lot.status),
        open,
        ends_text: time_left(lot.ends_at, Utc::now()),
        anti_sniping: lot.anti_sniping.window_secs > 0,
        window: duration_words(lot.anti_sniping.window_secs),
        extension: duration_words(lot.anti_sniping.extension_secs),
        can_bid: visitor.user.is_some() && !own,
        why_not: if own {
            "This is your auction: you cannot bid on it.".to_owned()
        } else {
            String::new()
        },
        said,
        history: leading_after(&history, &me_handle)
            .into_iter()
            .zip(&history)
            .map(|(who, b)| HistoryLine {
                who,
                price: money::format(b.price_after, &currency),
                at: b.placed_at.to_rfc3339(),
            })
            .collect(),
        increment: lot.min_increment.unwrap_or(0),
        bands: json!({ "bands": INCREMENT_BANDS, "top": TOP_INCREMENT }).to_string(),
        points: serde_json::to_string(&points).unwrap_or_else(|_| "[]".into()),
        lot,
    };
    Ok(page(&page_data))
}

/// Who led after each of `history`'s bids (newest first, as given): the
/// bidder when their bid led, else whoever led before ("you" for `me`).
fn leading_after(history: &[store::BidRow], me: &str) -> Vec<String> {
    let mut leader = String::from("—");
    let mut oldest_first: Vec<String> = history
        .iter()
        .rev()
        .map(|bid| {
            if bid.standing == "leading" {
                leader = bid
                    .bidder_handle
                    .clone()
                    .unwrap_or_else(|| "a bidder".into());
            }
            if !me.is_empty() && leader == me {
                "you".to_owned()
            } else {
                leader.clone()
            }
        })
        .collect();
    oldest_first.reverse();
    oldest_first
}

/// Refusal codes a `said=` parameter may name (anything else is ignored).
fn known_code(code: &str) -> &'static str {
    const KNOWN: [&str; 10] = [
        "bid_too_low",
        "max_not_raised",
        "auction_closed",
        "auction_not_open",
        "own_auction",
        "bidding_suspended",
        "too_many_bids",
        "auction_busy",
        "invalid_amount",
        "csrf_failed",
    ];
    KNOWN
        .into_iter()
        .find(|k| *k == code)
        .unwrap_or("auction_busy")
}

#[derive(Debug, Deserialize)]
pub struct BidForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub max: String,
}

/// `POST /auctions/{id}/bid`: a maximum bid. The open amount is the minimum
/// next bid; Gavel bids on up to the maximum. Answers JSON to the page's
/// script, or sends a browser without script back to the lot.
pub async fn bid(
    State(state): State<AppState>,
    visitor: Visitor,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    Form(form): Form<BidForm>,
) -> Result<Response, ApiError> {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let back = format!("/auctions/{id}");
    let row = store::find(&state.db, id)
        .await?
        .ok_or_else(routes::auctions::auction_not_found)?;
    let currency = row.currency.clone();
    // The script gets the verdict as JSON (with the price of an accepted
    // bid, so the page knows which live event was this bid); a browser
    // without script goes back to the lot with a message code.
    let answer = |text: String, code: &str, placed: Option<(Standing, i64)>| {
        if wants_json {
            let mut body = json!({
                "ok": placed.is_some(),
                "standing": placed.map(|(standing, _)| standing.as_str()),
                "message": text,
            });
            if let Some((_, price)) = placed {
                body["price"] = json!(price);
            }
            axum::Json(body).into_response()
        } else {
            Redirect::to(&format!("{back}?said={code}")).into_response()
        }
    };
    let refused = |err: &ApiError| answer(sentence(err, &currency), err.code, None);
    let Some(user) = visitor.user else {
        return Ok(answer("Please sign in to bid.".into(), "csrf_failed", None));
    };
    if let Err(err) = visitor.check_csrf(&form.csrf) {
        return Ok(refused(&err));
    }
    let Some(max) = money::parse_major(&form.max) else {
        return Ok(refused(&ApiError::unprocessable("invalid_amount", "")));
    };
    // The script sends a fresh key per click; without script, the same form
    // sent twice is the same bid.
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            hex::encode(&Sha256::digest(format!("{}:{id}:{max}", visitor.csrf))[..16])
        });
    // From the read model, not a live query: if the price moved since, the
    // refusal names the new minimum and the bid is placed once more below.
    let minimum = AuctionResponse::from_row(&row).minimum_bid;
    let mut placed = place(&state, user, id, &key, minimum.min(max), max).await;
    // The price moved since the page read it: once more at the new minimum.
    if let Err(err) = &placed
        && err.code == "bid_too_low"
        && let Some(minimum) = err
            .details
            .as_ref()
            .and_then(|d| d.get("minimum"))
            .and_then(Value::as_i64)
        && minimum <= max
    {
        placed = place(&state, user, id, &format!("{key}:again"), minimum, max).await;
    }
    Ok(match placed {
        Ok((standing, minor)) => {
            let price = money::format(minor, &currency);
            let max = money::format(max, &currency);
            let text = match standing {
                Standing::Leading => {
                    format!("You lead at {price}. We will bid for you up to {max}.")
                }
                Standing::Outbid => format!(
                    "Someone else's maximum is higher: a proxy bid outbid you at once. The price is now {price}."
                ),
            };
            answer(text, standing.as_str(), Some((standing, minor)))
        }
        Err(err) => refused(&err),
    })
}

async fn place(
    state: &AppState,
    user: AuthUser,
    id: Uuid,
    key: &str,
    amount: i64,
    max: i64,
) -> Result<(Standing, i64), ApiError> {
    let mut headers = HeaderMap::new();
    let key = HeaderValue::from_str(key).map_err(ApiError::internal)?;
    headers.insert("idempotency-key", key);
    let (_, ApiJson(receipt)) = routes::bids::place_bid(
        State(state.clone()),
        user,
        ApiPath(id),
        headers,
        ApiJson(PlaceBidRequest {
            amount,
            max_amount: Some(max),
            currency: None,
        }),
    )
    .await?;
    Ok((receipt.status, receipt.current_price))
}

// ---------------------------------------------------------------- selling

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
    form: SellFields,
    currencies: Vec<(&'static str, &'static str)>,
}

fn sell_page(chrome: Chrome, key: String, form: SellFields) -> Response {
    page(&SellPage {
        chrome,
        key,
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
pub async fn sell_form(visitor: Visitor) -> Response {
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

/// `POST /sell`: creates the auction through the API's own handler, then
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
    // A bidder's form is refused before a byte of it is read.
    if user.require(&[Role::Seller]).is_err() {
        return Ok(needs_seller(&visitor));
    }
    // The form again, saying what is wrong, with the refusal's status.
    let again = |form: &SellForm, status: StatusCode, text: String| {
        let page = sell_page(
            Chrome::of(&visitor).saying(text, "bad"),
            form.key.clone(),
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
    let (form, photos) =
        match images::read_upload(&mut multipart, keep, images::MAX_IMAGES, before_photos).await {
            Ok(upload) => (SellForm::from_fields(upload.fields), upload.photos),
            Err((upload, err)) => {
                return Ok(again(
                    &SellForm::from_fields(upload.fields),
                    err.status,
                    sentence(&err, ""),
                ));
            }
        };
    if let Err(err) = visitor.check_csrf(&form.csrf) {
        return Ok(again(&form, err.status, sentence(&err, "")));
    }
    let request = match form.request(Utc::now()) {
        Ok(request) => request,
        Err(text) => return Ok(again(&form, StatusCode::UNPROCESSABLE_ENTITY, text)),
    };
    let mut headers = HeaderMap::new();
    if let Ok(key) = HeaderValue::from_str(form.key.trim()) {
        headers.insert("idempotency-key", key);
    }
    let created =
        match routes::auctions::create(State(state.clone()), user, headers, ApiJson(request)).await
        {
            Ok((_, ApiJson(created))) => created,
            Err(err) => return Ok(again(&form, err.status, sentence(&err, &form.currency))),
        };
    // A retried form finds its auction again; its photos are already there.
    if !photos.is_empty() && photos::of_auction(&state.db, created.id).await?.is_empty() {
        photos::add(&state.db, created.id, photos).await?;
    }
    Ok(Redirect::to(&format!("/auctions/{}", created.id)).into_response())
}

// ---------------------------------------------------------------- my page

pub struct InvoiceLine {
    pub id: Uuid,
    pub number: String,
    pub auction_id: Uuid,
    pub lot: String,
    pub total: String,
    pub state: String,
    pub payable: bool,
    pub offered: bool,
}

pub struct BidLine {
    pub auction_id: Uuid,
    pub title: String,
    pub price: String,
    pub my_max: String,
    pub standing: &'static str,
}

pub struct LotLine {
    pub id: Uuid,
    pub title: String,
    pub price: String,
    pub state: &'static str,
    pub buyer: String,
}

#[derive(Template)]
#[template(path = "web/me.html")]
struct MePage {
    chrome: Chrome,
    name: String,
    handle: String,
    invoices: Vec<InvoiceLine>,
    bids: Vec<BidLine>,
    can_sell: bool,
    selling: Vec<LotLine>,
    cards: Vec<routes::cards::SavedCard>,
}

/// `GET /me`: my invoices (with Pay and offer buttons), my bids, my lots.
pub async fn me(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<SaidQuery>,
) -> Result<Response, ApiError> {
    let user = match signed_in(&visitor, "/me") {
        Ok(user) => user,
        Err(to_sign_in) => return Ok(to_sign_in.into_response()),
    };
    let Some(viewer) = visitor.viewer.clone() else {
        return Ok(Redirect::to("/signin").into_response());
    };
    let invoice_rows = invoices::of_user(&state.db, user.id, 100).await?;
    let invoices = invoice_rows
        .into_iter()
        .filter(|i| i.buyer_id == user.id)
        .map(|i| InvoiceLine {
            id: i.id,
            number: i.number.clone(),
            auction_id: i.auction_id,
            lot: i
                .line_items
                .0
                .first()
                .map_or_else(|| "the lot".to_owned(), |l| l.description.clone()),
            total: money::format(i.total, &i.currency),
            state: match i.status {
                InvoiceStatus::Offered => format!(
                    "offered to you until {}",
                    i.due_at.format("%e %b %H:%M UTC")
                ),
                InvoiceStatus::Open => format!("to pay by {}", i.due_at.format("%e %b %H:%M UTC")),
                InvoiceStatus::Paid => "paid".to_owned(),
                InvoiceStatus::Void => "void (unpaid in time)".to_owned(),
                InvoiceStatus::Declined => "declined".to_owned(),
                InvoiceStatus::Expired => "offer lapsed".to_owned(),
            },
            payable: i.status == InvoiceStatus::Open,
            offered: i.status == InvoiceStatus::Offered,
        })
        .collect();
    let my_bids = store::bid_on_by(&state.db, UserId(user.id)).await?;
    let mine = user.id.to_string();
    let bids = my_bids
        .into_iter()
        .map(|b| BidLine {
            auction_id: b.auction_id,
            standing: match b.status.as_str() {
                "open" | "scheduled" if b.leader_id == Some(user.id) => "leading",
                "open" | "scheduled" => "outbid",
                "cancelled" => "cancelled",
                "no_sale" => "no sale",
                "closed" if b.leader_id == Some(user.id) => "won",
                _ if b.winner_id.as_deref() == Some(mine.as_str()) => "won",
                _ => "lost",
            },
            price: money::format(b.price, &b.currency),
            my_max: money::format(b.my_max, &b.currency),
            title: b.title,
        })
        .collect();
    let selling = if viewer.can_sell {
        let filter = ListFilter {
            seller_id: Some(user.id),
            limit: 50,
            ..ListFilter::default()
        };
        store::list(&state.db, &filter)
            .await?
            .iter()
            .map(AuctionResponse::from_row)
            .map(|lot| LotLine {
                id: lot.id,
                price: money::format(
                    lot.current_price.unwrap_or(lot.starting_price),
                    &lot.currency,
                ),
                state: status_words(&lot.status),
                buyer: lot
                    .outcome
                    .as_ref()
                    .and_then(|o| o.winner.clone())
                    .unwrap_or_else(|| "—".into()),
                title: lot.title,
            })
            .collect()
    } else {
        Vec::new()
    };
    let chrome = match query.said.as_deref() {
        Some("accepted") => {
            Chrome::of(&visitor).saying("Offer accepted: the invoice is yours to pay.", "good")
        }
        Some("declined") => Chrome::of(&visitor).saying("Offer declined.", ""),
        Some("card_removed") => Chrome::of(&visitor).saying(
            "Card removed: it will not be charged again; your next win gets a pay link.",
            "good",
        ),
        _ => Chrome::of(&visitor),
    };
    let cards = routes::cards::saved_cards(&state.db, user.id).await?;
    Ok(page(&MePage {
        chrome,
        name: viewer.name.clone(),
        handle: viewer.handle.clone(),
        invoices,
        bids,
        can_sell: viewer.can_sell,
        selling,
        cards,
    }))
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// The signed-in user behind a form on `/me`, or the page to answer instead
/// (sign in; the form expired).
fn me_form_user(visitor: &Visitor, csrf: &str) -> Result<AuthUser, Box<Response>> {
    let user = signed_in(visitor, "/me").map_err(|to| Box::new(to.into_response()))?;
    visitor.check_csrf(csrf).map_err(|err| {
        Box::new(message(
            visitor,
            StatusCode::FORBIDDEN,
            "Try again",
            &sentence(&err, ""),
            "/me",
        ))
    })?;
    Ok(user)
}

#[derive(Template)]
#[template(path = "web/pay.html")]
struct PayPage {
    chrome: Chrome,
    url: String,
    /// Whether the buyer asked to keep the card that pays.
    save_card: bool,
}

#[derive(Debug, Deserialize)]
pub struct PayForm {
    #[serde(default)]
    pub csrf: String,
    /// The "use this card for my future wins" box: present only when ticked.
    #[serde(default)]
    pub save_card: Option<String>,
}

/// `POST /me/invoices/{id}/pay`: the invoice's checkout, to continue to,
/// with the buyer's answer about keeping the card recorded first.
pub async fn pay(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Form(form): Form<PayForm>,
) -> Result<Response, ApiError> {
    let user = match me_form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return Ok(*answer),
    };
    let save_card = form.save_card.is_some();
    match routes::invoices::pay_for(&state, user, id, Some(save_card)).await {
        Ok(link) => Ok(page(&PayPage {
            chrome: Chrome::of(&visitor),
            url: link.authorization_url,
            save_card,
        })),
        Err(err) if err.code == "payments_not_configured" => Ok(message(
            &visitor,
            StatusCode::OK,
            "Pay the seller directly",
            "This auction house takes no card payments (no Paystack key is configured): pay the seller as agreed, and an admin marks the invoice paid.",
            "/me",
        )),
        Err(err) => Ok(message(
            &visitor,
            err.status,
            "Payment",
            &sentence(&err, ""),
            "/me",
        )),
    }
}

/// `POST /me/cards/{id}/remove`: forgets a saved card.
pub async fn remove_card(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    let user = match me_form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return Ok(*answer),
    };
    if routes::cards::remove_card(&state.db, user.id, id).await? {
        Ok(Redirect::to("/me?said=card_removed").into_response())
    } else {
        Ok(message(
            &visitor,
            StatusCode::NOT_FOUND,
            "Saved cards",
            "No saved card of yours has this number: it may be removed already.",
            "/me",
        ))
    }
}

async fn answer_offer(
    state: AppState,
    visitor: Visitor,
    id: Uuid,
    form: CsrfForm,
    accept: bool,
) -> Result<Response, ApiError> {
    let user = match me_form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return Ok(*answer),
    };
    let done = if accept {
        routes::invoices::accept(State(state), user, ApiPath(id)).await
    } else {
        routes::invoices::decline(State(state), user, ApiPath(id)).await
    };
    Ok(match done {
        Ok(_) => Redirect::to(if accept {
            "/me?said=accepted"
        } else {
            "/me?said=declined"
        })
        .into_response(),
        Err(err) => message(
            &visitor,
            err.status,
            "The offer",
            &sentence(&err, ""),
            "/me",
        ),
    })
}

/// `POST /me/invoices/{id}/accept`.
pub async fn accept(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    answer_offer(state, visitor, id, form, true).await
}

/// `POST /me/invoices/{id}/decline`.
pub async fn decline(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    answer_offer(state, visitor, id, form, false).await
}

/// `POST /me/seller`: this account starts selling (it bids as before).
pub async fn become_seller(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    let user = match me_form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return Ok(*answer),
    };
    match routes::auth::become_seller(State(state.clone()), user).await {
        Ok(ApiJson(auth)) => Ok(signed_in_to(&state, &auth.token, auth.expires_at, "/sell")),
        Err(err) => Ok(message(
            &visitor,
            err.status,
            "Selling",
            &sentence(&err, ""),
            "/me",
        )),
    }
}

/// `GET /payments/return`: where Paystack's checkout sends the buyer back.
pub async fn payment_return(visitor: Visitor) -> Response {
    message(
        &visitor,
        StatusCode::OK,
        "Thank you",
        "Your payment is being confirmed with Paystack; your invoice shows it as paid within a minute.",
        "/me",
    )
}

// ---------------------------------------------------------------- accounts

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
    page(&SignInPage {
        chrome: Chrome::of(&visitor),
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

fn signed_in_to(state: &AppState, token: &str, expires_at: DateTime<Utc>, next: &str) -> Response {
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
        && let Err(err) = routes::auth::end_session(state, old).await
    {
        tracing::warn!(user_id = %old.id, code = err.code, "the replaced session was not ended");
    }
}

/// `POST /signup`: the API's registration, then signed in.
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
        return Ok(again(sentence(&err, "")));
    }
    let request = routes::auth::RegisterRequest {
        email: form.email.clone(),
        password: form.password.clone(),
        name: form.name.clone(),
        role: form.role.clone(),
    };
    match routes::auth::register(State(state.clone()), client, ApiJson(request)).await {
        Ok((_, ApiJson(auth))) => {
            end_replaced_session(&state, &visitor).await;
            Ok(signed_in_to(
                &state,
                &auth.token,
                auth.expires_at,
                &form.next,
            ))
        }
        Err(err) if err.status.is_server_error() => Ok(failed_as(again(sentence(&err, "")), &err)),
        Err(err) => Ok(again(err.message.clone())),
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

/// `POST /signin`: the API's login, then signed in.
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
        return Ok(again(sentence(&err, "")));
    }
    let request = routes::auth::LoginRequest {
        email: form.email.clone(),
        password: form.password.clone(),
    };
    match routes::auth::login(State(state.clone()), client, ApiJson(request)).await {
        Ok(ApiJson(auth)) => {
            end_replaced_session(&state, &visitor).await;
            Ok(signed_in_to(
                &state,
                &auth.token,
                auth.expires_at,
                &form.next,
            ))
        }
        Err(err) if err.code == "too_many_attempts" => Ok(again(
            "Too many attempts: wait a few minutes and try again.".into(),
        )),
        Err(err) if err.code == "invalid_credentials" => Ok(again(
            "That email and password do not match an account.".into(),
        )),
        Err(err) if err.status.is_server_error() => Ok(failed_as(again(sentence(&err, "")), &err)),
        Err(err) => Ok(again(sentence(&err, ""))),
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
        && let Err(err) = routes::auth::end_session(&state, user).await
    {
        return unavailable(&visitor, &err);
    }
    let mut response = Redirect::to("/").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::ended_session(&state));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_a_bid_can_get_has_its_own_sentence() {
        let codes = [
            "bid_too_low",
            "max_not_raised",
            "auction_closed",
            "auction_not_open",
            "own_auction",
            "bidding_suspended",
            "too_many_bids",
            "auction_busy",
            "service_unavailable",
            "invalid_amount",
            "currency_mismatch",
            "idempotency_key_reused",
            "csrf_failed",
        ];
        for code in codes {
            let error = ApiError::conflict(code, "RAW API MESSAGE");
            let said = sentence(&error, "NGN");
            assert!(!said.contains("RAW API MESSAGE"), "{code} has no sentence");
        }
        let low = ApiError::conflict("bid_too_low", "").with_details(json!({ "minimum": 512_550 }));
        assert_eq!(
            sentence(&low, "NGN"),
            "Your bid is too low: the next bid must be at least ₦5,125.50."
        );
    }

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
