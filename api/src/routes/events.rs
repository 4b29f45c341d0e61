//! `/auctions/{id}/events`: the live stream (SSE). A client first reads what
//! it has not seen from `auction_events` (so a reconnect with
//! `Last-Event-ID` misses nothing), then follows the auction's feed, which
//! reads each new event once for every client of this replica.

use gavel_store::auctions as store;
use std::{collections::VecDeque, convert::Infallible, sync::Arc};

use axum::{
    Router,
    extract::State,
    http::HeaderMap,
    response::sse::{Event, KeepAlive, Sse},
    routing::get,
};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use sqlx::PgPool;
use tokio::sync::broadcast;
use utoipa::IntoParams;
use uuid::Uuid;

use super::auctions::{find_auction, invalid_query};
use crate::{
    auctions::{hub::Feed, view::PublicEvent},
    error::{ApiError, ErrorBody},
    extract::{ApiPath, ApiQuery},
    limits::{ClientIp, streams::StreamSlot},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/auctions/{id}/events", get(events))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Resume after this event id (as the `Last-Event-ID` header does).
    pub last_event_id: Option<i64>,
}

#[utoipa::path(get, path = "/auctions/{id}/events", tag = "auctions", operation_id = "stream_auction_events",
    params(("id" = Uuid, Path), EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "resume after this event")),
    responses(
        (status = 200, content_type = "text/event-stream", description = "events `opened`, `bid`, `extended`, `closed`, `cancelled`, then `awaiting_payment`, `settled` or `unsold`; each `id` is the event's sequence number in the auction. The stream ends after the final event (`settled`, `unsold`, `cancelled`, or `closed` with status `no_sale`)"),
        (status = 404, body = ErrorBody, description = "`auction_not_found`"),
        (status = 422, body = ErrorBody, description = "`invalid_last_event_id`"),
        (status = 429, body = ErrorBody, description = "`too_many_streams`: this address holds `GAVEL_SSE_PER_IP` streams already, with `Retry-After`"),
        (status = 503, body = ErrorBody, description = "`too_many_streams`: this server holds `GAVEL_SSE_MAX` streams; `service_unavailable`: the database is unavailable; with `Retry-After`"),
    ))]
pub async fn events(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
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
    let slot = state.streams.take(ip)?;
    let feed = state.events.feed(id).await?;
    // Subscribed before the backlog is read: nothing falls between the two.
    let rows = feed.subscribe();
    let follow = Follow {
        db: state.db.clone(),
        auction_id: id,
        _slot: slot,
        _feed: feed,
        rows,
        after,
        catching_up: true,
        hold_gaps: true,
        ready: VecDeque::new(),
        over: false,
    };
    let stream =
        futures::stream::unfold(follow, Follow::next).take_until(state.closing().cancelled_owned());
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// One SSE client following one auction: its backlog from the table, then
/// the auction's shared feed.
struct Follow {
    db: PgPool,
    auction_id: Uuid,
    /// This stream's place in the limits (and `gavel_sse_streams`).
    _slot: StreamSlot,
    /// Keeps the auction's feed running while this client follows it.
    _feed: Arc<Feed>,
    rows: broadcast::Receiver<Arc<PublicEvent>>,
    after: i64,
    /// Reading from the table (at the start, and after falling behind).
    catching_up: bool,
    /// While reading the table, stop before a missing event (a batch whose
    /// write is late) and let the feed hand it out in order when it comes;
    /// off for one read when the feed itself went past a gap.
    hold_gaps: bool,
    ready: VecDeque<Event>,
    /// The auction's final event was sent: the stream ends after it.
    over: bool,
}

impl Follow {
    /// Queues `row` if it is new to this client.
    fn take(&mut self, event: &PublicEvent) {
        if event.seq > self.after && !self.over {
            self.after = event.seq;
            self.over = event.last;
            self.ready.push_back(
                Event::default()
                    .id(event.seq.to_string())
                    .event(event.kind.clone())
                    .data(event.data.clone()),
            );
        }
    }

    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some((Ok(event), self));
            }
            if self.over {
                return None;
            }
            if self.catching_up {
                match store::events_after(&self.db, self.auction_id, self.after, 100).await {
                    Ok(rows) => {
                        self.catching_up = rows.len() == 100;
                        for row in &rows {
                            if self.hold_gaps && row.seq > self.after + 1 {
                                self.catching_up = false;
                                break;
                            }
                            self.take(&PublicEvent::of(row));
                        }
                        if !self.catching_up {
                            self.hold_gaps = true;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(auction_id = %self.auction_id, "cannot read events: {err}");
                        self.catching_up = false;
                    }
                }
                continue;
            }
            match self.rows.recv().await {
                // The feed went past an event this client lacks (it gave up
                // waiting for it): read the table, across the gap.
                Ok(row) if row.seq > self.after + 1 => {
                    self.catching_up = true;
                    self.hold_gaps = false;
                }
                Ok(row) => self.take(&row),
                // Fell behind the feed: read what was missed from the table.
                Err(broadcast::error::RecvError::Lagged(_)) => self.catching_up = true,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
