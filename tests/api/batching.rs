//! Group commit: concurrent bids on one auction travel together in
//! `place_bids` updates, applied in arrival order, each keeping its own
//! idempotency key; bidders who bid again at once stay in one batch;
//! hopeless bids are refused without Temporal.

use std::collections::HashMap;

use futures::future::join_all;
use gavel_workflows::rules::{BidRequest, Book, Phase, Standing, Terms};
use reqwest::StatusCode;
use serde_json::json;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;

use gavel_api::auctions::view::BidResponse;

use crate::helpers::{
    BidAnswer, TestApp, TestUser, auction_body, expect_error, expect_json, http_args, spawn_app,
    spawn_app_with,
};

#[tokio::test]
async fn concurrent_bids_share_updates_and_every_verdict_is_the_rules_in_arrival_order() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let mut bidders: Vec<TestUser> = Vec::new();
    for _ in 0..32 {
        bidders.push(app.user("bidder").await);
    }
    let mut body = auction_body(30);
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let auction = app.create_auction(&seller, &body).await;
    let id = &auction.id.to_string();

    // Three waves of 32 bids at once, each bidder a maximum above their bid.
    let mut answers: Vec<(usize, String, StatusCode, BidAnswer)> = Vec::new();
    for wave in 0..3_i64 {
        let bids = bidders.iter().enumerate().map(|(i, bidder)| {
            let amount = 1_000 + 5_000 * wave + 40 * i64::try_from(i).unwrap();
            let key = format!("w{wave}-b{i}");
            let app = &app;
            let id = &id;
            async move {
                let response = app
                    .bid(bidder, id, amount, Some(amount + 1_500), Some(&key))
                    .await;
                let status = response.status();
                (i, key, status, response.json::<BidAnswer>().await.unwrap())
            }
        });
        answers.extend(join_all(bids).await);
    }
    let accepted: Vec<&(usize, String, StatusCode, BidAnswer)> = answers
        .iter()
        .filter(|(_, _, status, _)| *status == StatusCode::CREATED)
        .collect();
    for (_, _, status, body) in &answers {
        assert!(
            *status == StatusCode::CREATED
                || (*status == StatusCode::CONFLICT
                    && matches!(body.refusal(), Some("bid_too_low" | "max_not_raised"))),
            "no 5xx, no surprise: {status} {body:?}"
        );
    }
    assert!(accepted.len() >= 3, "{} accepted", accepted.len());

    // The accepted bids, replayed through the rules in their sequence order,
    // give every verdict the bidders got.
    let rows: Vec<(
        uuid::Uuid,
        i64,
        i64,
        chrono::DateTime<chrono::Utc>,
        String,
        i64,
    )> = sqlx::query_as(
        "SELECT bidder_id, amount, max_amount, placed_at, idempotency_key, seq FROM bids
             WHERE auction_id = $1::uuid ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        rows.len(),
        accepted.len(),
        "every accepted bid is on record, once"
    );
    let terms = Terms {
        seller_id: seller.id.parse().unwrap(),
        currency: gavel_workflows::rules::Currency::Ngn,
        starting_price: 1_000,
        reserve_price: None,
        buy_now_price: None,
        min_increment: None,
        starts_at: chrono::Utc::now() - chrono::Duration::hours(1),
        ends_at: chrono::DateTime::<chrono::Utc>::MAX_UTC,
        anti_sniping: Default::default(),
        hard_close_at: None,
        second_chance_offers: true,
    };
    let mut book = Book::new(terms);
    book.phase = Phase::Open;
    let mut verdicts = HashMap::new();
    for (bidder_id, amount, max, at, key, seq) in &rows {
        let (verdict, _) = book
            .place(
                &BidRequest {
                    bidder_id: *bidder_id,
                    amount: *amount,
                    max_amount: Some(*max),
                    currency: None,
                    idempotency_key: key.clone(),
                },
                *at,
            )
            .unwrap();
        assert_eq!(verdict.seq, u64::try_from(*seq).unwrap());
        verdicts.insert(key.rsplit(':').next().unwrap().to_owned(), verdict);
    }
    for (_, key, _, body) in &accepted {
        let verdict = &verdicts[key.as_str()];
        let BidAnswer::Accepted(body) = body else {
            panic!("{key}: {body:?}");
        };
        assert_eq!(body.seq, verdict.seq, "{key}");
        assert_eq!(body.current_price, verdict.current_price, "{key}");
        assert_eq!(body.status, verdict.standing, "{key}");
    }

    // Fewer updates than bids decided: they went in batches.
    let updates = accepted_updates(&app, id).await;
    assert!(
        updates < answers.len() / 2,
        "{updates} updates for {} bids",
        answers.len()
    );

    // A retry of an accepted bid, in a later batch with others, gets its
    // first verdict.
    let (i, key, _, BidAnswer::Accepted(first)) = accepted[0] else {
        panic!("accepted bids have verdicts");
    };
    let retries = (0..4).map(|_| {
        app.bid(
            &bidders[*i],
            id,
            first.amount,
            Some(first.max_amount),
            Some(key),
        )
    });
    for response in join_all(retries).await {
        let again: BidResponse = expect_json(response, StatusCode::CREATED).await;
        assert_eq!(&again, first);
    }
    // The same key with another amount is not the same bid.
    let other = app
        .bid(&bidders[*i], id, first.amount + 1, None, Some(key))
        .await;
    let error = expect_error(other, StatusCode::CONFLICT, "idempotency_key_reused").await;
    assert_eq!(error.error.details.unwrap()["amount"], first.amount);
}

