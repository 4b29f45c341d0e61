//! `/auctions/{id}/events`: the live stream (SSE). Each client reads what it
//! has not seen from `auction_events`, woken by the replica's `LISTEN`
//! connection, so a reconnect with `Last-Event-ID` misses nothing.

use std::{collections::VecDeque, convert::Infallible, time::Duration};

use axum::{
    Router,
    extract::State,
    http::HeaderMap,
    response::sse::{Event, KeepAlive, Sse},
    routing::get,
};
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::broadcast;
use utoipa::IntoParams;
use uuid::Uuid;

use super::auctions::{find_auction, invalid_query};
use crate::{
    auctions::{
        hub::RESYNC,
        store::{self, EventRow},
    },
    error::{ApiError, ErrorBody},
    extract::{ApiPath, ApiQuery},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/auctions/{id}/events", get(events))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventsQuery {
    /// Resume after this event id (as the `Last-Event-ID` header does).
    pub last_event_id: Option<i64>,
}

#[utoipa::path(get, path = "/auctions/{id}/events", tag = "auctions",
    params(("id" = Uuid, Path), EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "resume after this event")),
    responses(
        (status = 200, content_type = "text/event-stream", description = "events `opened`, `bid`, `extended`, `closed`, `cancelled`, then `awaiting_payment`, `settled` or `unsold`; each `id` is the event's sequence number in the auction. The stream ends after the final event (`settled`, `unsold`, `cancelled`, or `closed` with status `no_sale`)"),
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
        ready: VecDeque::new(),
        over: false,
        poll: state.config.sse_poll,
    };
    Ok(Sse::new(futures::stream::unfold(follow, Follow::next)).keep_alive(KeepAlive::default()))
}

/// One SSE client following one auction.
struct Follow {
    db: PgPool,
    auction_id: Uuid,
    notifications: broadcast::Receiver<Uuid>,
    after: i64,
    ready: VecDeque<Event>,
    /// The auction's final event was sent: the stream ends after it.
    over: bool,
    /// How long to wait for a notification before re-reading anyway.
    poll: Duration,
}

/// Whether nothing follows this event: the auction is settled, unsold,
/// cancelled, or closed without a sale.
fn is_final(row: &EventRow) -> bool {
    match row.kind.as_str() {
        "settled" | "unsold" | "cancelled" => true,
        "closed" => row.data.0.get("status").and_then(Value::as_str) == Some("no_sale"),
        _ => false,
    }
}

impl Follow {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some((Ok(event), self));
            }
            if self.over {
                return None;
            }
            match store::events_after(&self.db, self.auction_id, self.after, 100).await {
                Ok(rows) if !rows.is_empty() => {
                    for row in rows {
                        self.after = row.seq;
                        self.over = is_final(&row);
                        self.ready.push_back(sse_event(row));
                        if self.over {
                            break;
                        }
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
        let deadline = tokio::time::sleep(self.poll);
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
