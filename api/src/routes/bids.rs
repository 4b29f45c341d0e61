//! `/auctions/{id}/bids`: placing a bid (batched with concurrent bids into
//! the workflow's `place_bids` update, idempotent by key) and the public bid
//! history.

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use chrono::Utc;
use gavel_workflows::{
    auction::PlaceBid,
    rules::{Rejection, strikes::suspended_until},
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use uuid::Uuid;

use super::auctions::{auction_closed, auction_not_found, find_auction, invalid_query, page_limit};
use crate::{
    auctions::{
        batcher::{BidAnswer, BidFailure},
        input::{PlaceBidRequest, required_idempotency_key},
        store::{self, StoredBid},
        view::{BidHistoryItem, BidPage, BidResponse},
    },
    auth::AuthUser,
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath, ApiQuery},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/auctions/{id}/bids", post(place_bid).get(bid_history))
}

fn rejection_error(rejection: &Rejection) -> ApiError {
    let mut details = serde_json::to_value(rejection).unwrap_or(Value::Null);
    if let Some(map) = details.as_object_mut() {
        map.remove("code");
    }
    let error = match rejection {
        Rejection::InvalidAmount
        | Rejection::CurrencyMismatch
        | Rejection::OwnAuction
        | Rejection::InvalidIdempotencyKey => {
            ApiError::unprocessable(rejection.code(), rejection.to_string())
        }
        _ => ApiError::conflict(rejection.code(), rejection.to_string()),
    };
    match details.as_object() {
        Some(map) if !map.is_empty() => error.with_details(details),
        _ => error,
    }
}

fn busy() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "auction_busy",
        "this auction is taking many bids at once; retry shortly with the same Idempotency-Key",
    )
    .with_retry_after(1)
}

fn too_many_bids(secs: u64, why: &str) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_bids",
        why.to_owned(),
    )
    .with_retry_after(secs)
}

fn key_reused(amount: i64, max_amount: i64) -> ApiError {
    ApiError::conflict(
        "idempotency_key_reused",
        "this Idempotency-Key was used for another bid; use a new key for a new bid",
    )
    .with_details(json!({ "amount": amount, "max_amount": max_amount }))
}

/// A retried key must carry the bid it was first used for: answering another
/// body with the first verdict would tell the bidder something untrue.
fn same_bid(stored: &StoredBid, amount: i64, max_amount: Option<i64>) -> Result<(), ApiError> {
    if stored.amount == amount && stored.max_amount == max_amount.unwrap_or(amount) {
        return Ok(());
    }
    Err(key_reused(stored.amount, stored.max_amount))
}

/// The answer for a key accepted before: the stored bid, if it is this one.
async fn answer_stored(
    state: &AppState,
    auction_id: Uuid,
    key: &str,
    amount: i64,
    max_amount: Option<i64>,
) -> Result<Option<(StatusCode, ApiJson<BidResponse>)>, ApiError> {
    let Some(stored) = store::bid_by_key(&state.db, auction_id, key).await? else {
        return Ok(None);
    };
    same_bid(&stored, amount, max_amount)?;
    Ok(Some((
        StatusCode::CREATED,
        ApiJson(BidResponse::from_stored(&stored)),
    )))
}

#[utoipa::path(post, path = "/auctions/{id}/bids", tag = "bids", operation_id = "place_bid",
    params(("id" = Uuid, Path),
        ("Idempotency-Key" = String, Header, description = "required: any unique string (1 to 200 visible ASCII characters); a retried bid with the same key gets the same verdict")),
    request_body = PlaceBidRequest,
    responses(
        (status = 201, body = BidResponse, description = "accepted: `leading` or `outbid` (by someone's higher maximum)"),
        (status = 403, body = ErrorBody, description = "`bidding_suspended` (details.until): too many won auctions left unpaid"),
        (status = 404, body = ErrorBody, description = "`auction_not_found`"),
        (status = 409, body = ErrorBody, description = "`auction_not_open`, `auction_closed`, `bid_too_low` (details.minimum), `max_not_raised`, `idempotency_key_reused` (the key was used for another amount)"),
        (status = 422, body = ErrorBody, description = "`invalid_amount`, `invalid_currency`, `currency_mismatch`, `own_auction` (a seller's bid on their own lot), `idempotency_key_required`, `invalid_idempotency_key`"),
        (status = 429, body = ErrorBody, description = "`too_many_bids`: this bidder bids faster than `GAVEL_BIDS_PER_SEC` or has `GAVEL_BIDS_QUEUED_PER_BIDDER` bids waiting for this auction; retry after `Retry-After`"),
        (status = 503, body = ErrorBody, description = "`service_unavailable` (Temporal or the database), `auction_busy` (the auction is saturated), `bid_in_progress` (the same key is being placed): retry after `Retry-After` with the same key"),
    ),
    security(("bearer" = [])))]