/// Bidders who bid again the moment they hear back, on a contended lot, go
/// in one batch per round: the next batch waits (`GAVEL_BID_GATHER_MS`) for
/// the last one's bidders. Sent at once, they can split into two batches
/// that take turns.
#[tokio::test]
async fn bidders_who_bid_again_at_once_travel_in_one_batch() {
    let mut http = http_args();
    // Long enough that a loaded machine cannot split them; the wait ends as
    // soon as they have all bid again.
    http.limits.bid_gather_ms = 1_000;
    let app = spawn_app_with(http).await;
    let seller = app.user("seller").await;
    let mut bidders: Vec<TestUser> = Vec::new();
    for _ in 0..6 {
        bidders.push(app.user("bidder").await);
    }
    let mut body = auction_body(30);
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let auction = app.create_auction(&seller, &body).await;
    let id = &auction.id.to_string();

    const ROUNDS: usize = 8;
    // Each bidder bids, waits for the answer, and bids again at once. Half
    // of them start a moment later, while the first half's batch is on its
    // way: two cohorts. Every bid is a step up a ladder taken as it is sent
    // (steps above the increment), so each batch raises the price and is an
    // accepted update in the history (a batch whose bids were all refused
    // would leave no trace there).
    let ladder = std::sync::atomic::AtomicI64::new(1_000);
    let loops = bidders.iter().enumerate().map(|(i, bidder)| {
        let (app, ladder) = (&app, &ladder);
        async move {
            if i % 2 == 1 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            for round in 0..ROUNDS {
                let amount = ladder.fetch_add(1_000, std::sync::atomic::Ordering::SeqCst);
                let response = app.bid(bidder, id, amount, None, None).await;
                let status = response.status();
                assert!(
                    status == StatusCode::CREATED || status == StatusCode::CONFLICT,
                    "round {round}, bidder {i}: {status}"
                );
            }
        }
    });
    join_all(loops).await;

    let updates = accepted_updates(&app, id).await;
    // One per round, and up to two more while the late half joins; taking
    // turns, the two cohorts need about two per round.
    assert!(
        updates <= ROUNDS + 2,
        "{updates} updates for {ROUNDS} rounds of {} bidders",
        bidders.len()
    );
}

#[tokio::test]
async fn a_hopeless_bid_is_refused_without_reaching_the_workflow() {
    let app = spawn_app().await;
    let (_seller, [ada, bola], auction) = app.scene(&auction_body(60)).await;
    let id = &auction.id.to_string();
    app.bid_ok(&ada, id, 5_000, None).await;
    let updates = || accepted_updates(&app, id);
    let before = updates().await;
    // 5,000 plus the 250 increment of that band.
    for amount in [1_000, 4_000, 5_200] {
        let response = app.bid(&bola, id, amount, None, None).await;
        let body = expect_error(response, StatusCode::CONFLICT, "bid_too_low").await;
        assert_eq!(body.error.details.unwrap()["minimum"], 5_250);
    }
    assert_eq!(updates().await, before, "the workflow never heard of them");
    // At the minimum it goes through.
    let verdict = app.bid_ok(&bola, id, 5_250, None).await;
    assert_eq!(verdict.status, Standing::Leading);
}

#[tokio::test]
async fn bids_racing_the_close_are_accepted_before_it_or_refused_after_it() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let mut bidders = Vec::new();
    for _ in 0..12 {
        bidders.push(app.user("bidder").await);
    }
    let mut body = auction_body(4);
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let auction = app.create_auction(&seller, &body).await;
    let id = &auction.id.to_string();
    let ends_at: chrono::DateTime<chrono::Utc> = auction.ends_at;
    // Waves of bids until well after the end: each wave is one batch or a few.
    let mut amount = 1_000;
    let mut refused_late = 0;
    while chrono::Utc::now() < ends_at + chrono::Duration::seconds(2) {
        let wave = bidders.iter().map(|bidder| {
            amount += 200;
            let (app, id) = (&app, &id);
            let this = amount;
            async move { app.bid(bidder, id, this, None, None).await }
        });
        for response in join_all(wave).await {
            let status = response.status();
            let body: BidAnswer = response.json().await.unwrap();
            match (status, body.refusal()) {
                (StatusCode::CREATED, None) => {}
                (StatusCode::CONFLICT, Some("auction_closed")) => refused_late += 1,
                (StatusCode::CONFLICT, Some("bid_too_low")) => {}
                (other, _) => panic!("{other}: {body:?}"),
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(refused_late > 0);
    let closed = app.wait_for_status(id, "awaiting_payment", 20).await;
    let final_end: chrono::DateTime<chrono::Utc> = closed.ends_at;
    let late: (i64,) =
        sqlx::query_as("SELECT count(*) FROM bids WHERE auction_id = $1::uuid AND placed_at >= $2")
            .bind(id)
            .bind(final_end)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(late.0, 0, "no bid at or after the close");
    let stored = app
        .count(&format!(
            "SELECT count(*) FROM bids WHERE auction_id = '{id}'"
        ))
        .await;
    assert_eq!(closed.bid_count, u64::try_from(stored).unwrap());
}

/// The `place_bids` updates the auction's workflow accepted: one per batch
/// that reached it with a bid the rules could take.
async fn accepted_updates(app: &TestApp, id: &str) -> usize {
    app.auction_history(id)
        .await
        .iter()
        .filter(|e| {
            matches!(
                e.attributes,
                Some(Attributes::WorkflowExecutionUpdateAcceptedEventAttributes(
                    _
                ))
            )
        })
        .count()
}
