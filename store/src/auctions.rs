//! The `auctions`, `bids` and `auction_events` tables (the read model): the
//! row of a new auction (the API, before its workflow starts) and the API's
//! reads (listing, detail, bid history, bid retries and SSE). What the
//! workflows and the bid path write into them is [`crate::read_model`].

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use gavel_workflows::{
    contract::view::{AuctionStatus, Listing, Outcome, SeenStatus},
    ids::{AuctionId, UserId},
    rules::{Standing, Terms},
};
use serde::Deserialize;
use serde_json::Value;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder, types::Json};
use uuid::Uuid;

use crate::{Result, fits};

/// An auction as the read model has it, with public handles joined in.
#[derive(Debug, Clone, FromRow)]
pub struct AuctionRow {
    pub id: Uuid,
    pub seller_id: Uuid,
    pub seller_handle: Option<String>,
    pub title: String,
    pub description: String,
    pub currency: String,
    pub starting_price: i64,
    pub reserve_price: Option<i64>,
    pub buy_now_price: Option<i64>,
    pub min_increment: Option<i64>,
    // Counts are checked as they are read: a value that does not fit is a
    // decode error naming the column, never a clamp.
    #[sqlx(try_from = "i32")]
    pub anti_sniping_window_secs: u32,
    #[sqlx(try_from = "i32")]
    pub anti_sniping_extension_secs: u32,
    pub hard_close_at: Option<DateTime<Utc>>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: AuctionStatus,
    pub current_price: Option<i64>,
    pub reserve_met: bool,
    pub leader_id: Option<Uuid>,
    pub leader_handle: Option<String>,
    #[sqlx(try_from = "i64")]
    pub bid_count: u64,
    pub buy_now_available: bool,
    pub outcome: Option<Json<Outcome>>,
    pub winner_handle: Option<String>,
    pub second_chance_offers: bool,
    pub create_fingerprint: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The commission fixed when the auction was listed (basis points).
    pub commission_bps: i32,
    /// Its minimum, minor units.
    pub commission_min: i64,
}

impl SeenStatus for AuctionRow {
    fn status_and_end(&self) -> (AuctionStatus, DateTime<Utc>) {
        (self.status, self.ends_at)
    }
}

/// The commission an auction is listed under: a share in basis points
/// (1000 = 10 %) and a minimum in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommissionColumns {
    pub bps: i32,
    pub min: i64,
}

const SELECT_AUCTIONS: &str = "SELECT a.*, s.handle AS seller_handle, l.handle AS leader_handle,
        w.handle AS winner_handle
    FROM auctions a
    LEFT JOIN users s ON s.id = a.seller_id
    LEFT JOIN users l ON l.id = a.leader_id
    LEFT JOIN users w ON w.id = (a.outcome->>'winner_id')::uuid";

