//! `/auctions`: create, list, detail, cancel; bids and the bid history; the
//! live event stream (SSE).

use std::{collections::HashMap, convert::Infallible, time::Duration};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::sse::{Event, KeepAlive, Sse},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use futures::Stream;
use gavel_workflows::{
    auction::{AuctionInput, AuctionStatus, CancelRefusal, CancelRequest, PlaceBid},
    rules::{Book, Phase, Rejection},
};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::broadcast;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::{
    auctions::{
        gateway::{self, CallError},
        hub::RESYNC,
        input::{CancelAuctionRequest, CreateAuctionRequest, PlaceBidRequest, idempotency_key},
        store::{self, AuctionRow, EventRow, ListFilter},
        view::{AuctionPage, AuctionResponse, BidHistoryItem, BidPage, BidResponse},
    },
    auth::{AuthUser, Role},
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath, ApiQuery},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auctions", post(create).get(list))
        .route("/auctions/{id}", get(detail))
        .route("/auctions/{id}/cancel", post(cancel))
        .route("/auctions/{id}/bids", post(place_bid).get(bid_history))
        .route("/auctions/{id}/events", get(events))
}

fn auction_not_found() -> ApiError {
    ApiError::not_found("auction_not_found", "no such auction")
}

fn auction_closed() -> ApiError {
    ApiError::conflict("auction_closed", "the auction is closed")
}

async fn find_auction(db: &PgPool, id: Uuid) -> Result<AuctionRow, ApiError> {
    store::find(db, id).await?.ok_or_else(auction_not_found)
}

/// Public handles of `ids`.
async fn handles(db: &PgPool, ids: &[Uuid]) -> Result<HashMap<Uuid, String>, ApiError> {
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, handle FROM users WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().collect())
}

/// The row overlaid with the live view when the workflow answers.
async fn present(state: &AppState, row: &AuctionRow) -> Result<AuctionResponse, ApiError> {
    if !row.status().is_live() {
        return Ok(AuctionResponse::from_row(row));
    }
    match gateway::live_state(&state.temporal, row.id).await {
        Some(view) => present_view(state, row, &view).await,
        None => Ok(AuctionResponse::from_row(row)),
    }
}

async fn present_view(
    state: &AppState,
    row: &AuctionRow,
    view: &gavel_workflows::auction::AuctionView,
) -> Result<AuctionResponse, ApiError> {
    let mut ids: Vec<Uuid> = view.leader_id.into_iter().collect();
    if let Some(gavel_workflows::auction::Outcome::Sold { winner_id, .. }) = &view.outcome {
        ids.push(*winner_id);
    }
    let names = handles(&state.db, &ids).await?;
    Ok(AuctionResponse::live(row, view, |id| {
        names.get(&id).cloned()
    }))
}

