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
use gavel_workflows::contract::{
    alerts::AlertCheck,
    view::{AuctionStatus, SeenStatus},
};
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

impl SeenStatus for WatchedLot {
    fn status_and_end(&self) -> (AuctionStatus, DateTime<Utc>) {
        (self.status, self.ends_at)
    }
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

/// The running lots (scheduled or open) whose workflow must be told of
/// `user`'s alert: those `user` watches or bid on (at most [`WATCHLIST_MAX`]
/// of each), or only `only` among them. A lot is told when the alert would
/// go (`user`'s address is verified, they want its kind: `watched_lots` for
/// a watched lot, else `ending_soon`; not alerted yet) and falls before the
/// check the plan waits for (their lead is longer than the planned lead, or
/// the plan waits for nobody).
///
/// A lot without a plan gets its first one here (the longest lead anyone
/// may choose, which its workflow checks for anyway). A check writing a plan
/// is waited for, so a change is either seen by the check or sees its plan;
/// a first plan written by a check meanwhile is not seen, and that lot is
/// told (a signal too many, never one too few).
pub async fn alerts_to_bring_forward(
    db: &PgPool,
    user: Uuid,
    only: Option<Uuid>,
) -> Result<Vec<Uuid>> {
    let lots = sqlx::query_scalar!(
        r#"WITH person AS (
               SELECT u.email_verified_at IS NOT NULL AS verified,
                      COALESCE(np.ending_soon, true) AS ending_soon,
                      COALESCE(np.watched_lots, true) AS watched_lots,
                      COALESCE(np.ending_soon_lead_secs, 3600) AS lead
               FROM users u LEFT JOIN notice_preferences np ON np.user_id = u.id
               WHERE u.id = $1),
           lots AS (
               (SELECT w.auction_id AS id FROM watchlist w JOIN auctions a ON a.id = w.auction_id
                WHERE w.user_id = $1 AND a.status IN ('scheduled', 'open')
                  AND ($3::uuid IS NULL OR a.id = $3) LIMIT $2)
               UNION
               (SELECT DISTINCT b.auction_id FROM bids b JOIN auctions a ON a.id = b.auction_id
                WHERE b.bidder_id = $1 AND a.status IN ('scheduled', 'open')
                  AND ($3::uuid IS NULL OR a.id = $3) LIMIT $2)),
           wanted AS (
               SELECT l.id FROM lots l CROSS JOIN person p
               WHERE p.verified
                 AND CASE WHEN EXISTS (SELECT 1 FROM watchlist w
                                       WHERE w.user_id = $1 AND w.auction_id = l.id)
                          THEN p.watched_lots ELSE p.ending_soon END
                 AND NOT EXISTS (SELECT 1 FROM ending_soon_alerts a
                                 WHERE a.auction_id = l.id AND a.user_id = $1)),
           made AS (
               INSERT INTO ending_soon_schedules (auction_id) SELECT id FROM wanted
               ON CONFLICT DO NOTHING
               RETURNING auction_id, next_lead_secs)
           SELECT w.id AS "id!"
           FROM wanted w CROSS JOIN person p
           LEFT JOIN made m ON m.auction_id = w.id
           LEFT JOIN LATERAL (SELECT s.next_lead_secs FROM ending_soon_schedules s
                              WHERE s.auction_id = w.id FOR SHARE) s ON true
           WHERE COALESCE(m.next_lead_secs, s.next_lead_secs) IS NULL
              OR p.lead > COALESCE(m.next_lead_secs, s.next_lead_secs)
           ORDER BY w.id"#,
        user,
        WATCHLIST_MAX,
        only
    )
    .fetch_all(db)
    .await?;
    Ok(lots)
}

