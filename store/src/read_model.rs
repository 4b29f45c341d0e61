//! Writes into the read model (`auctions`, `bids`, `auction_events`): what
//! the auction workflow published (the `publish_auction` activity) and the
//! API's write of a bid batch's answer, each at once (a transaction, or one
//! statement on the bid path) and waking SSE listeners with `NOTIFY`.

use chrono::{DateTime, Utc};
use gavel_workflows::{
    contract::read_model::{AuctionEvent, BidRecord, LiveDelta, Publication},
    names::EVENTS_CHANNEL,
};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::{Result, fits};

/// Read-model writes, sharing one pool.
pub struct ReadModel {
    db: PgPool,
}

impl ReadModel {
    pub fn new(db: PgPool) -> Self {
        Self { db }
    }

    /// Applies `publication`: snapshot by revision, bids by id, events by
    /// sequence number. Running it twice changes nothing the second time.
    pub async fn apply(&self, publication: &Publication) -> Result<()> {
        let auction_id = publication.snapshot.auction_id;
        let mut tx = self.db.begin().await?;
        upsert_snapshot(&mut tx, publication).await?;
        Rows::new(auction_id, &publication.bids, &publication.events)?
            .bind(sqlx::query(ROWS))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes what a batch of bids changed (the `place_bids` answer) the
    /// moment the API has it: the auction's live figures by revision, the
    /// bids and the events, and a `NOTIFY` if anything was new, in one
    /// statement (one round trip on the bid path). The workflow's own
    /// publication writes the same again later; both are idempotent.
    pub async fn apply_live(&self, auction_id: Uuid, delta: &LiveDelta) -> Result<()> {
        let v = &delta.view;
        Rows::new(auction_id, &delta.bids, &delta.events)?
            .bind(sqlx::query(LIVE))
            .bind(v.ends_at)
            .bind(v.status.as_str())
            .bind(v.current_price)
            .bind(v.reserve_met)
            .bind(v.leader_id)
            .bind(fits::<i64, _>(v.bid_count)?)
            .bind(v.buy_now_available)
            .bind(fits::<i64, _>(delta.revision)?)
            .bind(v.outcome.as_ref().map(sqlx::types::Json))
            .execute(&self.db)
            .await?;
        Ok(())
    }
}

/// The bids and events statement, as common table expressions: each kind
/// inserted from arrays (one statement text for any batch size), existing
/// rows left alone, and every API replica's live streams woken when an
/// event was new. Parameters `$1` to `$19`.
///
/// The auction's row is locked before any bid or event is inserted. The
/// API's write and the workflow's publication may carry the same rows; the
/// publication locks the auction first (its snapshot), so without this the
/// API's statement (which runs its unreferenced CTEs, the figures, last)
/// could hold an event the publication waits for while it waits for the
/// auction: a deadlock PostgreSQL breaks only after `deadlock_timeout` (1 s),
/// failing one write and stalling the lane. `count(*) >= 0` is always true;
/// it makes each insert take the lock first even when the auction has no
/// row yet.
macro_rules! rows_cte {
    () => {
        "locked AS (SELECT 1 FROM auctions WHERE id = $1 FOR UPDATE
         ), new_bids AS (
             INSERT INTO bids (id, auction_id, seq, bidder_id, amount, max_amount, price_after,
                 standing, ends_at_after, extended, bought_now, reserve_met, idempotency_key,
                 placed_at)
             SELECT id, $1, seq, bidder_id, amount, max_amount, price_after, standing,
                 ends_at_after, extended, bought_now, reserve_met, idempotency_key, placed_at
             FROM unnest($2::uuid[], $3::bigint[], $4::uuid[], $5::bigint[], $6::bigint[],
                 $7::bigint[], $8::text[], $9::timestamptz[], $10::bool[], $11::bool[],
                 $12::bool[], $13::text[], $14::timestamptz[])
                 AS b(id, seq, bidder_id, amount, max_amount, price_after, standing,
                      ends_at_after, extended, bought_now, reserve_met, idempotency_key,
                      placed_at)
             WHERE (SELECT count(*) FROM locked) >= 0
             ON CONFLICT DO NOTHING
             RETURNING 1
         ), new_events AS (
             INSERT INTO auction_events (auction_id, seq, kind, data, at)
             SELECT $1, seq, kind, data, at
             FROM unnest($15::bigint[], $16::text[], $17::jsonb[], $18::timestamptz[])
                 AS e(seq, kind, data, at)
             WHERE (SELECT count(*) FROM locked) >= 0
             ON CONFLICT DO NOTHING
             RETURNING 1
         )
         SELECT pg_notify($19, $1::text) WHERE EXISTS (SELECT 1 FROM new_events)"
    };
}

const ROWS: &str = concat!("WITH ", rows_cte!());

/// The rows plus the auction's live figures (`$20` to `$28`), newer
/// revisions only.
const LIVE: &str = concat!(
    "WITH figures AS (
         UPDATE auctions SET ends_at = $20, status = $21, current_price = $22,
             reserve_met = $23, leader_id = $24, bid_count = $25, buy_now_available = $26,
             revision = $27, outcome = $28, updated_at = now()
         WHERE id = $1 AND revision < $27
         RETURNING 1
     ), ",
    rows_cte!()
);