pub async fn place_bid(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PlaceBidRequest>,
) -> Result<(StatusCode, ApiJson<BidResponse>), ApiError> {
    // Any account bids (sellers too, on others' lots: the rules refuse a
    // seller's bid on their own with `own_auction`).
    let key = required_idempotency_key(&headers)?;
    let (amount, max_amount, currency) = body.validate()?;
    // Before anything costs a database read or a Temporal call.
    state.bidder_rates.take(user.id).map_err(|secs| {
        crate::limits::refused("bids_per_sec");
        too_many_bids(secs, "you are bidding faster than allowed; slow down")
    })?;
    // Keys are per bidder: two bidders may pick the same one.
    let scoped_key = format!("{}:{key}", user.id);
    // One query on the hot path: does the auction exist, is it live, was
    // this key's bid accepted before, and may this bidder bid?
    let policy = state.config.strikes;
    let now = Utc::now();
    let lookup = store::bid_lookup(&state.db, id, &scoped_key, user.id, now - policy.ttl)
        .await?
        .ok_or_else(auction_not_found)?;
    if let Some(stored) = lookup.stored {
        same_bid(&stored, amount, max_amount)?;
        return Ok((
            StatusCode::CREATED,
            ApiJson(BidResponse::from_stored(&stored)),
        ));
    }
    if let Some(until) = suspended_until(&lookup.strikes, policy.limit, policy.ttl, now) {
        return Err(ApiError::forbidden(
            "bidding_suspended",
            format!(
                "you left {} won auctions unpaid; you may bid again from {until}",
                lookup.strikes.len()
            ),
        )
        .with_details(json!({ "until": until, "strikes": lookup.strikes.len() })));
    }
    if !lookup.status.is_live() {
        return Err(auction_closed());
    }
    let bid = PlaceBid {
        bidder_id: user.id,
        amount,
        max_amount,
        currency,
        idempotency_key: scoped_key.clone(),
    };
    let answer = state.bids.place(id, bid).await;
    let code = match &answer {
        Ok(BidAnswer::Accepted(_)) => "accepted",
        Ok(BidAnswer::Refused(rejection)) => rejection.code(),
        Err(BidFailure::Gone) => "gone",
        Err(BidFailure::Unavailable(_)) => "unavailable",
        Ok(BidAnswer::Repeated(_)) => "repeated",
        Ok(BidAnswer::KeyReused { .. }) => "idempotency_key_reused",
        Err(BidFailure::Busy) => "auction_busy",
        Err(BidFailure::TooManyQueued) => "too_many_bids",
    };
    metrics::counter!("gavel_bids_total", "verdict" => code).increment(1);
    match answer {
        Ok(BidAnswer::Accepted(receipt)) => Ok((
            StatusCode::CREATED,
            ApiJson(BidResponse::from_receipt(
                &receipt,
                amount,
                max_amount.unwrap_or(amount),
            )),
        )),
        Ok(BidAnswer::Refused(rejection)) => Err(rejection_error(&rejection)),
        Ok(BidAnswer::KeyReused { amount, max_amount }) => Err(key_reused(amount, max_amount)),
        // Written by whichever request placed it first; until then, retry.
        Ok(BidAnswer::Repeated(_)) => answer_stored(&state, id, &scoped_key, amount, max_amount)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "bid_in_progress",
                    "a bid with this Idempotency-Key is still being placed; retry shortly",
                )
                .with_retry_after(1)
            }),
        Err(BidFailure::Gone) => answer_stored(&state, id, &scoped_key, amount, max_amount)
            .await?
            .ok_or_else(auction_closed),
        Err(BidFailure::Unavailable(reason)) => {
            Err(ApiError::unavailable("Temporal", anyhow::anyhow!(reason)))
        }
        Err(BidFailure::Busy) => Err(busy()),
        Err(BidFailure::TooManyQueued) => Err(too_many_bids(
            1,
            "you have several bids waiting for this auction; wait for their answers",
        )),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BidHistoryQuery {
    /// 1 to 100; 20 by default.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/auctions/{id}/bids", tag = "bids", operation_id = "list_bids",
    params(("id" = Uuid, Path), BidHistoryQuery),
    responses(
        (status = 200, body = BidPage, description = "newest first; amounts, times and public handles"),
        (status = 404, body = ErrorBody, description = "`auction_not_found`"),
    ))]
pub async fn bid_history(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<BidHistoryQuery>,
) -> Result<ApiJson<BidPage>, ApiError> {
    find_auction(&state.db, id).await?;
    let limit = page_limit(query.limit)?;
    let before = query
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| invalid_query("invalid_cursor", "cursor is not one we gave out"))
        })
        .transpose()?;
    let rows = store::bids(&state.db, id, before, limit).await?;
    let next_cursor = if rows.len() == usize::try_from(limit).unwrap_or(0) {
        rows.last().filter(|r| r.seq > 1).map(|r| r.seq.to_string())
    } else {
        None
    };
    Ok(ApiJson(BidPage {
        items: rows.into_iter().map(BidHistoryItem::from).collect(),
        next_cursor,
    }))
}
