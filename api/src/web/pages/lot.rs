//! `GET /auctions/{id}`: one lot, live, with its bid form and watch button;
//! `POST /auctions/{id}/bid`, the form's bid through the bidding service;
//! `POST /auctions/{id}/watch` and `/unwatch`, the watch button.

use askama::Template;
use axum::{
    Form,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use chrono::Utc;
use gavel_store::auctions as store;
use gavel_workflows::{
    contract::view::AuctionStatus,
    rules::{INCREMENT_BANDS, Rejection, Standing, TOP_INCREMENT},
};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    said::LotSaid,
    shared::{
        BUSY, Chrome, CsrfForm, FORM_EXPIRED, INVALID_AMOUNT, SaidQuery, database_sentence,
        duration_words, input_sentence, message, page, sentence, signed_in, status_words,
        time_left,
    },
};
use crate::{
    auctions::{
        input::{PlaceBidRequest, check_idempotency_key},
        view::AuctionResponse,
    },
    auth::AuthUser,
    error::ApiError,
    extract::ApiPath,
    service::{
        bidding::{self, BidError, NewBid},
        lots,
        watchlist::{self, WatchError},
    },
    state::AppState,
    web::{
        images, money,
        photos::{self, Photo},
        session::Visitor,
    },
};

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
    /// The signed-in viewer watches this lot.
    watching: bool,
}

