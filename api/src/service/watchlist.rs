//! A person's watchlist: watch and unwatch a lot, list the watched lots with
//! their live prices. A new watch whose "ending soon" alert would fall
//! before the check the auction's workflow plans is signalled to it (only
//! then: the plan is read from `ending_soon_schedules`).

use gavel_store::{
    StoreError, auctions, preferences, users,
    watchlist::{self as store, WatchedLot},
};
use gavel_workflows::contract::view::AuctionStatus;
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
    if new && lot.status == AuctionStatus::Open {
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
/// planned check: their lead is longer than the longest lead the plan waits
/// for, or the plan waits for nobody. Also for a changed lead (the
/// preferences page calls it for each open lot the person watches or bid
/// on). A failed signal is logged: the watch stands, and the workflow's
/// next check (bids, other watchers) still finds the person.
pub async fn tell_workflow_if_sooner(
    state: &AppState,
    user: Uuid,
    auction: Uuid,
) -> Result<(), StoreError> {
    if store::alerted(&state.db, auction, user).await? {
        return Ok(());
    }
    // Only for someone the alert would go to: a verified address that wants
    // it (a watcher's `watched_lots`, a bidder's `ending_soon`).
    let choices = preferences::get(&state.db, user).await?;
    let wants = if store::is_watching(&state.db, user, auction).await? {
        choices.watched_lots
    } else {
        choices.ending_soon
    };
    if !wants || users::email_verified(&state.db, user).await? != Some(true) {
        return Ok(());
    }
    let lead = choices.ending_soon_lead_secs;
    let planned = store::planned_lead(&state.db, auction).await?;
    if planned.is_some_and(|planned| lead <= planned) {
        return Ok(());
    }
    if !state.login_limiter.alert_signal(user).await? {
        tracing::info!(%user, %auction, "alert signals over the hour's limit; none sent");
        return Ok(());
    }
    if let Err(err) = gateway::alerts_changed(&state.temporal, auction, user).await {
        tracing::warn!(%auction, error = %err, "could not tell the auction of a new watcher");
    }
    Ok(())
}
