//! A person's watchlist: watch and unwatch a lot, list the watched lots with
//! their live prices. A new watch, or a change of choices, whose "ending
//! soon" alert would fall before the check the auction's workflow plans is
//! signalled to it (only then: the plan is read from `ending_soon_schedules`).

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use gavel_store::{
    StoreError, auctions,
    watchlist::{self as store, WatchedLot},
};
use gavel_workflows::contract::view::{AuctionStatus, SeenStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{auctions::gateway, state::AppState};

/// Why a watch or unwatch did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("no such auction")]
    NotFound,
    #[error("the watchlist is full")]
    Full,
    #[error(transparent)]
    Database(#[from] StoreError),
}

/// `user` watches `auction` (again is fine). Returns whether it is new.
pub async fn watch(state: &AppState, user: Uuid, auction: Uuid) -> Result<bool, WatchError> {
    let lot = auctions::find(&state.db, auction)
        .await?
        .ok_or(WatchError::NotFound)?;
    let new = match store::watch(&state.db, user, auction).await? {
        store::Watch::Added => true,
        store::Watch::Already => false,
        store::Watch::Full => return Err(WatchError::Full),
    };
    // A scheduled lot's workflow takes the signal too, and checks at its
    // opening: it plans no check before someone waits.
    if new && matches!(lot.status, AuctionStatus::Scheduled | AuctionStatus::Open) {
        tell_workflow_if_sooner(state, user, auction).await?;
    }
    Ok(new)
}

/// `user` stops watching `auction` (not watching it is fine). An alert
/// already sent is not sent again if they watch it once more.
pub async fn unwatch(state: &AppState, user: Uuid, auction: Uuid) -> Result<(), WatchError> {
    if !store::unwatch(&state.db, user, auction).await?
        && auctions::find(&state.db, auction).await?.is_none()
    {
        return Err(WatchError::NotFound);
    }
    Ok(())
}

/// The lots `user` watches, newest watched first, with live prices.
pub async fn list(state: &AppState, user: Uuid) -> Result<Vec<WatchedLot>, StoreError> {
    store::watched(&state.db, user).await
}

/// Whether `user` watches `auction`.
pub async fn is_watching(state: &AppState, user: Uuid, auction: Uuid) -> Result<bool, StoreError> {
    store::is_watching(&state.db, user, auction).await
}

/// Signals the auction's workflow when `user`'s alert falls before the
/// planned check (the rules are
/// [`alerts_to_bring_forward`](store::alerts_to_bring_forward)'s). A failed
/// signal is logged: the watch stands, and the workflow's next check (for
/// a bidder outbid, another watcher) finds the person; on a lot nobody
/// else waits on there is none, and no alert goes.
pub async fn tell_workflow_if_sooner(
    state: &AppState,
    user: Uuid,
    auction: Uuid,
) -> Result<(), StoreError> {
    for lot in store::alerts_to_bring_forward(&state.db, user, Some(auction)).await? {
        signal_alert(state, user, lot).await?;
    }
    Ok(())
}

/// The same for every running lot `user` watches or bid on, after their
/// choices changed: one query finds the lots to tell, then
/// [`SIGNALS_AT_ONCE`] are signalled at a time.
pub async fn tell_workflows_if_sooner(state: &AppState, user: Uuid) -> Result<(), StoreError> {
    let lots = store::alerts_to_bring_forward(&state.db, user, None).await?;
    futures::stream::iter(lots.into_iter().map(Ok))
        .try_for_each_concurrent(SIGNALS_AT_ONCE, |lot| signal_alert(state, user, lot))
        .await
}

/// Signals sent at once for one change of choices (up to 400 lots; each a
/// call to Temporal).
const SIGNALS_AT_ONCE: usize = 8;

/// Tells `auction`'s workflow of `user`'s alert, unless `user` has made
/// the API send [`ALERT_SIGNALS_PER_HOUR`](crate::auth::limiter::ALERT_SIGNALS_PER_HOUR)
/// this hour.
async fn signal_alert(state: &AppState, user: Uuid, auction: Uuid) -> Result<(), StoreError> {
    if !state.login_limiter.alert_signal(user).await? {
        tracing::info!(%user, %auction, "alert signals over the hour's limit; none sent");
        return Ok(());
    }
    if let Err(err) = gateway::alerts_changed(&state.temporal, auction, user).await {
        tracing::warn!(%auction, error = %err, "could not tell the auction of a new watcher");
    }
    Ok(())
}

/// One lot I watch, priced as it is now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WatchedLotResponse {
    pub auction_id: Uuid,
    pub title: String,
    pub currency: String,
    /// `scheduled`, `open`, `closed`, `awaiting_payment`, …
    pub status: String,
    /// The current price in minor units (the starting price before bids).
    pub current_price: i64,
    pub bid_count: i64,
    pub ends_at: DateTime<Utc>,
    pub watched_at: DateTime<Utc>,
}

impl From<WatchedLot> for WatchedLotResponse {
    fn from(lot: WatchedLot) -> Self {
        let status = lot.seen_status(Utc::now()).as_str().to_owned();
        Self {
            auction_id: lot.auction_id,
            title: lot.title,
            currency: lot.currency,
            status,
            current_price: lot.price,
            bid_count: lot.bid_count,
            ends_at: lot.ends_at,
            watched_at: lot.watched_at,
        }
    }
}
