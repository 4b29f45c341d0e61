//! Live auction events for every SSE client of this replica, from one
//! `LISTEN` connection: a notification says "auction X has new events". Each
//! auction being watched has one [`Feed`]: a task that reads the new events
//! once per notification and hands the rows to every subscriber of that
//! auction, however many, in sequence order (a missing event holds the later
//! ones back for a while, see [`GAP_PATIENCE`]). Subscribers read their own backlog (a reconnect
//! with `Last-Event-ID`) from `auction_events`, so nothing depends on a
//! notification arriving; a feed also re-reads now and then in case one was
//! lost.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

use gavel_workflows::names::EVENTS_CHANNEL;
use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::{OnceCell, broadcast};
use uuid::Uuid;

use gavel_store::auctions as store;

use super::view::PublicEvent;

/// Sent to every feed when notifications may have been missed.
pub const RESYNC: Uuid = Uuid::nil();
/// Rows a slow subscriber may fall behind its feed before it re-reads.
const FEED_BUFFER: usize = 256;
/// How long a feed holds later events back while an earlier one is missing.
/// Two replicas may write their batches out of order for a moment, and a
/// batch whose write was lost is published by the workflow's backstop (about
/// 15 s later); past this, the missing event is given up on.
const GAP_PATIENCE: Duration = Duration::from_secs(30);

/// One auction's live rows, shared by all its subscribers in this replica.
pub struct Feed {
    rows: broadcast::Sender<Arc<PublicEvent>>,
}

impl Feed {
    /// New rows from now on (older ones are read from the table).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<PublicEvent>> {
        self.rows.subscribe()
    }
}

pub struct EventHub {
    db: PgPool,
    notifications: broadcast::Sender<Uuid>,
    started: OnceCell<()>,
    feeds: Mutex<HashMap<Uuid, Weak<Feed>>>,
    /// How often a feed re-reads without a notification.
    poll: Duration,
}

impl EventHub {
    pub fn new(db: PgPool, poll: Duration) -> Self {
        let (notifications, _) = broadcast::channel(1_024);
        Self {
            db,
            notifications,
            started: OnceCell::new(),
            feeds: Mutex::default(),
            poll,
        }
    }

    /// The feed of `auction_id`, started with its first subscriber (and the
    /// replica's `LISTEN` connection with the first feed).
    pub async fn feed(&self, auction_id: Uuid) -> Result<Arc<Feed>, gavel_store::StoreError> {
        self.started
            .get_or_init(|| async {
                tokio::spawn(listen(self.db.clone(), self.notifications.clone()));
            })
            .await;
        if let Some(feed) = self.live_feed(auction_id) {
            return Ok(feed);
        }
        // Start from what is there now (before a recent gap, so the missing
        // event is handed out when it comes): subscribers read older rows
        // themselves and skip what they have.
        let last = store::feed_start_seq(&self.db, auction_id).await?;
        let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(feed) = feeds.get(&auction_id).and_then(Weak::upgrade) {
            return Ok(feed);
        }
        feeds.retain(|_, feed| feed.strong_count() > 0);
        let (rows, _) = broadcast::channel(FEED_BUFFER);
        let feed = Arc::new(Feed { rows });
        feeds.insert(auction_id, Arc::downgrade(&feed));
        metrics::gauge!("gavel_sse_feeds").set(feeds.len() as f64);
        tokio::spawn(read_feed(
            Arc::downgrade(&feed),
            self.db.clone(),
            auction_id,
            self.notifications.subscribe(),
            self.poll,
            last,
        ));
        Ok(feed)
    }

    fn live_feed(&self, auction_id: Uuid) -> Option<Arc<Feed>> {
        self.feeds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&auction_id)
            .and_then(Weak::upgrade)
    }
}

/// One auction's reader: on each notification (or poll), reads the rows
/// after the last it handed out and hands them to every subscriber. Ends
/// when the last subscriber is gone.
async fn read_feed(
    feed: Weak<Feed>,
    db: PgPool,
    auction_id: Uuid,
    mut notifications: broadcast::Receiver<Uuid>,
    poll: Duration,
    mut last: i64,
) {
    // Since when the next event has been missing while later ones are there.
    let mut gap_since: Option<Instant> = None;
    loop {
        let wake = tokio::time::sleep(poll);
        tokio::pin!(wake);
        loop {
            tokio::select! {
                news = notifications.recv() => match news {
                    Ok(id) if id == auction_id || id == RESYNC => break,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = &mut wake => break,
            }
        }
        let Some(feed) = feed.upgrade() else {
            return;
        };
        loop {
            match store::events_after(&db, auction_id, last, 500).await {
                Ok(rows) if rows.is_empty() => break,
                Ok(rows) => {
                    let full = rows.len() == 500;
                    let mut held = false;
                    for row in rows {
                        if row.seq > last + 1 {
                            let since = *gap_since.get_or_insert_with(Instant::now);
                            if since.elapsed() < GAP_PATIENCE {
                                held = true;
                                break;
                            }
                        }
                        gap_since = None;
                        last = row.seq;
                        let _ = feed.rows.send(Arc::new(PublicEvent::of(&row)));
                    }
                    if !full || held {
                        break;
                    }
                }
                Err(err) => {
                    tracing::warn!(%auction_id, "cannot read auction events: {err}");
                    break;
                }
            }
        }
    }
}

async fn listen(db: PgPool, sender: broadcast::Sender<Uuid>) {
    loop {
        match PgListener::connect_with(&db).await {
            Ok(mut listener) => {
                if let Err(err) = listener.listen(EVENTS_CHANNEL).await {
                    tracing::warn!("cannot LISTEN for auction events: {err}");
                } else {
                    // Anything sent while we were away is found by re-reading.
                    let _ = sender.send(RESYNC);
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(notification)) => {
                                if let Ok(id) = notification.payload().parse::<Uuid>() {
                                    let _ = sender.send(id);
                                }
                            }
                            // The connection dropped and will be re-made on
                            // the next call: what came meanwhile is lost.
                            Ok(None) => {
                                let _ = sender.send(RESYNC);
                            }
                            Err(err) => {
                                tracing::warn!("auction event listener lost: {err}");
                                break;
                            }
                        }
                    }
                }
            }
            Err(err) => tracing::warn!("cannot connect the auction event listener: {err}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
