//! `watchlist`, `ending_soon_alerts` and `ending_soon_schedules`: the lots
//! each account watches, the "ending soon" alerts sent (one per lot and
//! person, ever), and what each auction's alert timer waits for.
//!
//! Who gets an alert: a watcher whose `watched_lots` is on, and a bidder who
//! is not leading whose `ending_soon` is on, once `ends_at - their lead` has
//! come; only at a verified address of an account not deleted (an address
//! nobody confirmed gets no optional mail). Both read [`crate::preferences`] (an account without a row has the
//! defaults: both on, a lead of an hour).

use chrono::{DateTime, Utc};
use gavel_workflows::contract::view::AuctionStatus;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{Result, preferences::NoticeKind};

/// Most lots a watchlist holds.
pub const WATCHLIST_MAX: i64 = 200;

/// One watched lot, with its live price from the read model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WatchedLot {
    pub auction_id: Uuid,
    pub title: String,
    pub currency: String,
    pub status: AuctionStatus,
    /// The current price; the starting price before the first bid.
    pub price: i64,
    pub bid_count: i64,
    pub ends_at: DateTime<Utc>,
    pub watched_at: DateTime<Utc>,
}

/// What asking to watch a lot came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    Added,
    /// On the watchlist already.
    Already,
    /// The watchlist holds [`WATCHLIST_MAX`] lots already.
    Full,
}

/// `user` watches `auction`, unless its watchlist is full. (Two watches at
/// the same moment may both pass the count: the list stays within a few of
/// its limit, which is what the limit is for.)
pub async fn watch(db: &PgPool, user: Uuid, auction: Uuid) -> Result<Watch> {
    let done = sqlx::query!(
        "INSERT INTO watchlist (user_id, auction_id)
         SELECT $1, $2 WHERE (SELECT count(*) FROM watchlist WHERE user_id = $1) < $3
         ON CONFLICT DO NOTHING",
        user,
        auction,
        WATCHLIST_MAX
    )
    .execute(db)
    .await?;
    Ok(if done.rows_affected() == 1 {
        Watch::Added
    } else if is_watching(db, user, auction).await? {
        Watch::Already
    } else {
        Watch::Full
    })
}

/// `user` stops watching `auction`; `false` when it did not watch it.
pub async fn unwatch(db: &PgPool, user: Uuid, auction: Uuid) -> Result<bool> {
    let done = sqlx::query!(
        "DELETE FROM watchlist WHERE user_id = $1 AND auction_id = $2",
        user,
        auction
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether `user` watches `auction`.
pub async fn is_watching(db: &PgPool, user: Uuid, auction: Uuid) -> Result<bool> {
    let found = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM watchlist WHERE user_id = $1 AND auction_id = $2)
           AS "found!""#,
        user,
        auction
    )
    .fetch_one(db)
    .await?;
    Ok(found)
}

/// The lots `user` watches, newest watched first (at most
/// [`WATCHLIST_MAX`]), with their prices as the read model has them now.
pub async fn watched(db: &PgPool, user: Uuid) -> Result<Vec<WatchedLot>> {
    let lots = sqlx::query_as!(
        WatchedLot,
        r#"SELECT a.id AS auction_id, a.title, a.currency, a.status AS "status: AuctionStatus",
                  COALESCE(a.current_price, a.starting_price) AS "price!", a.bid_count,
                  a.ends_at, w.created_at AS watched_at
           FROM watchlist w JOIN auctions a ON a.id = w.auction_id
           WHERE w.user_id = $1
           ORDER BY w.created_at DESC, a.id
           LIMIT $2"#,
        user,
        WATCHLIST_MAX
    )
    .fetch_all(db)
    .await?;
    Ok(lots)
}

/// The lots still running (scheduled or open) that `user` watches or has bid
/// on, at most [`WATCHLIST_MAX`] of each: those whose alert a changed
/// preference may bring forward.
pub async fn running_lots_of(db: &PgPool, user: Uuid) -> Result<Vec<Uuid>> {
    let lots = sqlx::query_scalar!(
        r#"SELECT id AS "id!" FROM (
               (SELECT w.auction_id AS id FROM watchlist w JOIN auctions a ON a.id = w.auction_id
                WHERE w.user_id = $1 AND a.status IN ('scheduled', 'open') LIMIT $2)
               UNION
               (SELECT DISTINCT b.auction_id FROM bids b JOIN auctions a ON a.id = b.auction_id
                WHERE b.bidder_id = $1 AND a.status IN ('scheduled', 'open') LIMIT $2)
           ) lots"#,
        user,
        WATCHLIST_MAX
    )
    .fetch_all(db)
    .await?;
    Ok(lots)
}

/// The lead the auction's alert timer plans for, read after a new watch:
/// a watcher with a longer lead must be told to the workflow. `None`:
/// nobody waits, so any new watcher must. Waits for a check writing the
/// plan to finish, so a watch is either seen by the check or sees its plan.
pub async fn planned_lead(db: &PgPool, auction: Uuid) -> Result<Option<i32>> {
    let mut tx = db.begin().await?;
    sqlx::query!(
        "INSERT INTO ending_soon_schedules (auction_id) VALUES ($1) ON CONFLICT DO NOTHING",
        auction
    )
    .execute(&mut *tx)
    .await?;
    let lead = sqlx::query_scalar!(
        "SELECT next_lead_secs FROM ending_soon_schedules WHERE auction_id = $1 FOR SHARE",
        auction
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(lead)
}

/// One alert that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueAlert {
    pub user_id: Uuid,
    /// What the person gets it as: a bidder not leading (`EndingSoon`) or a
    /// watcher (`WatchedLots`).
    pub reason: NoticeKind,
}

