//! `/auctions/{id}/bids`: placing a bid (batched with concurrent bids into
//! the workflow's `place_bids` update, idempotent by key) and the public bid
//! history.

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use gavel_store::auctions as store;
use gavel_workflows::rules::Rejection;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use uuid::Uuid;

use super::auctions::{find_auction, invalid_query, page_limit};
use crate::{
    auctions::{
        input::{PlaceBidRequest, required_idempotency_key},
        view::{BidHistoryItem, BidPage, BidResponse},
    },
    auth::AuthUser,
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath, ApiQuery},
    service::bidding::{self, BidError, NewBid},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/auctions/{id}/bids", post(place_bid).get(bid_history))
}

impl From<BidError> for ApiError {
    fn from(err: BidError) -> Self {
        use axum::http::StatusCode;
        let too_many_bids = |secs: u64, why: &str| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_bids",
                why.to_owned(),
            )
            .with_retry_after(secs)
        };
        match err {
            BidError::Invalid(err) => err.into(),
            BidError::TooFast { retry_after_secs } => too_many_bids(
                retry_after_secs,
                "you are bidding faster than allowed; slow down",
            ),
            BidError::NotFound => ApiError::auction_not_found(),
            BidError::KeyReused { amount, max_amount } => ApiError::conflict(
                "idempotency_key_reused",
                "this Idempotency-Key was used for another bid; use a new key for a new bid",
            )
            .with_details(json!({ "amount": amount, "max_amount": max_amount })),
            BidError::Suspended { until, strikes } => ApiError::forbidden(
                "bidding_suspended",
                format!("you left {strikes} won auctions unpaid; you may bid again from {until}"),
            )
            .with_details(json!({ "until": until, "strikes": strikes })),
            BidError::Closed => crate::routes::auctions::auction_closed(),
            BidError::EmailUnverified => crate::routes::auctions::email_unverified(),
            BidError::Refused(rejection) => rejection_error(&rejection),
            BidError::InProgress => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "bid_in_progress",
                "a bid with this Idempotency-Key is still being placed; retry shortly",
            )
            .with_retry_after(1),
            BidError::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "auction_busy",
                "this auction is taking many bids at once; retry shortly with the same Idempotency-Key",
            )
            .with_retry_after(1),
            BidError::TooManyQueued => too_many_bids(
                1,
                "you have several bids waiting for this auction; wait for their answers",
            ),
            BidError::Unavailable(err) => ApiError::unavailable("Temporal", err),
            BidError::Database(err) => err.into(),
        }
    }
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

#[utoipa::path(post, path = "/auctions/{id}/bids", tag = "bids", operation_id = "place_bid",
    params(("id" = Uuid, Path),
        ("Idempotency-Key" = String, Header, description = "required: any unique string (1 to 200 visible ASCII characters); a retried bid with the same key gets the same verdict")),
    request_body = PlaceBidRequest,
    responses(
        (status = 201, body = BidResponse, description = "accepted: `leading` or `outbid` (by someone's higher maximum)"),
        (status = 403, body = ErrorBody, description = "`bidding_suspended` (details.until): too many won auctions left unpaid; `email_unverified`: the account has not confirmed its email address yet (`POST /auth/verify-email`)"),
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
    let key = required_idempotency_key(&headers)?;
    let placed =
        bidding::place_bid(&state, &user, id.into(), NewBid { key, request: body }).await?;
    Ok((StatusCode::CREATED, ApiJson(placed)))
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