#[utoipa::path(post, path = "/auctions", tag = "auctions",
    request_body = CreateAuctionRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "a retried create with the same key returns the same auction")),
    responses(
        (status = 201, body = AuctionResponse, description = "auction created; its workflow runs"),
        (status = 403, body = ErrorBody, description = "`forbidden`: only sellers create auctions"),
        (status = 409, body = ErrorBody, description = "`idempotency_key_reused` with a different body"),
        (status = 422, body = ErrorBody, description = "`invalid_title`, `invalid_description`, `invalid_currency`, `invalid_amount`, `invalid_reserve_price`, `invalid_buy_now_price`, `invalid_min_increment`, `invalid_ends_at`, `invalid_anti_sniping`, `invalid_hard_close_at`, `invalid_idempotency_key`"),
        (status = 503, body = ErrorBody, description = "Temporal unavailable; retry with the same key"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateAuctionRequest>,
) -> Result<(StatusCode, ApiJson<AuctionResponse>), ApiError> {
    user.require(&[Role::Seller])?;
    let key = idempotency_key(&headers)?;
    let now = Utc::now();
    let auction = body.validate(user.id, now)?;
    // The same seller and key always name the same auction, so a retried
    // create can only ever find the first one.
    let auction_id = key
        .as_ref()
        .map_or_else(Uuid::new_v4, |k| Uuid::new_v5(&user.id, k.as_bytes()));
    let status = if auction.terms.starts_at > now {
        AuctionStatus::Scheduled
    } else {
        AuctionStatus::Open
    };
    let fingerprint = body.fingerprint();
    let inserted =
        store::insert_created(&state.db, auction_id, &auction, status, &fingerprint).await?;
    if !inserted {
        let existing = find_auction(&state.db, auction_id).await?;
        if existing.create_fingerprint.as_deref() != Some(fingerprint.as_str()) {
            return Err(ApiError::conflict(
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different auction",
            ));
        }
    }
    let mut book = Book::new(auction.terms);
    if status == AuctionStatus::Open {
        // Open from the first instant: a bid may reach the workflow before
        // its first task has run.
        book.phase = Phase::Open;
    }
    let input = AuctionInput {
        auction_id,
        listing: auction.listing,
        book,
        settings: state.config.auction_settings,
        carried: None,
    };
    if let Err(err) = gateway::start(&state.temporal, &state.config.task_queue, input).await {
        if inserted {
            let _ = store::delete_unstarted(&state.db, auction_id).await;
        }
        return Err(ApiError::unavailable("Temporal", err));
    }
    let row = find_auction(&state.db, auction_id).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(AuctionResponse::from_row(&row)),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// One status (`open`, `closed`, …).
    pub status: Option<String>,
    pub seller_id: Option<String>,
    /// Words in the title or description.
    pub q: Option<String>,
    /// 1 to 100; 20 by default.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn invalid_query(code: &'static str, message: &str) -> ApiError {
    ApiError::unprocessable(code, message)
}

fn encode_cursor(created_at: DateTime<Utc>, id: Uuid) -> String {
    hex::encode(format!("{}|{id}", created_at.timestamp_micros()))
}

fn decode_cursor(cursor: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let text = String::from_utf8(hex::decode(cursor).ok()?).ok()?;
    let (micros, id) = text.split_once('|')?;
    Some((
        DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        id.parse().ok()?,
    ))
}

fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(20),
        Some(l) if (1..=100).contains(&l) => Ok(l),
        Some(_) => Err(invalid_query("invalid_limit", "limit must be 1 to 100")),
    }
}

#[utoipa::path(get, path = "/auctions", tag = "auctions", params(ListQuery),
    responses(
        (status = 200, body = AuctionPage, description = "newest first"),
        (status = 422, body = ErrorBody, description = "`invalid_status`, `invalid_seller_id`, `invalid_limit`, `invalid_cursor`, `invalid_query`"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<ApiJson<AuctionPage>, ApiError> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            AuctionStatus::parse(s)
                .ok_or_else(|| invalid_query("invalid_status", "status is not an auction status"))
        })
        .transpose()?;
    let seller_id = query
        .seller_id
        .as_deref()
        .map(|s| {
            s.parse::<Uuid>()
                .map_err(|_| invalid_query("invalid_seller_id", "seller_id must be a UUID"))
        })
        .transpose()?;
    let text = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if text.is_some_and(|q| q.chars().count() > 100) {
        return Err(invalid_query(
            "invalid_query",
            "q must be at most 100 characters",
        ));
    }
    let limit = page_limit(query.limit)?;
    let after = query
        .cursor
        .as_deref()
        .map(|c| {
            decode_cursor(c)
                .ok_or_else(|| invalid_query("invalid_cursor", "cursor is not one we gave out"))
        })
        .transpose()?;
    let filter = ListFilter {
        status,
        seller_id,
        text: text.map(str::to_owned),
        after,
        limit: limit + 1,
    };
    let mut rows = store::list(&state.db, &filter).await?;
    let next_cursor = if rows.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        rows.last().map(|r| encode_cursor(r.created_at, r.id))
    } else {
        None
    };
    Ok(ApiJson(AuctionPage {
        items: rows.iter().map(AuctionResponse::from_row).collect(),
        next_cursor,
    }))
}

#[utoipa::path(get, path = "/auctions/{id}", tag = "auctions",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = AuctionResponse, description = "live from the workflow while open; from the read model after"),
        (status = 404, body = ErrorBody, description = "`auction_not_found`"),
    ))]
