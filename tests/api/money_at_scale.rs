//! Settlement at scale: an auction with thousands of bidders closes, tells
//! every loser and keeps its settling run's history small.

use serde_json::json;
use uuid::Uuid;

use crate::{
    helpers::{auction_body, eventually},
    money::mount_checkouts,
    stand_ins::*,
};

#[tokio::test]
async fn an_auction_with_2500_bidders_settles() {
    use gavel_workflows::{auction::AuctionWorkflow, lenient::Lenient, rules::BidRequest};
    const BIDDERS: usize = 2_500;
    let s = scene().await;
    mount_checkouts(&s.paystack, 2).await;
    // Free accounts, one bid each: the cheap attack on a settlement that
    // would schedule an activity per bidder.
    let bidders: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO users (id, email, name, handle, password_hash, role)
         SELECT gen_random_uuid(), 'crowd-' || g || '@example.com', 'Crowd ' || g, 'crowd-' || g,
                'not-a-hash', 'bidder'
         FROM generate_series(1, $1) g RETURNING id",
    )
    .bind(i32::try_from(BIDDERS).unwrap())
    .fetch_all(&s.app.db)
    .await
    .unwrap();
    // Long enough for 2,500 signals sent one after another on a loaded
    // machine (about 15 s alone; over 40 s beside the fuzzing and the photo
    // flood of a full run): a bid after the close would be refused.
    let mut body = auction_body(120);
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let created = s.app.create_auction(&s.seller, &body).await;
    let id = created.id.to_string();
    let handle = s.app.auction_handle(&id);
    let started = std::time::Instant::now();
    for (i, bidder) in bidders.iter().enumerate() {
        let bid = BidRequest {
            bidder_id: *bidder,
            amount: 1_000 + 10_000 * i64::try_from(i).unwrap(),
            max_amount: None,
            currency: None,
            idempotency_key: format!("crowd-{i}"),
        };
        handle
            .signal(AuctionWorkflow::bid, Lenient::new(bid), Default::default())
            .await
            .unwrap();
    }
    eventually(60, || async {
        // A run busy with a thousand buffered signals answers late: ask again.
        let query = handle.query(AuctionWorkflow::state, (), Default::default());
        let view = tokio::time::timeout(std::time::Duration::from_secs(3), query)
            .await
            .map_err(|_| "the query timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        if view.bid_count == u64::try_from(BIDDERS).unwrap() {
            Ok(())
        } else {
            Err(format!("{} bids so far", view.bid_count))
        }
    })
    .await;
    eprintln!("{BIDDERS} signal bids in {:?}", started.elapsed());

    // The auction closes at its `ends_at` (however long the signals took),
    // then settles: wait for what is left of it and a margin, no longer.
    let left = (created.ends_at - chrono::Utc::now()).num_seconds().max(0);
    let margin = 60;
    s.app
        .wait_for_status(&id, "awaiting_payment", (left + margin).unsigned_abs())
        .await;
    eventually(120, || async {
        let lost = s.app.count(&format!("SELECT count(DISTINCT recipient_id) FROM emails WHERE auction_id = '{id}' AND kind = 'auction_lost'")).await;
        if lost == i64::try_from(BIDDERS - 1).unwrap() { Ok(()) } else { Err(format!("{lost} told they lost")) }
    })
    .await;
    let winner = bidders[BIDDERS - 1];
    let (won_to,): (Uuid,) = sqlx::query_as("SELECT recipient_id FROM emails WHERE kind = 'won'")
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    assert_eq!(won_to, winner);
    // The settlement's history stays small: one activity for every loser.
    let events = handle
        .fetch_history(Default::default())
        .into_events()
        .await
        .unwrap();
    let scheduled = events
        .iter()
        .filter(|e| matches!(e.attributes, Some(temporalio_common::protos::temporal::api::history::v1::history_event::Attributes::ActivityTaskScheduledEventAttributes(_))))
        .count();
    assert!(scheduled < 40, "{scheduled} activities in the settling run");
}
