//! One `LISTEN` connection per API replica, fanned out to every SSE client:
//! a notification says "auction X has new events"; each client then reads
//! what it has not seen from `auction_events`, so nothing depends on a
//! notification arriving (a reconnect or a lagging client just re-reads).

use std::time::Duration;

use gavel_workflows::names::EVENTS_CHANNEL;
use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::{OnceCell, broadcast};
use uuid::Uuid;

/// Sent to every subscriber when notifications may have been missed.
pub const RESYNC: Uuid = Uuid::nil();

pub struct EventHub {
    db: PgPool,
    sender: broadcast::Sender<Uuid>,
    started: OnceCell<()>,
}

impl EventHub {
    pub fn new(db: PgPool) -> Self {
        let (sender, _) = broadcast::channel(1_024);
        Self {
            db,
            sender,
            started: OnceCell::new(),
        }
    }

    /// A receiver of auction ids with new events ([`RESYNC`]: re-read all).
    /// The listener starts with the first subscriber.
    pub async fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        let receiver = self.sender.subscribe();
        self.started
            .get_or_init(|| async {
                tokio::spawn(listen(self.db.clone(), self.sender.clone()));
            })
            .await;
        receiver
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