/// `sqlx::query!` over `waiting (user_id, as_bidder, lead)`: the people
/// whose ending-soon alert for auction `$1` (led by `$2` once its first `$3`
/// bids were decided) may still go, each with their lead and whether they
/// get it as a bidder not leading; `$tail` selects from it, its parameters
/// from `$4`. Bids past `$3` are left out: `$2` is the leader as the
/// workflow knew it when it asked, and a bid the API wrote since may have
/// made its bidder the leader. One literal for both the
/// alerts that are due and the plan for the rest, as `query!` needs.
macro_rules! query_waiting {
    ($tail:literal, $($arg:expr),+ $(,)?) => {
        sqlx::query!(
            "WITH waiting AS (
                 SELECT p.user_id,
                        bool_or(p.bid) AND COALESCE(np.ending_soon, true) AS as_bidder,
                        COALESCE(np.ending_soon_lead_secs, 3600) AS lead
                 FROM (SELECT user_id, false AS bid FROM watchlist WHERE auction_id = $1
                       UNION ALL
                       SELECT DISTINCT bidder_id, true FROM bids
                       WHERE auction_id = $1 AND bidder_id IS DISTINCT FROM $2
                         AND seq <= $3) p
                 JOIN users u ON u.id = p.user_id
                 LEFT JOIN notice_preferences np ON np.user_id = p.user_id
                 WHERE NOT EXISTS (SELECT 1 FROM ending_soon_alerts a
                                   WHERE a.auction_id = $1 AND a.user_id = p.user_id)
                   AND u.deleted_at IS NULL AND u.email_verified_at IS NOT NULL
                 GROUP BY p.user_id, np.ending_soon, np.watched_lots, np.ending_soon_lead_secs
                 HAVING (bool_or(p.bid) AND COALESCE(np.ending_soon, true))
                     OR (bool_or(NOT p.bid) AND COALESCE(np.watched_lots, true)))
             " + $tail,
            $($arg),+
        )
    };
}

/// Whether the read model holds every bid `check` counts: the API writes a
/// batch's bids after the workflow answered it, and an operator's signal
/// bid arrives with the workflow's publication, so a check can run before
/// the bids its leader accounts for are rows. Checks from runs before
/// `bids_seen` was carried are taken as caught up.
pub async fn bids_written(db: &PgPool, check: &AlertCheck) -> Result<bool> {
    let seen = bids_seen(check);
    if check.bids_seen.is_none_or(|counted| counted == 0) {
        return Ok(true);
    }
    // Every one of them, not only the last: replicas write their batches
    // independently, and a failed write is left to the workflow's backstop.
    let written = sqlx::query_scalar!(
        r#"SELECT count(*) AS "written!" FROM bids WHERE auction_id = $1 AND seq <= $2"#,
        check.auction_id,
        seen
    )
    .fetch_one(db)
    .await?;
    Ok(written >= seen)
}

/// How many of the auction's bids the check's leader accounts for (all of
/// them for a check from a run before `bids_seen` was carried).
fn bids_seen(check: &AlertCheck) -> i64 {
    check
        .bids_seen
        .map_or(i64::MAX, |seen| i64::try_from(seen).unwrap_or(i64::MAX))
}

/// One alert that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueAlert {
    pub user_id: Uuid,
    /// What the person gets it as: a bidder not leading (`EndingSoon`) or a
    /// watcher (`WatchedLots`).
    pub reason: NoticeKind,
}

/// The alerts due at the workflow's `check`, not yet sent, at most
/// `limit`, in a stable order.
pub async fn due(db: &PgPool, check: &AlertCheck, limit: i64) -> Result<Vec<DueAlert>> {
    let rows = query_waiting!(
        r#"SELECT user_id AS "user_id!", as_bidder AS "as_bidder!" FROM waiting
           WHERE $4::timestamptz - make_interval(secs => lead) <= $5
           ORDER BY user_id
           LIMIT $6"#,
        check.auction_id,
        check.leader,
        bids_seen(check),
        check.ends_at,
        check.now,
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
pub async fn plan_next(db: &PgPool, check: &AlertCheck) -> Result<Option<i32>> {
    let auction = check.auction_id;
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
    let lead = query_waiting!(
        "SELECT max(lead) AS lead FROM waiting
         WHERE $4::timestamptz - make_interval(secs => lead) > $5",
        auction,
        check.leader,
        bids_seen(check),
        check.ends_at,
        check.now
    )
    .fetch_one(&mut *tx)
    .await?
    .lead;
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