/// The alerts due at `now` for an auction ending at `ends_at` and led by
/// `leader`, not yet sent, at most `limit`, in a stable order.
pub async fn due(
    db: &PgPool,
    auction: Uuid,
    leader: Option<Uuid>,
    ends_at: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DueAlert>> {
    let rows = sqlx::query!(
        r#"SELECT p.user_id AS "user_id!",
                  bool_or(p.bid) AND COALESCE(np.ending_soon, true) AS "as_bidder!"
           FROM (SELECT user_id, false AS bid FROM watchlist WHERE auction_id = $1
                 UNION ALL
                 SELECT DISTINCT bidder_id, true FROM bids
                 WHERE auction_id = $1 AND bidder_id IS DISTINCT FROM $2) p
           JOIN users u ON u.id = p.user_id
           LEFT JOIN notice_preferences np ON np.user_id = p.user_id
           WHERE NOT EXISTS (SELECT 1 FROM ending_soon_alerts a
                             WHERE a.auction_id = $1 AND a.user_id = p.user_id)
             AND u.deleted_at IS NULL AND u.email_verified_at IS NOT NULL
             AND $3::timestamptz
                 - make_interval(secs => COALESCE(np.ending_soon_lead_secs, 3600)) <= $4
           GROUP BY p.user_id, np.ending_soon, np.watched_lots
           HAVING (bool_or(p.bid) AND COALESCE(np.ending_soon, true))
               OR (bool_or(NOT p.bid) AND COALESCE(np.watched_lots, true))
           ORDER BY p.user_id
           LIMIT $5"#,
        auction,
        leader,
        ends_at,
        now,
        limit
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| DueAlert {
            user_id: row.user_id,
            reason: if row.as_bidder {
                NoticeKind::EndingSoon
            } else {
                NoticeKind::WatchedLots
            },
        })
        .collect())
}

/// Records that `alert` was sent for `auction` (a repeat changes nothing).
pub async fn record(db: &PgPool, auction: Uuid, alert: DueAlert) -> Result<()> {
    sqlx::query!(
        "INSERT INTO ending_soon_alerts (auction_id, user_id, reason) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
        auction,
        alert.user_id,
        alert.reason.as_str()
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Whether `user` was sent the alert for `auction`.
pub async fn alerted(db: &PgPool, auction: Uuid, user: Uuid) -> Result<bool> {
    let found = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM ending_soon_alerts WHERE auction_id = $1 AND user_id = $2)
           AS "found!""#,
        auction,
        user
    )
    .fetch_one(db)
    .await?;
    Ok(found)
}

/// Works out and writes the auction's plan under its row's lock: the longest
/// lead among the people still waiting at `now` (their alert not due yet).
pub async fn plan_next(
    db: &PgPool,
    auction: Uuid,
    leader: Option<Uuid>,
    ends_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<i32>> {
    let mut tx = db.begin().await?;
    sqlx::query!(
        "INSERT INTO ending_soon_schedules (auction_id) VALUES ($1)
         ON CONFLICT (auction_id) DO NOTHING",
        auction
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "SELECT auction_id FROM ending_soon_schedules WHERE auction_id = $1 FOR UPDATE",
        auction
    )
    .fetch_one(&mut *tx)
    .await?;
    let lead = sqlx::query_scalar!(
        r#"SELECT max(lead) FROM (
               SELECT COALESCE(np.ending_soon_lead_secs, 3600) AS lead
               FROM (SELECT user_id, false AS bid FROM watchlist WHERE auction_id = $1
                     UNION ALL
                     SELECT DISTINCT bidder_id, true FROM bids
                     WHERE auction_id = $1 AND bidder_id IS DISTINCT FROM $2) p
               JOIN users u ON u.id = p.user_id
               LEFT JOIN notice_preferences np ON np.user_id = p.user_id
               WHERE NOT EXISTS (SELECT 1 FROM ending_soon_alerts a
                                 WHERE a.auction_id = $1 AND a.user_id = p.user_id)
                 AND u.deleted_at IS NULL AND u.email_verified_at IS NOT NULL
                 AND $3::timestamptz
                     - make_interval(secs => COALESCE(np.ending_soon_lead_secs, 3600)) > $4
               GROUP BY p.user_id, np.ending_soon, np.watched_lots, np.ending_soon_lead_secs
               HAVING (bool_or(p.bid) AND COALESCE(np.ending_soon, true))
                   OR (bool_or(NOT p.bid) AND COALESCE(np.watched_lots, true))
           ) waiting"#,
        auction,
        leader,
        ends_at,
        now
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE ending_soon_schedules SET next_lead_secs = $2, checked_at = now()
         WHERE auction_id = $1",
        auction,
        lead
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(lead)
}