pub async fn detail(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<ApiJson<AuctionResponse>, ApiError> {
    let row = find_auction(&state.db, id).await?;
    Ok(ApiJson(present(&state, &row).await?))
}

fn rejection_error(rejection: &Rejection) -> ApiError {
    let mut details = serde_json::to_value(rejection).unwrap_or(Value::Null);
    if let Some(map) = details.as_object_mut() {
        map.remove("code");
    }
    let error = match rejection {
        Rejection::InvalidAmount | Rejection::CurrencyMismatch => {
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

#[utoipa::path(post, path = "/auctions/{id}/bids", tag = "bids",
    params(("id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "a retried bid with the same key gets the same verdict")),
    request_body = PlaceBidRequest,
    responses(
        (status = 201, body = BidResponse, description = "accepted: `leading` or `outbid` (by someone's higher maximum)"),
        (status = 403, body = ErrorBody, description = "`forbidden`: only bidders bid"),
        (status = 404, body = ErrorBody, description = "`auction_not_found`"),
        (status = 409, body = ErrorBody, description = "`auction_not_open`, `auction_closed`, `bid_too_low` (details.minimum), `max_not_raised`, `own_auction`"),
        (status = 422, body = ErrorBody, description = "`invalid_amount`, `invalid_currency`, `currency_mismatch`, `invalid_idempotency_key`"),
        (status = 503, body = ErrorBody, description = "Temporal unavailable or the auction is saturated; retry with the same key"),
    ),
    security(("bearer" = [])))]
pub async fn place_bid(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PlaceBidRequest>,
) -> Result<(StatusCode, ApiJson<BidResponse>), ApiError> {
    user.require(&[Role::Bidder])?;
    let key = idempotency_key(&headers)?.unwrap_or_else(|| Uuid::new_v4().to_string());
    let (amount, max_amount, currency) = body.validate()?;
    let row = find_auction(&state.db, id).await?;
    // Keys are per bidder: two bidders may pick the same one.
    let scoped_key = format!("{}:{key}", user.id);
    if let Some(stored) = store::bid_by_key(&state.db, id, &scoped_key).await? {
        return Ok((
            StatusCode::CREATED,
            ApiJson(BidResponse::from_stored(&stored)),
        ));
    }
    if !row.status().is_live() {
        return Err(auction_closed());
    }
    let _slot = state.bid_gate.enter(id).await.ok_or_else(busy)?;
    let bid = PlaceBid {
        bidder_id: user.id,
        amount,
        max_amount,
        currency,
        idempotency_key: scoped_key.clone(),
    };
    match gateway::place_bid(&state.temporal, id, bid).await {
        Ok(receipt) => Ok((
            StatusCode::CREATED,
            ApiJson(BidResponse::from_receipt(
                &receipt,
                amount,
                max_amount.unwrap_or(amount),
            )),
        )),
        Err(CallError::Refused(rejection)) => Err(rejection_error(&rejection)),
        Err(CallError::Gone) => match store::bid_by_key(&state.db, id, &scoped_key).await? {
            Some(stored) => Ok((
                StatusCode::CREATED,
                ApiJson(BidResponse::from_stored(&stored)),
            )),
            None => Err(auction_closed()),
        },
        Err(CallError::Unavailable(err)) => Err(ApiError::unavailable("Temporal", err)),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct BidHistoryQuery {
    /// 1 to 100; 20 by default.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/auctions/{id}/bids", tag = "bids",
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

#[utoipa::path(post, path = "/auctions/{id}/cancel", tag = "auctions",
    params(("id" = Uuid, Path)),
    request_body = CancelAuctionRequest,
    responses(
        (status = 200, body = AuctionResponse, description = "cancelled"),
        (status = 403, body = ErrorBody, description = "`forbidden`, `cancel_not_allowed`"),
        (status = 404, body = ErrorBody, description = "`auction_not_found`"),
        (status = 409, body = ErrorBody, description = "`auction_has_bids` (sellers cancel only before the first bid), `auction_closed`"),
        (status = 503, body = ErrorBody, description = "Temporal unavailable"),
    ),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CancelAuctionRequest>,
) -> Result<ApiJson<AuctionResponse>, ApiError> {
    user.require(&[Role::Seller, Role::Admin])?;
    let reason = body.validate()?;
    let row = find_auction(&state.db, id).await?;
    let as_admin = user.role == Role::Admin;
    let not_allowed = || {
        ApiError::forbidden(
            "cancel_not_allowed",
            "only the seller or an admin may cancel this auction",
        )
    };
    if !as_admin && row.seller_id != user.id {
        return Err(not_allowed());
    }
    if !row.status().is_live() {
        return Err(auction_closed());
    }
    let request = CancelRequest {
        requested_by: user.id,
        as_admin,
        reason,
    };
    match gateway::cancel(&state.temporal, id, request).await {
        Ok(view) => Ok(ApiJson(present_view(&state, &row, &view).await?)),
        Err(CallError::Refused(CancelRefusal::NotAllowed)) => Err(not_allowed()),
        Err(CallError::Refused(refusal)) => {
            Err(ApiError::conflict(refusal.code(), refusal.to_string()))
        }
        Err(CallError::Gone) => Err(auction_closed()),
        Err(CallError::Unavailable(err)) => Err(ApiError::unavailable("Temporal", err)),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventsQuery {
    /// Resume after this event id (as the `Last-Event-ID` header does).
    pub last_event_id: Option<i64>,
}

/// How often a quiet stream re-reads anyway (in case a notification was lost).
const EVENT_POLL: Duration = Duration::from_secs(5);

#[utoipa::path(get, path = "/auctions/{id}/events", tag = "auctions",
    params(("id" = Uuid, Path), EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "resume after this event")),
    responses(
        (status = 200, content_type = "text/event-stream", description = "events `opened`, `bid`, `extended`, `closed`, `cancelled`; each `id` is the event's sequence number in the auction"),
        (status = 404, body = ErrorBody, description = "`auction_not_found`"),
        (status = 422, body = ErrorBody, description = "`invalid_last_event_id`"),
    ))]
pub async fn events(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    find_auction(&state.db, id).await?;
    let from_header = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    invalid_query("invalid_last_event_id", "Last-Event-ID must be an event id")
                })
        })
        .transpose()?;
    let after = from_header.or(query.last_event_id).unwrap_or(0).max(0);
    let follow = Follow {
        db: state.db.clone(),
        auction_id: id,
        notifications: state.events.subscribe().await,
        after,
        ready: std::collections::VecDeque::new(),
    };
    Ok(Sse::new(futures::stream::unfold(follow, Follow::next)).keep_alive(KeepAlive::default()))
}

/// One SSE client following one auction.
struct Follow {
    db: PgPool,
    auction_id: Uuid,
    notifications: broadcast::Receiver<Uuid>,
    after: i64,
    ready: std::collections::VecDeque<Event>,
}

impl Follow {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some((Ok(event), self));
            }
            match store::events_after(&self.db, self.auction_id, self.after, 100).await {
                Ok(rows) if !rows.is_empty() => {
                    for row in rows {
                        self.after = row.seq;
                        self.ready.push_back(sse_event(row));
                    }
                    continue;
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(auction_id = %self.auction_id, "cannot read events: {err}")
                }
            }
            if !self.wait_for_news().await {
                return None;
            }
        }
    }

    /// Waits until this auction may have new events; `false` when the hub is gone.
    async fn wait_for_news(&mut self) -> bool {
        let deadline = tokio::time::sleep(EVENT_POLL);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                message = self.notifications.recv() => match message {
                    Ok(id) if id == self.auction_id || id == RESYNC => return true,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return true,
                    Err(broadcast::error::RecvError::Closed) => return false,
                },
                () = &mut deadline => return true,
            }
        }
    }
}

/// The stored event as the client sees it: user ids replaced by handles.
fn sse_event(row: EventRow) -> Event {
    let mut data = row.data.0;
    if let Some(map) = data.as_object_mut() {
        map.remove("kind");
        if map.remove("leader_id").is_some() {
            map.insert("leader".into(), json!(row.leader_handle));
        }
        if let Some(outcome) = map.get_mut("outcome").and_then(Value::as_object_mut)
            && outcome.remove("winner_id").is_some()
        {
            outcome.insert("winner".into(), json!(row.winner_handle));
        }
    }
    Event::default()
        .id(row.seq.to_string())
        .event(row.kind)
        .data(data.to_string())
}
