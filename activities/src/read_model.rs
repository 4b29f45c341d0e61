//! The `publish_auction` activity: writes what the auction workflow published
//! into PostgreSQL in one transaction and wakes SSE listeners with `NOTIFY`.

use std::sync::Arc;

use gavel_workflows::{
    auction::publish::{Publication, PublishAuctionDefinition},
    names::EVENTS_CHANNEL,
};
use sqlx::{PgPool, Postgres, Transaction};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

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
    pub async fn apply(&self, publication: &Publication) -> sqlx::Result<()> {
        let mut tx = self.db.begin().await?;
        upsert_snapshot(&mut tx, publication).await?;
        insert_bids(&mut tx, publication).await?;
        if insert_events(&mut tx, publication).await? {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(EVENTS_CHANNEL)
                .bind(publication.snapshot.auction_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }
}

#[activities]
impl ReadModel {
    #[activity(definition = PublishAuctionDefinition)]
    pub async fn publish_auction(
        self: Arc<Self>,
        _ctx: ActivityContext,
        publication: Publication,
    ) -> Result<(), ActivityError> {
        // Any database error is worth retrying: the workflow's policy keeps
        // trying until PostgreSQL is back.
        self.apply(&publication)
            .await
            .map_err(anyhow::Error::from)?;
        Ok(())
    }
}

async fn upsert_snapshot(
    tx: &mut Transaction<'_, Postgres>,
    publication: &Publication,
) -> sqlx::Result<()> {
    let s = &publication.snapshot;
    let v = &s.view;
    let outcome = v.outcome.as_ref().map(sqlx::types::Json);
    sqlx::query(
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
    )
    .bind(s.auction_id)
    .bind(s.terms.seller_id)
    .bind(&s.listing.title)
    .bind(&s.listing.description)
    .bind(s.terms.currency.code())
    .bind(s.terms.starting_price)
    .bind(s.terms.reserve_price)
    .bind(s.terms.buy_now_price)
    .bind(s.terms.min_increment)
    .bind(i32::try_from(s.terms.anti_sniping.window_secs).unwrap_or(i32::MAX))
    .bind(i32::try_from(s.terms.anti_sniping.extension_secs).unwrap_or(i32::MAX))
    .bind(s.terms.hard_close_at)
    .bind(s.terms.starts_at)
    .bind(v.ends_at)
    .bind(v.status.as_str())
    .bind(v.current_price)
    .bind(v.reserve_met)
    .bind(v.leader_id)
    .bind(i64::try_from(v.bid_count).unwrap_or(i64::MAX))
    .bind(v.buy_now_available)
    .bind(outcome)
    .bind(i64::try_from(s.revision).unwrap_or(i64::MAX))
    .bind(s.terms.second_chance_offers)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_bids(
    tx: &mut Transaction<'_, Postgres>,
    publication: &Publication,
) -> sqlx::Result<()> {
    if publication.bids.is_empty() {
        return Ok(());
    }
    let mut rows = sqlx::QueryBuilder::<Postgres>::new(
        "INSERT INTO bids (id, auction_id, seq, bidder_id, amount, max_amount, price_after,
             standing, ends_at_after, extended, bought_now, reserve_met, idempotency_key,
             placed_at) ",
    );
    rows.push_values(&publication.bids, |mut row, record| {
        let standing = match record.standing {
            gavel_workflows::rules::Standing::Leading => "leading",
            gavel_workflows::rules::Standing::Outbid => "outbid",
        };
        row.push_bind(record.bid_id)
            .push_bind(publication.snapshot.auction_id)
            .push_bind(i64::try_from(record.bid.seq).unwrap_or(i64::MAX))
            .push_bind(record.bid.bidder_id)
            .push_bind(record.bid.amount)
            .push_bind(record.bid.max_amount)
            .push_bind(record.bid.price_after)
            .push_bind(standing)
            .push_bind(record.ends_at_after)
            .push_bind(record.extended)
            .push_bind(record.bought_now)
            .push_bind(record.reserve_met)
            .push_bind(&record.bid.idempotency_key)
            .push_bind(record.bid.at);
    });
    rows.push(" ON CONFLICT DO NOTHING");
    rows.build().execute(&mut **tx).await?;
    Ok(())
}

/// Inserts new events; returns whether there were any to announce.
async fn insert_events(
    tx: &mut Transaction<'_, Postgres>,
    publication: &Publication,
) -> sqlx::Result<bool> {
    if publication.events.is_empty() {
        return Ok(false);
    }
    let mut rows = sqlx::QueryBuilder::<Postgres>::new(
        "INSERT INTO auction_events (auction_id, seq, kind, data, at) ",
    );
    rows.push_values(&publication.events, |mut row, event| {
        row.push_bind(publication.snapshot.auction_id)
            .push_bind(i64::try_from(event.seq).unwrap_or(i64::MAX))
            .push_bind(event.data.kind())
            .push_bind(sqlx::types::Json(&event.data))
            .push_bind(event.at);
    });
    rows.push(" ON CONFLICT DO NOTHING");
    rows.build().execute(&mut **tx).await?;
    Ok(true)
}