/// `GET /auctions/{id}`: the lot, live.
pub async fn auction(
    State(state): State<AppState>,
    visitor: Visitor,
    ApiPath(id): ApiPath<Uuid>,
    Query(query): Query<SaidQuery<LotSaid>>,
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
    let lot = lots::present(&state, &row).await?;
    let history = store::bids(&state.db, id, None, 100).await?;
    let images = photos::of_auction(&state.db, id).await?;
    let me = visitor
        .viewer
        .as_ref()
        .map(|v| v.handle.clone())
        .unwrap_or_default();
    let me_handle = me.clone();
    let own = visitor.user.is_some_and(|u| u.id == lot.seller.id);
    let status = AuctionStatus::parse(&lot.status);
    let open = status == Some(AuctionStatus::Open);
    let currency = lot.currency.clone();
    let points: Vec<(i64, i64)> = history
        .iter()
        .rev()
        .map(|b| (b.placed_at.timestamp_millis(), b.price_after))
        .collect();
    let said = query.said.map(said_sentence).unwrap_or_default().to_owned();
    let leader = lot.leader.clone().unwrap_or_default();
    let watching = match visitor.user {
        Some(user) => watchlist::is_watching(&state, user.id, id).await?,
        None => false,
    };
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
        status_words: status_words(status),
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
        watching,
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
            if bid.standing == Standing::Leading.as_str() {
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

/// What the lot page says after a bid form sent without script
/// (`?said=` with the verdict's code). The refusal's details (the new
/// minimum, the current maximum) are not in the link, so those say less
/// than [`bid_sentence`]; a refusal of the house's own (busy, down, a key
/// reused) reads as a busy house.
fn said_sentence(said: LotSaid) -> &'static str {
    match said {
        LotSaid::Leading => "You lead.",
        LotSaid::Outbid => "Someone else's maximum is higher: a proxy bid outbid you at once.",
        LotSaid::BidTooLow => "Your bid is too low.",
        LotSaid::MaxNotRaised => "Your new maximum must be above your current one.",
        LotSaid::AuctionClosed => CLOSED,
        LotSaid::AuctionNotOpen => NOT_OPEN,
        LotSaid::OwnAuction => OWN_AUCTION,
        LotSaid::BiddingSuspended => SUSPENDED,
        LotSaid::EmailUnverified => UNVERIFIED,
        LotSaid::TooManyBids => TOO_FAST,
        LotSaid::InvalidAmount => INVALID_AMOUNT,
        LotSaid::CsrfFailed => FORM_EXPIRED,
        LotSaid::Watching => WATCHING,
        LotSaid::Unwatched => "This lot is off your watchlist.",
        LotSaid::TooManyWatched => "Your watchlist is full (200 lots): unwatch one first.",
        LotSaid::CurrencyMismatch
        | LotSaid::InvalidCurrency
        | LotSaid::InvalidIdempotencyKey
        | LotSaid::IdempotencyKeyRequired
        | LotSaid::IdempotencyKeyReused
        | LotSaid::AuctionNotFound
        | LotSaid::BidInProgress
        | LotSaid::AuctionBusy
        | LotSaid::ServiceUnavailable
        | LotSaid::Internal => BUSY,
    }
}

const CLOSED: &str = "This auction has closed; no more bids are taken.";
const NOT_OPEN: &str = "This auction has not opened yet.";
const OWN_AUCTION: &str = "You cannot bid on your own auction.";
const SUSPENDED: &str =
    "Bidding is suspended on your account: you left won auctions unpaid. An admin can lift it.";
const UNVERIFIED: &str = "Confirm your email address before you bid: follow the link we \
    emailed you (your account page can send another).";
const WATCHING: &str = "You watch this lot: it is on your page, and we email you once a \
    while before it ends.";
const TOO_FAST: &str = "You are bidding very fast; wait a moment and try again.";

/// The sentence a bidder reads for a refused bid, amounts in `currency`.
pub fn bid_sentence(error: &BidError, currency: &str) -> String {
    match error {
        BidError::Refused(rejection) => match rejection {
            Rejection::BidTooLow { minimum } => format!(
                "Your bid is too low: the next bid must be at least {}.",
                money::format(*minimum, currency)
            ),
            Rejection::MaxNotRaised { current_max } => format!(
                "You already lead with a maximum of {}: to raise it, enter more than that.",
                money::format(*current_max, currency)
            ),
            Rejection::AuctionClosed => CLOSED.to_owned(),
            Rejection::AuctionNotOpen => NOT_OPEN.to_owned(),
            Rejection::OwnAuction => OWN_AUCTION.to_owned(),
            Rejection::InvalidAmount => INVALID_AMOUNT.to_owned(),
            Rejection::CurrencyMismatch => "That currency is not this auction's.".to_owned(),
            Rejection::InvalidIdempotencyKey => rejection.to_string(),
        },
        BidError::Closed => CLOSED.to_owned(),
        BidError::Suspended { .. } => SUSPENDED.to_owned(),
        BidError::EmailUnverified => UNVERIFIED.to_owned(),
        BidError::TooFast { .. } | BidError::TooManyQueued => TOO_FAST.to_owned(),
        BidError::Busy | BidError::InProgress | BidError::Unavailable(_) => BUSY.to_owned(),
        BidError::KeyReused { .. } => "That bid was already placed.".to_owned(),
        BidError::NotFound => "no such auction".to_owned(),
        BidError::Invalid(err) => input_sentence(err),
        BidError::Database(err) => database_sentence(err),
    }
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
        .ok_or_else(ApiError::auction_not_found)?;
    let currency = row.currency.clone();
    // The script gets the verdict as JSON (with the price of an accepted
    // bid, so the page knows which live event was this bid); a browser
    // without script goes back to the lot with a message code.
    let answer = |text: String, said: LotSaid, placed: Option<(Standing, i64)>| {
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
            Redirect::to(&format!("{back}?said={}", said.word())).into_response()
        }
    };
    let Some(user) = visitor.user else {
        return Ok(answer(
            "Please sign in to bid.".into(),
            LotSaid::CsrfFailed,
            None,
        ));
    };
    // The CSRF check's only refusal is `csrf_failed`.
    if let Err(err) = visitor.check_csrf(&form.csrf) {
        return Ok(answer(sentence(&err), LotSaid::CsrfFailed, None));
    }
    let Some(max) = money::parse_major(&form.max) else {
        return Ok(answer(
            INVALID_AMOUNT.to_owned(),
            LotSaid::InvalidAmount,
            None,
        ));
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
    let mut placed = place(&state, &user, id, &key, minimum.min(max), max).await;
    // The price moved since the page read it: once more at the new minimum.
    if let Err(BidError::Refused(Rejection::BidTooLow { minimum })) = placed
        && minimum <= max
    {
        placed = place(&state, &user, id, &format!("{key}:again"), minimum, max).await;
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
            answer(text, standing.into(), Some((standing, minor)))
        }
        Err(err) => answer(bid_sentence(&err, &currency), (&err).into(), None),
    })
}

/// `POST /auctions/{id}/watch`: the watch button (signed in).
pub async fn watch(
    state: State<AppState>,
    visitor: Visitor,
    id: ApiPath<Uuid>,
    form: Form<CsrfForm>,
) -> Result<Response, ApiError> {
    watch_button(state, visitor, id, form, true).await
}

/// `POST /auctions/{id}/unwatch`: the unwatch button (signed in).
pub async fn unwatch(
    state: State<AppState>,
    visitor: Visitor,
    id: ApiPath<Uuid>,
    form: Form<CsrfForm>,
) -> Result<Response, ApiError> {
    watch_button(state, visitor, id, form, false).await
}

