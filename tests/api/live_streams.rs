//! The live event stream (SSE): every accepted bid in order, resuming after
//! a reconnect, the extension and the close, and a stream's end at the
//! final event or at shutdown.

use std::time::Duration;

use gavel_api::auctions::view::AuctionPage;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    EventStream, auction_body, expect_error, expect_json, expect_status, spawn_app,
};

#[tokio::test]
async fn an_sse_client_sees_every_accepted_bid_in_order_and_resumes_after_a_reconnect() {
    let app = spawn_app().await;
    let (_seller, [ada, bola], auction) = app.scene(&auction_body(60)).await;
    let id = &auction.id.to_string();

    let mut stream = EventStream::open(&app, id, None).await;
    let mut amounts = Vec::new();
    let mut seen = Vec::new();
    let mut last_id = 0;
    for i in 0..6 {
        let bidder = if i % 2 == 0 { &ada } else { &bola };
        let amount = 1_000 + 200 * i;
        app.bid_ok(bidder, id, amount, None).await;
        let accepted = std::time::Instant::now();
        amounts.push(amount);
        // The stream re-reads only every minute here: a bid shows up this
        // fast only through PostgreSQL's NOTIFY.
        while seen.len() < amounts.len() {
            let event = stream.next().await;
            assert!(
                event.id > last_id,
                "ids increase: {} after {last_id}",
                event.id
            );
            last_id = event.id;
            if event.kind == "bid" {
                seen.push(event.data["amount"].as_i64().unwrap());
                assert!(event.data.get("leader_id").is_none(), "handles, not ids");
                assert!(event.data["leader"].is_string());
            }
        }
        let delay = accepted.elapsed();
        assert!(
            delay < Duration::from_secs(2),
            "bid {i} reached the stream {delay:?} after it was accepted"
        );
    }
    assert_eq!(seen, amounts);
    drop(stream);

    // Missed while away: two more bids, then a reconnect from event 2.
    app.bid_ok(&ada, id, 3_000, None).await;
    app.bid_ok(&bola, id, 3_200, None).await;
    let mut resumed = EventStream::open(&app, id, Some(2)).await;
    let mut replayed = Vec::new();
    let mut expected_id = 3;
    while replayed.len() < 6 {
        let event = resumed.next().await;
        assert_eq!(event.id, expected_id, "gap-free from Last-Event-ID");
        expected_id += 1;
        replayed.push(event.data["amount"].as_i64().unwrap());
    }
    assert_eq!(replayed, [1_400, 1_600, 1_800, 2_000, 3_000, 3_200]);

    let path = format!("/api/v1/auctions/{id}/events");
    let response = app
        .request(reqwest::Method::GET, &path, None)
        .header("Last-Event-ID", "soon")
        .send()
        .await
        .unwrap();
    expect_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_last_event_id",
    )
    .await;
    let response = app
        .get(
            &format!("/api/v1/auctions/{}/events", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    expect_error(response, StatusCode::NOT_FOUND, "auction_not_found").await;
}

#[tokio::test]
async fn the_stream_announces_extension_and_close() {
    let app = spawn_app().await;
    let (_seller, [ada], auction) = app.scene(&auction_body(2)).await;
    let id = &auction.id.to_string();
    let mut stream = EventStream::open(&app, id, None).await;
    let verdict = app.bid_ok(&ada, id, 1_000, None).await;
    assert!(verdict.extended, "inside the 2 s window from the start");
    assert_eq!(stream.next().await.kind, "bid");
    assert_eq!(stream.next().await.kind, "extended");
    let closed = stream.next().await;
    assert_eq!(closed.kind, "closed");
    assert_eq!(closed.data["status"], "closed");
    assert_eq!(closed.data["outcome"]["winner"], ada.handle.as_str());
    let settling = stream.next().await;
    assert_eq!(settling.kind, "awaiting_payment");
    assert_eq!(settling.data["round"], 1);
}

#[tokio::test]
async fn a_new_auction_is_live_and_its_stream_ends_after_the_final_event() {
    let app = spawn_app().await;
    let (seller, [], auction) = app.scene(&auction_body(60)).await;
    assert!(auction.live, "the workflow is running from the start");
    assert_eq!(auction.status, "open");
    assert!(
        auction.reserve_met,
        "without a reserve there is nothing to meet"
    );
    let id = &auction.id.to_string();
    assert!(app.auction(id).await.reserve_met);
    let listed: AuctionPage =
        expect_json(app.get("/api/v1/auctions", None).await, StatusCode::OK).await;
    assert!(listed.items[0].reserve_met);

    let mut stream = EventStream::open(&app, id, None).await;
    let cancel = app
        .post_json(
            &format!("/api/v1/auctions/{id}/cancel"),
            &json!({ "reason": "withdrawn" }),
            Some(&seller.token),
        )
        .await;
    expect_status(cancel, StatusCode::OK).await;
    let mut kinds = Vec::new();
    while let Some(event) = stream.try_next().await {
        kinds.push(event.kind);
    }
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("cancelled"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn an_open_stream_ends_when_the_server_shuts_down_instead_of_holding_it_up() {
    let app = spawn_app().await;
    let (_seller, [], auction) = app.scene(&auction_body(60)).await;
    // Open once the server has answered its headers.
    let mut stream = EventStream::open(&app, &auction.id.to_string(), None).await;
    let started = std::time::Instant::now();
    // Well under the server's 20 s grace: only a stream that ends lets the
    // drain finish this soon.
    tokio::time::timeout(Duration::from_secs(5), app.shut_down_api())
        .await
        .expect("the server stops while a live stream is open");
    assert!(
        stream.try_next().await.is_none(),
        "the stream ended (its client resumes elsewhere)"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