// The two statements above share their text through `rows_cte!`, which the
// compile-time checked `query!` cannot read through; every bid test runs both.
type Query<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Bids and events as the array columns the statements take.
#[derive(Default)]
struct Rows {
    auction_id: Uuid,
    bid_ids: Vec<Uuid>,
    bid_seqs: Vec<i64>,
    bidders: Vec<Uuid>,
    amounts: Vec<i64>,
    maxima: Vec<i64>,
    prices_after: Vec<i64>,
    standings: Vec<&'static str>,
    ends_after: Vec<DateTime<Utc>>,
    extended: Vec<bool>,
    bought_now: Vec<bool>,
    reserve_met: Vec<bool>,
    keys: Vec<String>,
    placed_at: Vec<DateTime<Utc>>,
    event_seqs: Vec<i64>,
    kinds: Vec<&'static str>,
    data: Vec<serde_json::Value>,
    event_at: Vec<DateTime<Utc>>,
}

impl Rows {
    fn new(auction_id: Uuid, bids: &[BidRecord], events: &[AuctionEvent]) -> Result<Self> {
        let mut rows = Rows {
            auction_id,
            ..Rows::default()
        };
        for record in bids {
            rows.bid_ids.push(record.bid_id);
            rows.bid_seqs.push(fits(record.bid.seq)?);
            rows.bidders.push(record.bid.bidder_id);
            rows.amounts.push(record.bid.amount);
            rows.maxima.push(record.bid.max_amount);
            rows.prices_after.push(record.bid.price_after);
            rows.standings.push(record.standing.as_str());
            rows.ends_after.push(record.ends_at_after);
            rows.extended.push(record.extended);
            rows.bought_now.push(record.bought_now);
            rows.reserve_met.push(record.reserve_met);
            rows.keys.push(record.bid.idempotency_key.clone());
            rows.placed_at.push(record.bid.at);
        }
        for event in events {
            rows.event_seqs.push(fits(event.seq)?);
            rows.kinds.push(event.data.kind());
            rows.data.push(
                serde_json::to_value(&event.data)
                    .map_err(|err| sqlx::Error::Encode(Box::new(err)))?,
            );
            rows.event_at.push(event.at);
        }
        Ok(rows)
    }

    fn bind(self, query: Query<'_>) -> Query<'_> {
        query
            .bind(self.auction_id)
            .bind(self.bid_ids)
            .bind(self.bid_seqs)
            .bind(self.bidders)
            .bind(self.amounts)
            .bind(self.maxima)
            .bind(self.prices_after)
            .bind(self.standings)
            .bind(self.ends_after)
            .bind(self.extended)
            .bind(self.bought_now)
            .bind(self.reserve_met)
            .bind(self.keys)
            .bind(self.placed_at)
            .bind(self.event_seqs)
            .bind(self.kinds)
            .bind(self.data)
            .bind(self.event_at)
            .bind(EVENTS_CHANNEL)
    }
}

async fn upsert_snapshot(
    tx: &mut Transaction<'_, Postgres>,
    publication: &Publication,
) -> Result<()> {
    let s = &publication.snapshot;
    let v = &s.view;
    let outcome = v.outcome.as_ref().map(sqlx::types::Json);
    let written = sqlx::query!(
        "INSERT INTO auctions (id, seller_id, title, description, currency, starting_price,
             reserve_price, buy_now_price, min_increment, anti_sniping_window_secs,
             anti_sniping_extension_secs, hard_close_at, starts_at, ends_at, status,
             current_price, reserve_met, leader_id, bid_count, buy_now_available, outcome,
             revision, second_chance_offers)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
             $18, $19, $20, $21, $22, $23)
         ON CONFLICT (id) DO UPDATE SET
             ends_at = EXCLUDED.ends_at, status = EXCLUDED.status,
             current_price = EXCLUDED.current_price, reserve_met = EXCLUDED.reserve_met,
             leader_id = EXCLUDED.leader_id, bid_count = EXCLUDED.bid_count,
             buy_now_available = EXCLUDED.buy_now_available, outcome = EXCLUDED.outcome,
             revision = EXCLUDED.revision, updated_at = now()
         WHERE auctions.revision < EXCLUDED.revision",
        s.auction_id,
        s.terms.seller_id,
        &s.listing.title,
        &s.listing.description,
        s.terms.currency.code(),
        s.terms.starting_price,
        s.terms.reserve_price,
        s.terms.buy_now_price,
        s.terms.min_increment,
        fits::<i32, _>(s.terms.anti_sniping.window_secs)?,
        fits::<i32, _>(s.terms.anti_sniping.extension_secs)?,
        s.terms.hard_close_at,
        s.terms.starts_at,
        v.ends_at,
        v.status.as_str(),
        v.current_price,
        v.reserve_met,
        v.leader_id,
        fits::<i64, _>(v.bid_count)?,
        v.buy_now_available,
        outcome as _,
        fits::<i64, _>(s.revision)?,
        s.terms.second_chance_offers,
    )
    .execute(&mut **tx)
    .await?;
    // Each revision lands once, so a final status is counted once however
    // often the publication is retried.
    if written.rows_affected() == 1 && v.status.is_final() {
        metrics::counter!("gavel_auctions_finished_total", "status" => v.status.as_str())
            .increment(1);
    }
    Ok(())
}