// `find` and `list` share `SELECT_AUCTIONS`; `list` adds filters at run time,
// so both stay run-time queries over one column list (the API tests read
// every column through them).
pub async fn find(db: &PgPool, id: Uuid) -> Result<Option<AuctionRow>> {
    sqlx::query_as(&format!("{SELECT_AUCTIONS} WHERE a.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
        .map_err(Into::into)
}

/// Listing filters; `after` is the last row of the previous page.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub status: Option<AuctionStatus>,
    pub seller_id: Option<Uuid>,
    pub text: Option<String>,
    /// With [`Self::ending_first`], the last row's end rather than its creation.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
    /// Soonest end first (the pages' listing) instead of newest first.
    pub ending_first: bool,
    /// Only lots listed after the first time and up to the second (a saved
    /// search's digest: what is new since the last one).
    pub listed_within: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Newest first, keyset-paged on (created_at, id). Built at run time: which
/// filters apply depends on the request.
pub async fn list(db: &PgPool, filter: &ListFilter) -> Result<Vec<AuctionRow>> {
    list_query(SELECT_AUCTIONS, filter)
        .build_query_as()
        .fetch_all(db)
        .await
        .map_err(Into::into)
}

/// PostgreSQL's plan for [`list`] with `filter`, one line per row (so a test
/// can show the search uses its index).
pub async fn explain_list(db: &PgPool, filter: &ListFilter) -> Result<Vec<String>> {
    list_query(&format!("EXPLAIN {SELECT_AUCTIONS}"), filter)
        .build_query_scalar()
        .fetch_all(db)
        .await
        .map_err(Into::into)
}

fn list_query<'a>(select: &str, filter: &'a ListFilter) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::<Postgres>::new(select);
    query.push(" WHERE true");
    // As a reader is shown them (`AuctionStatus::as_seen_at`): an open lot
    // past its end is closed.
    match filter.status {
        Some(AuctionStatus::Open) => {
            query.push(" AND a.status = 'open' AND a.ends_at > now()");
        }
        Some(AuctionStatus::Closed) => {
            query.push(" AND (a.status = 'closed' OR (a.status = 'open' AND a.ends_at <= now()))");
        }
        Some(status) => {
            query.push(" AND a.status = ").push_bind(status);
        }
        None => {}
    }
    if let Some(seller) = filter.seller_id {
        query.push(" AND a.seller_id = ").push_bind(seller);
    }
    if let Some(text) = &filter.text {
        let pattern = format!(
            "%{}%",
            text.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        // The expression of the trigram index `auctions_search`.
        query
            .push(" AND (a.title || ' ' || a.description) ILIKE ")
            .push_bind(pattern);
    }
    if let Some((since, until)) = filter.listed_within {
        query
            .push(" AND a.created_at > ")
            .push_bind(since)
            .push(" AND a.created_at <= ")
            .push_bind(until);
    }
    let (after, order) = if filter.ending_first {
        (
            " AND (a.ends_at, a.id) > (",
            " ORDER BY a.ends_at, a.id LIMIT ",
        )
    } else {
        (
            " AND (a.created_at, a.id) < (",
            " ORDER BY a.created_at DESC, a.id DESC LIMIT ",
        )
    };
    if let Some((at, id)) = filter.after {
        query
            .push(after)
            .push_bind(at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    query.push(order).push_bind(filter.limit);
    query
}

/// One line of the public bid history.
#[derive(Debug, Clone)]
pub struct BidRow {
    pub id: Uuid,
    pub seq: i64,
    pub bidder_handle: Option<String>,
    pub amount: i64,
    pub price_after: i64,
    pub placed_at: DateTime<Utc>,
    /// `leading` when the bidder led right after this bid.
    pub standing: String,
}

/// Bids newest first, before sequence number `before` when given.
pub async fn bids(
    db: &PgPool,
    auction_id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<BidRow>> {
    sqlx::query_as!(
        BidRow,
        r#"SELECT b.id, b.seq, u.handle AS "bidder_handle?", b.amount, b.price_after, b.placed_at,
               b.standing
           FROM bids b LEFT JOIN users u ON u.id = b.bidder_id
           WHERE b.auction_id = $1 AND ($2::bigint IS NULL OR b.seq < $2)
           ORDER BY b.seq DESC LIMIT $3"#,
        auction_id,
        before,
        limit
    )
    .fetch_all(db)
    .await
    .map_err(Into::into)
}

/// An accepted bid with the verdict it got, for answering a retry; read as
/// the row's JSON (`to_jsonb`), so a number that does not fit is an error.
#[derive(Debug, Clone, Deserialize)]
pub struct StoredBid {
    pub id: Uuid,
    pub seq: u64,
    pub amount: i64,
    pub max_amount: i64,
    pub price_after: i64,
    pub standing: Standing,
    pub ends_at_after: DateTime<Utc>,
    pub extended: bool,
    pub bought_now: bool,
    pub reserve_met: bool,
}

/// What placing a bid needs to know before asking the workflow.
#[derive(Debug, Clone)]
pub struct BidLookup {
    pub status: AuctionStatus,
    /// The bid accepted before under this idempotency key, if any.
    pub stored: Option<StoredBid>,
    /// When the bidder's live strikes were given (not cleared, younger than
    /// the strike lifetime).
    pub strikes: Vec<DateTime<Utc>>,
}

/// The auction's status, the earlier bid under `idempotency_key` and the
/// bidder's strikes since `strikes_since`, in one query; `None` when there
/// is no such auction.
pub async fn bid_lookup(
    db: &PgPool,
    auction_id: Uuid,
    idempotency_key: &str,
    bidder_id: Uuid,
    strikes_since: DateTime<Utc>,
) -> Result<Option<BidLookup>> {
    let row = sqlx::query!(
        r#"SELECT a.status AS "status: AuctionStatus",
               (SELECT to_jsonb(b) FROM bids b
                WHERE b.auction_id = a.id AND b.idempotency_key = $2)
                   AS "stored: Json<StoredBid>",
               ARRAY(SELECT s.created_at FROM strikes s
                     WHERE s.user_id = $3 AND s.cleared_at IS NULL AND s.created_at > $4)
                   AS "strikes!"
           FROM auctions a WHERE a.id = $1"#,
        auction_id,
        idempotency_key,
        bidder_id,
        strikes_since
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| BidLookup {
        status: row.status,
        stored: row.stored.map(|b| b.0),
        strikes: row.strikes,
    }))
}

pub async fn bid_by_key(
    db: &PgPool,
    auction_id: Uuid,
    idempotency_key: &str,
) -> Result<Option<StoredBid>> {
    let stored = sqlx::query_scalar!(
        r#"SELECT to_jsonb(b) AS "bid!: Json<StoredBid>" FROM bids b
           WHERE b.auction_id = $1 AND b.idempotency_key = $2"#,
        auction_id,
        idempotency_key
    )
    .fetch_optional(db)
    .await?;
    Ok(stored.map(|bid| bid.0))
}

/// A stored live event with the handles its ids refer to.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub seq: i64,
    pub kind: String,
    pub data: Json<Value>,
    pub leader_handle: Option<String>,
    pub winner_handle: Option<String>,
}

/// Where a live feed of the auction starts: the last event before the
/// first one missing among the latest hundred (a batch whose write is late),
/// or the last event. Later ones are read, in order, once the gap fills.
pub async fn feed_start_seq(db: &PgPool, auction_id: Uuid) -> Result<i64> {
    let start = sqlx::query_scalar!(
        r#"WITH recent AS (
               SELECT seq FROM auction_events WHERE auction_id = $1
               ORDER BY seq DESC LIMIT 100)
           SELECT COALESCE(min(r.seq), 0) AS "start!" FROM recent r
           WHERE NOT EXISTS (SELECT 1 FROM recent n WHERE n.seq = r.seq + 1)"#,
        auction_id
    )
    .fetch_one(db)
    .await?;
    Ok(start)
}

/// Events after sequence number `after`, oldest first.
pub async fn events_after(
    db: &PgPool,
    auction_id: Uuid,
    after: i64,
    limit: i64,
) -> Result<Vec<EventRow>> {
    sqlx::query_as!(
        EventRow,
        r#"SELECT e.seq, e.kind, e.data AS "data: Json<Value>", l.handle AS "leader_handle?",
               w.handle AS "winner_handle?"
           FROM auction_events e
           LEFT JOIN users l ON l.id = (e.data->>'leader_id')::uuid
           LEFT JOIN users w ON w.id = (e.data->'outcome'->>'winner_id')::uuid
           WHERE e.auction_id = $1 AND e.seq > $2
           ORDER BY e.seq LIMIT $3"#,
        auction_id,
        after,
        limit
    )
    .fetch_all(db)
    .await
    .map_err(Into::into)
}

/// Writes the row of a new auction, before its workflow starts, with the
/// commission it is listed under (a later change of the settings never
/// changes it); `false` when the id exists already (a retried create, whose
/// first row and commission stay).
pub async fn create_auction(
    db: &PgPool,
    id: Uuid,
    listing: &Listing,
    terms: &Terms,
    status: AuctionStatus,
    fingerprint: &str,
    commission: CommissionColumns,
) -> Result<bool> {
    let inserted = sqlx::query!(
        "INSERT INTO auctions (id, seller_id, title, description, currency, starting_price,
             reserve_price, buy_now_price, min_increment, anti_sniping_window_secs,
             anti_sniping_extension_secs, hard_close_at, starts_at, ends_at, status,
             buy_now_available, create_fingerprint, second_chance_offers, reserve_met,
             commission_bps, commission_min)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
             $19, $20, $21)
         ON CONFLICT (id) DO NOTHING",
        id,
        terms.seller_id,
        &listing.title,
        &listing.description,
        terms.currency.code(),
        terms.starting_price,
        terms.reserve_price,
        terms.buy_now_price,
        terms.min_increment,
        fits::<i32, _>(terms.anti_sniping.window_secs)?,
        fits::<i32, _>(terms.anti_sniping.extension_secs)?,
        terms.hard_close_at,
        terms.starts_at,
        terms.ends_at,
        status.as_str(),
        terms.buy_now_price.is_some() && status == AuctionStatus::Open,
        fingerprint,
        terms.second_chance_offers,
        // Without a reserve there is nothing to meet: met from the start.
        terms.reserve_price.is_none(),
        commission.bps,
        commission.min,
    )
    .execute(db)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Removes the row of an auction whose workflow could not be started
