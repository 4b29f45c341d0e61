//! The API's reads of the auction read model: listing, detail, bid history,
//! bid retries and SSE. Its writes live in `gavel_activities::read_model`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use gavel_workflows::{
    auction::{AuctionStatus, Outcome},
    rules::Standing,
};
use serde::Deserialize;
use serde_json::Value;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder, types::Json};
use uuid::Uuid;

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
pub async fn find(db: &PgPool, id: Uuid) -> sqlx::Result<Option<AuctionRow>> {
    sqlx::query_as(&format!("{SELECT_AUCTIONS} WHERE a.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
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
}

/// Newest first, keyset-paged on (created_at, id). Built at run time: which
/// filters apply depends on the request.
pub async fn list(db: &PgPool, filter: &ListFilter) -> sqlx::Result<Vec<AuctionRow>> {
    list_query(SELECT_AUCTIONS, filter)
        .build_query_as()
        .fetch_all(db)
        .await
}

/// PostgreSQL's plan for [`list`] with `filter`, one line per row (so a test
/// can show the search uses its index).
pub async fn explain_list(db: &PgPool, filter: &ListFilter) -> sqlx::Result<Vec<String>> {
    list_query(&format!("EXPLAIN {SELECT_AUCTIONS}"), filter)
        .build_query_scalar()
        .fetch_all(db)
        .await
}

fn list_query<'a>(select: &str, filter: &'a ListFilter) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::<Postgres>::new(select);
    query.push(" WHERE true");
    if let Some(status) = filter.status {
        query.push(" AND a.status = ").push_bind(status);
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
) -> sqlx::Result<Vec<BidRow>> {
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
) -> sqlx::Result<Option<BidLookup>> {
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
) -> sqlx::Result<Option<StoredBid>> {
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

/// The sequence number of the auction's latest event (0 before any).
pub async fn last_event_seq(db: &PgPool, auction_id: Uuid) -> sqlx::Result<i64> {
    let last = sqlx::query_scalar!(
        r#"SELECT COALESCE(max(seq), 0) AS "last!" FROM auction_events WHERE auction_id = $1"#,
        auction_id
    )
    .fetch_one(db)
    .await?;
    Ok(last)
}

/// Events after sequence number `after`, oldest first.
pub async fn events_after(
    db: &PgPool,
    auction_id: Uuid,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<EventRow>> {
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
}

/// Public handles of `ids`.
pub async fn handles(db: &PgPool, ids: &[Uuid]) -> sqlx::Result<HashMap<Uuid, String>> {
    let rows = sqlx::query!("SELECT id, handle FROM users WHERE id = ANY($1)", ids)
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.handle)).collect())
}

/// One auction a bidder bid on, with their highest maximum there.
#[derive(Debug, sqlx::FromRow)]
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

/// The auctions `bidder_id` bid on, the most recently bid on first (50 at most).
pub async fn lots_bid_on(db: &PgPool, bidder_id: Uuid) -> sqlx::Result<Vec<BidderLot>> {
    sqlx::query_as(
        "SELECT a.id AS auction_id, a.title, a.currency, a.status,
                COALESCE(a.current_price, a.starting_price) AS price, a.leader_id,
                a.outcome->>'winner_id' AS winner_id, max(b.max_amount) AS my_max
         FROM bids b JOIN auctions a ON a.id = b.auction_id
         WHERE b.bidder_id = $1
         GROUP BY a.id ORDER BY max(b.placed_at) DESC LIMIT 50",
    )
    .bind(bidder_id)
    .fetch_all(db)
    .await
}
