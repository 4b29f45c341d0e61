//! What happens when a part fails: Temporal down while bidding, and a read
//! model that lost writes.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{
    auction_body, eventually, expect_error, http_args, settlement_args, spawn_app, spawn_app_on,
    start_temporal,
};

#[tokio::test]
async fn with_temporal_down_a_bid_is_retried_briefly_then_refused_with_503() {
    let temporal = start_temporal();
    let app = spawn_app_on(temporal.address, http_args(), settlement_args()).await;
    let (_seller, [ada], auction) = app.scene(&auction_body(60)).await;
    let id = &auction.id.to_string();
    app.bid_ok(&ada, id, 1_000, None).await;
    // Let the bid reach the read model before the lights go out.
    eventually(15, || async {
        match app.count("SELECT count(*) FROM bids").await {
            1 => Ok(()),
            _ => Err("the bid never reached the read model".to_owned()),
        }
    })
    .await;

    temporal.stop(Duration::from_secs(5));
    let started = Instant::now();
    let response = app.bid(&ada, id, 2_000, None, Some("while-down")).await;
    let waited = started.elapsed();
    assert_eq!(response.headers()["retry-after"], "2");
    expect_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    assert!(
        waited >= Duration::from_secs(2),
        "retried for {waited:?} first"
    );
    assert!(waited < Duration::from_secs(15), "then gave up: {waited:?}");

    // The detail still answers, from the read model.
    let detail = app.auction(id).await;
    assert!(!detail.live);
    assert_eq!(detail.bid_count, 1);
    let (bids,): (i64,) = sqlx::query_as("SELECT count(*) FROM bids")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(bids, 1, "nothing half-done");
}

#[tokio::test]
async fn the_close_rebuilds_a_read_model_that_lost_writes() {
    let app = spawn_app().await;
    let (_seller, [ada, bola], auction) = app.scene(&auction_body(5)).await;
    let id = &auction.id.to_string();
    app.bid_ok(&ada, id, 1_000, None).await;
    app.bid_ok(&bola, id, 1_200, None).await;
    app.bid_ok(&ada, id, 1_400, None).await;

    // As if a database restore lost the last writes (once they were there).
    let stored = format!("SELECT count(*) FROM bids WHERE auction_id = '{id}'");
    eventually(10, || async {
        match app.count(&stored).await {
            3 => Ok(()),
            n => Err(format!("{n} of 3 bids in the read model")),
        }
    })
    .await;
    sqlx::query("DELETE FROM bids WHERE auction_id = $1::uuid AND seq > 1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE auctions SET bid_count = 1, current_price = 1000, leader_id = NULL
         WHERE id = $1::uuid",
    )
    .bind(id)
    .execute(&app.db)
    .await
    .unwrap();

    let closed = app.wait_for_status(id, "awaiting_payment", 15).await;
    assert_eq!(closed.bid_count, 3);
    assert_eq!(closed.current_price, Some(1_400));
    assert_eq!(closed.leader.as_deref(), Some(ada.handle.as_str()));
    let (bids,): (i64,) = sqlx::query_as("SELECT count(*) FROM bids WHERE auction_id = $1::uuid")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(bids, 3);
}