async fn watch_button(
    State(state): State<AppState>,
    visitor: Visitor,
    ApiPath(id): ApiPath<Uuid>,
    Form(form): Form<CsrfForm>,
    on: bool,
) -> Result<Response, ApiError> {
    let back = format!("/auctions/{id}");
    let user = match signed_in(&visitor, &back) {
        Ok(user) => user,
        Err(to_sign_in) => return Ok(to_sign_in.into_response()),
    };
    let said =
        |what: LotSaid| Redirect::to(&format!("{back}?said={}", what.word())).into_response();
    if visitor.check_csrf(&form.csrf).is_err() {
        // The CSRF check's only refusal is `csrf_failed`.
        return Ok(said(LotSaid::CsrfFailed));
    }
    let done = if on {
        watchlist::watch(&state, user.id, id).await.map(|_| ())
    } else {
        watchlist::unwatch(&state, user.id, id).await
    };
    match done {
        Ok(()) if on => Ok(said(LotSaid::Watching)),
        Ok(()) => Ok(said(LotSaid::Unwatched)),
        Err(WatchError::Full) => Ok(said(LotSaid::TooManyWatched)),
        Err(WatchError::NotFound) => Ok(message(
            &visitor,
            StatusCode::NOT_FOUND,
            "No such auction",
            "This auction does not exist, or never did.",
            "/",
        )),
        Err(WatchError::Database(err)) => Err(err.into()),
    }
}

async fn place(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    key: &str,
    amount: i64,
    max: i64,
) -> Result<(Standing, i64), BidError> {
    let bid = NewBid {
        key: check_idempotency_key(key)?,
        request: PlaceBidRequest {
            amount,
            max_amount: Some(max),
            currency: None,
        },
    };
    let receipt = bidding::place_bid(state, user, id.into(), bid).await?;
    Ok((receipt.status, receipt.current_price))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use crate::input_error::{InputError, InputKind};

    use super::*;

    /// One of each refusal a bid can get: `bid_sentence` matches on every
    /// variant (no catch-all), so a new one does not compile without words;
    /// this checks none of them shows the API's raw message.
    #[test]
    fn every_refusal_a_bid_can_get_has_its_own_sentence() {
        let refusals = [
            BidError::Refused(Rejection::BidTooLow { minimum: 1 }),
            BidError::Refused(Rejection::MaxNotRaised { current_max: 1 }),
            BidError::Refused(Rejection::AuctionClosed),
            BidError::Refused(Rejection::AuctionNotOpen),
            BidError::Refused(Rejection::OwnAuction),
            BidError::Refused(Rejection::InvalidAmount),
            BidError::Refused(Rejection::CurrencyMismatch),
            BidError::Closed,
            BidError::EmailUnverified,
            BidError::Suspended {
                until: Utc::now(),
                strikes: 2,
            },
            BidError::TooFast {
                retry_after_secs: 1,
            },
            BidError::TooManyQueued,
            BidError::Busy,
            BidError::InProgress,
            BidError::Unavailable(anyhow::anyhow!("RAW API MESSAGE")),
            BidError::KeyReused {
                amount: 1,
                max_amount: 1,
            },
            BidError::Invalid(InputError::of(
                InputKind::InvalidAmount,
                "amount",
                "RAW API MESSAGE",
            )),
        ];
        for refusal in refusals {
            let said = bid_sentence(&refusal, "NGN");
            let api = ApiError::from(refusal);
            assert!(
                !said.contains("RAW API MESSAGE"),
                "{} has no sentence",
                api.code
            );
            assert_ne!(said, api.message, "{} has no sentence", api.code);
        }
        let low = BidError::Refused(Rejection::BidTooLow { minimum: 512_550 });
        assert_eq!(
            bid_sentence(&low, "NGN"),
            "Your bid is too low: the next bid must be at least ₦5,125.50."
        );
    }

    /// A lot page linked with `said=` speaks of the same refusals in the
    /// same words (without the amounts the link does not carry).
    #[test]
    fn said_codes_read_as_the_refusal_they_name() {
        for refusal in [
            BidError::Closed,
            BidError::Refused(Rejection::AuctionNotOpen),
            BidError::Refused(Rejection::OwnAuction),
            BidError::EmailUnverified,
            BidError::TooManyQueued,
            BidError::Busy,
        ] {
            assert_eq!(
                said_sentence(LotSaid::from(&refusal)),
                bid_sentence(&refusal, "NGN")
            );
        }
        assert_eq!(said_sentence(LotSaid::CsrfFailed), FORM_EXPIRED);
    }
}
