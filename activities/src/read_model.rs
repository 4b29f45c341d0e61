//! The auction read model's writer: the `publish_auction` activity (what the
//! auction workflow published) and the API's write of a bid batch's answer,
//! each in one transaction that wakes SSE listeners with `NOTIFY`.

use std::sync::Arc;

use gavel_workflows::{
    auction::publish::{AuctionEvent, BidRecord, LiveDelta, Publication, PublishAuctionDefinition},
    names::EVENTS_CHANNEL,
};
use sqlx::{PgPool, Postgres, Transaction};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use uuid::Uuid;

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
        let auction_id = publication.snapshot.auction_id;
        let mut tx = self.db.begin().await?;
        upsert_snapshot(&mut tx, publication).await?;
        insert_bids(&mut tx, auction_id, &publication.bids).await?;
        let announced = insert_events(&mut tx, auction_id, &publication.events).await?;
        notify_if(&mut tx, auction_id, announced).await?;
        tx.commit().await
    }

    /// Writes what a batch of bids changed (the `place_bids` answer) the
    /// moment the API has it: the auction's live figures by revision, the
    /// bids and the events, and a `NOTIFY` if anything was new. The
    /// workflow's own publication writes the same again later; both are
    /// idempotent.
    pub async fn apply_live(&self, auction_id: Uuid, delta: &LiveDelta) -> sqlx::Result<()> {
        let v = &delta.view;
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "UPDATE auctions SET ends_at = $2, status = $3, current_price = $4, reserve_met = $5,
                 leader_id = $6, bid_count = $7, buy_now_available = $8, revision = $9,
                 outcome = $10, updated_at = now()
             WHERE id = $1 AND revision < $9",
        )
        .bind(auction_id)
        .bind(v.ends_at)
        .bind(v.status.as_str())
        .bind(v.current_price)
        .bind(v.reserve_met)
        .bind(v.leader_id)
        .bind(i64::try_from(v.bid_count).unwrap_or(i64::MAX))
        .bind(v.buy_now_available)
        .bind(i64::try_from(delta.revision).unwrap_or(i64::MAX))
        .bind(v.outcome.as_ref().map(sqlx::types::Json))
        .execute(&mut *tx)
        .await?;
        insert_bids(&mut tx, auction_id, &delta.bids).await?;
        let announced = insert_events(&mut tx, auction_id, &delta.events).await?;
        notify_if(&mut tx, auction_id, announced).await?;
        tx.commit().await
    }
}

/// Wakes every API replica's live streams when events were added.
async fn notify_if(
    tx: &mut Transaction<'_, Postgres>,
    auction_id: Uuid,
    announced: bool,
) -> sqlx::Result<()> {
    if announced {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(EVENTS_CHANNEL)
            .bind(auction_id.to_string())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
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
    auction_id: Uuid,
    bids: &[BidRecord],
) -> sqlx::Result<()> {
    if bids.is_empty() {
        return Ok(());
    }
    let mut rows = sqlx::QueryBuilder::<Postgres>::new(
        "INSERT INTO bids (id, auction_id, seq, bidder_id, amount, max_amount, price_after,
             standing, ends_at_after, extended, bought_now, reserve_met, idempotency_key,
             placed_at) ",
    );
    rows.push_values(bids, |mut row, record| {
        let standing = match record.standing {
            gavel_workflows::rules::Standing::Leading => "leading",
            gavel_workflows::rules::Standing::Outbid => "outbid",
        };
        row.push_bind(record.bid_id)
            .push_bind(auction_id)
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

/// Inserts new events; returns whether any was new (to announce).
async fn insert_events(
    tx: &mut Transaction<'_, Postgres>,
    auction_id: Uuid,
    events: &[AuctionEvent],
) -> sqlx::Result<bool> {
    if events.is_empty() {
        return Ok(false);
    }
    let mut rows = sqlx::QueryBuilder::<Postgres>::new(
        "INSERT INTO auction_events (auction_id, seq, kind, data, at) ",
    );
    rows.push_values(events, |mut row, event| {
        row.push_bind(auction_id)
            .push_bind(i64::try_from(event.seq).unwrap_or(i64::MAX))
            .push_bind(event.data.kind())
            .push_bind(sqlx::types::Json(&event.data))
            .push_bind(event.at);
    });
    rows.push(" ON CONFLICT DO NOTHING");
    let inserted = rows.build().execute(&mut **tx).await?.rows_affected();
    Ok(inserted > 0)
}