/// (nothing else refers to it yet).
pub async fn delete_unstarted(db: &PgPool, id: Uuid) -> Result<()> {
    sqlx::query!("DELETE FROM auctions WHERE id = $1 AND revision = 0", id)
        .execute(db)
        .await?;
    Ok(())
}

/// Public handles of `ids`.
pub async fn handles(db: &PgPool, ids: &[Uuid]) -> Result<HashMap<Uuid, String>> {
    let rows = sqlx::query!("SELECT id, handle FROM users WHERE id = ANY($1)", ids)
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.handle)).collect())
}

/// One auction a bidder bid on, with their highest maximum there.
#[derive(Debug, Clone, FromRow)]
pub struct BidderLot {
    pub auction_id: Uuid,
    pub title: String,
    pub currency: String,
    pub status: AuctionStatus,
    /// The price now (the starting price before the first bid).
    pub price: i64,
    pub leader_id: Option<Uuid>,
    /// The winner named by the outcome, as its JSON text.
    pub winner_id: Option<String>,
    pub my_max: i64,
}

/// The 50 auctions `bidder` bid on most recently, latest bid first.
pub async fn lots_bid_on(db: &PgPool, bidder: UserId) -> Result<Vec<BidderLot>> {
    let bids = sqlx::query_as(
        "SELECT a.id AS auction_id, a.title, a.currency, a.status,
                COALESCE(a.current_price, a.starting_price) AS price, a.leader_id,
                a.outcome->>'winner_id' AS winner_id, max(b.max_amount) AS my_max
         FROM bids b JOIN auctions a ON a.id = b.auction_id
         WHERE b.bidder_id = $1
         GROUP BY a.id ORDER BY max(b.placed_at) DESC LIMIT 50",
    )
    .bind(bidder)
    .fetch_all(db)
    .await?;
    Ok(bids)
}

/// The title and currency of auction `id`.
pub async fn title_and_currency(db: &PgPool, id: AuctionId) -> Result<Option<(String, String)>> {
    let row = sqlx::query!("SELECT title, currency FROM auctions WHERE id = $1", id.0)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|row| (row.title, row.currency)))
}

/// Everyone who bid on auction `id` but `except`, by id.
pub async fn bidders(db: &PgPool, id: AuctionId, except: &[Uuid]) -> Result<Vec<Uuid>> {
    let bidders = sqlx::query_scalar!(
        "SELECT DISTINCT bidder_id FROM bids WHERE auction_id = $1 AND bidder_id <> ALL($2)
         ORDER BY bidder_id",
        id.0,
        except
    )
    .fetch_all(db)
    .await?;
    Ok(bidders)
}

/// How many of auctions `ids` are not settled yet (benchmarks wait for 0).
pub async fn unsettled_among(db: &PgPool, ids: &[Uuid]) -> Result<i64> {
    let left = sqlx::query_scalar!(
        r#"SELECT count(*) AS "left!" FROM auctions WHERE id = ANY($1) AND status <> 'settled'"#,
        ids
    )
    .fetch_one(db)
    .await?;
    Ok(left)
}

/// When each of auctions `ids` was due to end and when it closed, for those
/// that closed.
pub async fn ends_and_closes(
    db: &PgPool,
    ids: &[Uuid],
) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
    let rows = sqlx::query!(
        "SELECT a.ends_at, e.at FROM auctions a JOIN auction_events e ON e.auction_id = a.id
         WHERE a.id = ANY($1) AND e.kind = 'closed'",
        ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.ends_at, r.at)).collect())
}
