//! Bidding under load and over time: concurrent bids, the live event stream,
//! continue-as-new, idempotent retries, validation, listing, and what
//! operators see in Temporal.

use std::time::Duration;

use chrono::{DateTime, Utc};
use gavel_api::auctions::view::{AuctionPage, AuctionResponse, BidResponse};
use gavel_workflows::rules::{BidRequest, Book, Phase, Terms};
use reqwest::StatusCode;
use serde_json::{Value, json};
use temporalio_client::{WorkflowExecutionInfo, WorkflowHandle, WorkflowQueryOptions};
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
use uuid::Uuid;

use crate::helpers::{
    BidAnswer, EventStream, TestApp, auction_body, eventually, expect_error, expect_json,
    expect_status, http_args, record_history, spawn_app, spawn_app_with, succeeded,
};

#[tokio::test]
async fn fifty_concurrent_bids_give_one_consistent_leader_and_nothing_after_the_close() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let mut bidders = Vec::new();
    for _ in 0..10 {
        bidders.push(app.user("bidder").await);
    }
    let mut body = auction_body(4);
    // No anti-sniping here: the late bids below must meet a fixed end.
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let auction = app.create_auction(&seller, &body).await;
    let id = &auction.id.to_string();

    // 50 bids at once: each bidder five times, amounts spread so that many
    // are too low by the time they land.
    let attempts = (0..50).map(|i| {
        let bidder = &bidders[i % 10];
        let amount = 1_000 + 150 * i64::try_from(i).unwrap();
        let max = (i % 3 == 0).then_some(amount + 2_000);
        let app = &app;
        let id = &id;
        async move {
            let response = app.bid(bidder, id, amount, max, None).await;
            let status = response.status();
            let answer: BidAnswer = response.json().await.unwrap();
            (bidder, amount, status, answer)
        }
    });
    let answers = futures::future::join_all(attempts).await;
    // How many are accepted depends on the order they land in (in a random
    // order about H(50) ≈ 4.5 are new highs), so the count is not asserted;
    // each refusal is checked against the recorded bids below instead.
    let mut accepted = 0;
    let mut refusals = Vec::new();
    for (bidder, amount, status, answer) in answers {
        match (status, answer) {
            (StatusCode::CREATED, BidAnswer::Accepted(_)) => accepted += 1,
            (StatusCode::CONFLICT, BidAnswer::Refused(body))
                if matches!(body.error.code.as_str(), "bid_too_low" | "max_not_raised") =>
            {
                refusals.push((bidder.id.parse::<Uuid>().unwrap(), amount, body));
            }
            (other, answer) => panic!("no 5xx or surprise under load: {other} {answer:?}"),
        }
    }
    assert!(
        accepted >= 1,
        "the first bid to land meets the starting price"
    );

    // Keep bidding until well after the close: late bids must all be refused.
    let ends_at: DateTime<Utc> = app.auction(id).await.ends_at;
    let mut late_refused = 0;
    let mut amount = 100_000;
    while Utc::now() < ends_at + chrono::Duration::seconds(2) {
        amount += 1_000;
        let response = app.bid(&bidders[0], id, amount, None, None).await;
        if response.status() == StatusCode::CONFLICT {
            expect_error(response, StatusCode::CONFLICT, "auction_closed").await;
            late_refused += 1;
        } else {
            assert_eq!(response.status(), StatusCode::CREATED);
            accepted += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(late_refused > 0);

    let closed = app.wait_for_status(id, "awaiting_payment", 20).await;
    let final_end: DateTime<Utc> = closed.ends_at;
    let rows: Vec<(uuid::Uuid, i64, i64, DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT bidder_id, amount, max_amount, placed_at, idempotency_key FROM bids
         WHERE auction_id = $1::uuid ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        rows.len(),
        accepted,
        "every accepted bid is on record, once"
    );
    assert!(
        rows.iter().all(|r| r.3 < final_end),
        "no bid at or after the close"
    );

    // The recorded bids, replayed through the rules, give the same result.
    let terms = Terms {
        seller_id: seller.id.parse().unwrap(),
        currency: gavel_workflows::rules::Currency::Ngn,
        starting_price: 1_000,
        reserve_price: None,
        buy_now_price: None,
        min_increment: None,
        starts_at: Utc::now() - chrono::Duration::hours(1),
        ends_at: DateTime::<Utc>::MAX_UTC,
        anti_sniping: Default::default(),
        hard_close_at: None,
        second_chance_offers: true,
    };
    let mut book = Book::new(terms);
    book.phase = Phase::Open;
    // Every state the book passed through: the minimum it asked for and, when
    // someone led, the leader and their maximum.
    let mut minimums = vec![book.minimum_bid()];
    let mut leader_maxes = Vec::new();
    for (bidder_id, amount, max, at, key) in &rows {
        book.place(
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
        minimums.push(book.minimum_bid());
        let leader = book.leader.unwrap();
        leader_maxes.push((leader, book.maxes[&leader].0));
    }
    // Each concurrent refusal was right for one of those states.
    for (bidder_id, amount, body) in &refusals {
        let details = body.error.details.as_ref().expect("a refusal says why");
        if body.error.code == "bid_too_low" {
            let minimum = details["minimum"].as_i64().unwrap();
            assert!(*amount < minimum, "{amount} refused below {minimum}");
            assert!(
                minimums.contains(&minimum),
                "refused with a minimum the auction never asked for: {body:?}"
            );
        } else {
            let current_max = details["current_max"].as_i64().unwrap();
            assert!(
                leader_maxes.contains(&(*bidder_id, current_max)),
                "max_not_raised for a bidder who never led at {current_max}: {body:?}"
            );
        }
    }
    assert_eq!(closed.current_price, Some(book.price.unwrap()));
    assert_eq!(
        closed.outcome.as_ref().unwrap().price,
        Some(book.price.unwrap())
    );
    let leader = bidders
        .iter()
        .find(|b| b.id == book.leader.unwrap().to_string())
        .unwrap();
    assert_eq!(
        closed.outcome.as_ref().unwrap().winner.as_deref(),
        Some(leader.handle.as_str())
    );
    assert_eq!(closed.bid_count, u64::try_from(accepted).unwrap());
}

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

/// A run of a hot auction continues as new only once it has lived
/// `GAVEL_MIN_RUN_MS` (1.5 s), so Temporal never holds the next run's first
/// task back (it does, by up to its 1 s minimal interval, after a shorter
/// run), and no bid waits on a continue-as-new.
#[tokio::test]
async fn a_hot_run_continues_as_new_after_its_minimum_life_and_the_next_starts_at_once() {
    let mut http = http_args();
    assert_eq!(http.min_run_ms, 1_500, "the shipped default");
    // 16 bidders at 4 bids/s take 40 bids in well under a second, and stay
    // below the ceiling (160) in 1.5 s.
    http.bids_per_run = 40;
    let app = spawn_app_with(http).await;
    let seller = app.user("seller").await;
    let mut bidders = Vec::new();
    for _ in 0..16 {
        bidders.push(app.user("bidder").await);
    }
    let id = app
        .create_auction(&seller, &auction_body(120))
        .await
        .id
        .to_string();
    let next_amount = std::sync::atomic::AtomicI64::new(1_000);
    let started = std::time::Instant::now();
    let decided = futures::future::join_all(bidders.iter().map(|bidder| {
        let (app, id, next_amount) = (&app, &id, &next_amount);
        async move {
            let mut decided = 0;
            while started.elapsed() < Duration::from_secs(5) {
                let amount = next_amount.fetch_add(100, std::sync::atomic::Ordering::SeqCst);
                let status = app.bid(bidder, id, amount, None, None).await.status();
                assert!(
                    status == StatusCode::CREATED || status == StatusCode::CONFLICT,
                    "{status}"
                );
                decided += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            decided
        }
    }))
    .await
    .into_iter()
    .sum::<u64>();

    // Walk the chain back from the latest run.
    let mut run = app.auction_handle(&id);
    let mut continued = 0;
    loop {
        let events = run
            .fetch_history(Default::default())
            .into_events()
            .await
            .unwrap();
        let Some(Attributes::WorkflowExecutionStartedEventAttributes(start)) =
            &events[0].attributes
        else {
            panic!("history starts with WorkflowExecutionStarted");
        };
        let held_back = start
            .first_workflow_task_backoff
            .as_ref()
            .map_or(0, |d| d.seconds * 1_000 + i64::from(d.nanos) / 1_000_000);
        assert_eq!(held_back, 0, "Temporal held a run back {held_back} ms");
        let last = events.last().unwrap();
        if matches!(
            last.attributes,
            Some(Attributes::WorkflowExecutionContinuedAsNewEventAttributes(
                _
            ))
        ) {
            continued += 1;
            let time = |e: &temporalio_common::protos::temporal::api::history::v1::HistoryEvent| {
                let t = e.event_time.as_ref().unwrap();
                t.seconds * 1_000 + i64::from(t.nanos) / 1_000_000
            };
            let lived = time(last) - time(&events[0]);
            assert!(lived >= 1_500, "a run continued as new after {lived} ms");
        }
        if start.continued_execution_run_id.is_empty() {
            break;
        }
        run = WorkflowHandle::new(
            app.temporal.clone(),
            WorkflowExecutionInfo::builder()
                .namespace("default")
                .workflow_id(format!("auction-{id}"))
                .run_id(start.continued_execution_run_id.clone())
                .build(),
        );
    }
    assert!(
        continued >= 1,
        "{decided} bids in 5 s never continued as new"
    );
    let view = app.auction(&id).await;
    assert!(view.bid_count > 40, "{} bids accepted", view.bid_count);
}

/// The handle of the run that started the chain `latest` belongs to.
async fn first_run(
    app: &TestApp,
    auction_id: &str,
) -> WorkflowHandle<temporalio_client::Client, gavel_workflows::auction::AuctionWorkflow> {
    let events = app
        .auction_handle(auction_id)
        .fetch_history(Default::default())
        .into_events()
        .await
        .unwrap();
    let Some(Attributes::WorkflowExecutionStartedEventAttributes(started)) = &events[0].attributes
    else {
        panic!("history starts with WorkflowExecutionStarted");
    };
    WorkflowHandle::new(
        app.temporal.clone(),
        WorkflowExecutionInfo::builder()
            .namespace("default")
            .workflow_id(format!("auction-{auction_id}"))
            .run_id(started.first_execution_run_id.clone())
            .build(),
    )
}

#[tokio::test]
async fn continue_as_new_carries_every_bid_and_verdict() {
    let mut http = http_args();
    http.bids_per_run = 3;
    // Every third bid continues as new, however young the run.
    http.min_run_ms = 0;
    let app = spawn_app_with(http).await;
    let (_seller, [ada, bola], auction) = app.scene(&auction_body(120)).await;
    let id = &auction.id.to_string();

    let mut first = None;
    for i in 0..8 {
        let bidder = if i % 2 == 0 { &ada } else { &bola };
        let key = format!("bid-{i}");
        let response = app.bid(bidder, id, 1_000 + 100 * i, None, Some(&key)).await;
        let verdict: BidResponse = expect_json(response, StatusCode::CREATED).await;
        assert_eq!(verdict.seq, u64::try_from(i + 1).unwrap());
        first.get_or_insert(verdict);
    }
    // The last continue-as-new follows the bids by a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let view = loop {
        let view = app
            .auction_handle(id)
            .query(
                gavel_workflows::auction::AuctionWorkflow::state,
                (),
                WorkflowQueryOptions::default(),
            )
            .await
            .unwrap();
        if view.runs_before >= 2 || std::time::Instant::now() > deadline {
            break view;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        view.runs_before >= 2,
        "continued {} times",
        view.runs_before
    );
    assert_eq!(view.bid_count, 8);
    assert_eq!(view.current_price, Some(1_700));

    // A retry of the very first bid, two runs later, gets its first verdict.
    let retry = app.bid(&ada, id, 1_000, None, Some("bid-0")).await;
    let verdict: BidResponse = expect_json(retry, StatusCode::CREATED).await;
    assert_eq!(verdict, first.unwrap());

    let detail = app.auction(id).await;
    assert_eq!(detail.bid_count, 8);
    // Every bid reaches the read model, across the runs.
    let query = format!("SELECT count(*) FROM bids WHERE auction_id = '{id}'");
    eventually(15, || async {
        match app.count(&query).await {
            8 => Ok(()),
            rows => Err(format!("{rows} of 8 bids stored")),
        }
    })
    .await;

    let cancel = app
        .post_json(
            &format!("/api/v1/auctions/{id}/cancel"),
            &json!({ "reason": "test over" }),
            Some(&app.admin().await.token),
        )
        .await;
    expect_status(cancel, StatusCode::OK).await;
    app.wait_for_status(id, "cancelled", 15).await;
    record_history(
        &first_run(&app, id).await,
        "auction_continue_as_new_first_run",
    )
    .await;
    record_history(&app.auction_handle(id), "auction_continue_as_new_last_run").await;
}

#[tokio::test]
async fn a_retried_bid_gets_the_same_verdict_and_is_counted_once() {
    let app = spawn_app().await;
    let (_seller, [ada, bola], auction) = app.scene(&auction_body(60)).await;
    let id = &auction.id.to_string();

    let first: BidResponse = expect_json(
        app.bid(&ada, id, 1_000, None, Some("k-1")).await,
        StatusCode::CREATED,
    )
    .await;
    app.bid_ok(&bola, id, 1_500, None).await;
    let again: BidResponse = expect_json(
        app.bid(&ada, id, 1_000, None, Some("k-1")).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(first, again, "same key, same verdict (leading at the time)");
    // Another bidder may use the same key for their own bid.
    let other: BidResponse = expect_json(
        app.bid(&bola, id, 2_000, None, Some("k-1")).await,
        StatusCode::CREATED,
    )
    .await;
    assert_ne!(other.bid_id, first.bid_id);
    // Ada's key with another amount is refused and changes nothing.
    let reused = app.bid(&ada, id, 5_000, None, Some("k-1")).await;
    expect_error(reused, StatusCode::CONFLICT, "idempotency_key_reused").await;
    assert_eq!(app.auction(id).await.bid_count, 3);
}

#[tokio::test]
async fn bids_are_checked_before_and_by_the_rules() {
    let app = spawn_app().await;
    let (seller, [ada], auction) = app.scene(&auction_body(60)).await;
    let id = &auction.id.to_string();

    let low = app.bid(&ada, id, 999, None, None).await;
    let body = expect_error(low, StatusCode::CONFLICT, "bid_too_low").await;
    assert_eq!(body.error.details.as_ref().unwrap()["minimum"], 1_000);
    for (amount, max) in [
        (0, None),
        (-5, None),
        (1_000_000_000_001, None),
        (2_000, Some(1_000)),
    ] {
        let response = app.bid(&ada, id, amount, max, None).await;
        expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount").await;
    }
    let path = format!("/api/v1/auctions/{id}/bids");
    let response = app
        .post_bid_json(id, &json!({ "amount": 5_000, "currency": "USD" }), &ada)
        .await;
    expect_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "currency_mismatch",
    )
    .await;
    let response = app
        .post_bid_json(id, &json!({ "amount": 5_000, "currency": "EUR" }), &ada)
        .await;
    expect_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_currency",
    )
    .await;
    // Any account bids, but never on its own lot.
    let response = app.bid(&seller, id, 5_000, None, None).await;
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "own_auction").await;
    let response = app
        .post_json(&path, &json!({ "amount": 5_000 }), None)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    for key in [None, Some(""), Some("  ")] {
        let mut request = app
            .request(reqwest::Method::POST, &path, Some(&ada.token))
            .json(&json!({ "amount": 5_000 }));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        expect_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_required",
        )
        .await;
    }
    let response = app
        .request(reqwest::Method::POST, &path, Some(&ada.token))
        .header("Idempotency-Key", "x".repeat(201))
        .json(&json!({ "amount": 5_000 }))
        .send()
        .await
        .unwrap();
    expect_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_idempotency_key",
    )
    .await;
    let response = app
        .bid(&ada, &uuid::Uuid::new_v4().to_string(), 5_000, None, None)
        .await;
    expect_error(response, StatusCode::NOT_FOUND, "auction_not_found").await;

    app.bid_ok(&ada, id, 1_000, Some(2_000)).await;
    let response = app.bid(&ada, id, 1_500, Some(1_800), None).await;
    expect_error(response, StatusCode::CONFLICT, "max_not_raised").await;
    // The leader raising their maximum still bids at least the minimum.
    let response = app.bid(&ada, id, 1_000, Some(9_000), None).await;
    let error = expect_error(response, StatusCode::CONFLICT, "bid_too_low").await;
    assert_eq!(error.error.details.as_ref().unwrap()["minimum"], 1_100);
    assert_eq!(
        app.auction(id).await.bid_count,
        1,
        "refusals change nothing"
    );
}

#[tokio::test]
async fn create_validates_every_field() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let bidder = app.user("bidder").await;
    let past = (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let far = (Utc::now() + chrono::Duration::days(91)).to_rfc3339();
    let cases = [
        ("title", json!("ab"), "invalid_title"),
        ("title", json!("x".repeat(121)), "invalid_title"),
        (
            "description",
            json!("x".repeat(5_001)),
            "invalid_description",
        ),
        ("currency", json!("EUR"), "invalid_currency"),
        ("starting_price", json!(0), "invalid_amount"),
        (
            "starting_price",
            json!(1_000_000_000_001_i64),
            "invalid_amount",
        ),
        ("reserve_price", json!(999), "invalid_reserve_price"),
        ("buy_now_price", json!(1_000), "invalid_buy_now_price"),
        ("min_increment", json!(-1), "invalid_min_increment"),
        ("ends_at", json!(past), "invalid_ends_at"),
        ("ends_at", json!(far), "invalid_ends_at"),
        (
            "anti_sniping",
            json!({ "window_secs": 60, "extension_secs": 0 }),
            "invalid_anti_sniping",
        ),
        ("hard_close_at", json!(past), "invalid_hard_close_at"),
    ];
    for (field, value, code) in cases {
        let mut body = auction_body(60);
        body[field] = value;
        let response = app
            .post_json("/api/v1/auctions", &body, Some(&seller.token))
            .await;
        let error = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, code).await;
        assert_eq!(error.error.details.as_ref().unwrap()["field"], field);
    }
    let mut body = auction_body(60);
    body["starts_at"] = json!((Utc::now() + chrono::Duration::minutes(5)).to_rfc3339());
    let response = app
        .post_json("/api/v1/auctions", &body, Some(&seller.token))
        .await;
    expect_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_ends_at",
    )
    .await;
    let mut body = auction_body(60);
    body["ends_at"] = json!("2026-12-01T18:00:00");
    let response = app
        .post_json("/api/v1/auctions", &body, Some(&seller.token))
        .await;
    let error = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    let message = error.error.message.as_str();
    assert!(
        message.contains("RFC 3339 with an offset, e.g. 2026-12-01T18:00:00Z"),
        "{message}"
    );
    let mut body = auction_body(60);
    body["reserve"] = json!(5);
    let response = app
        .post_json("/api/v1/auctions", &body, Some(&seller.token))
        .await;
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    let response = app
        .post_json("/api/v1/auctions", &auction_body(60), Some(&bidder.token))
        .await;
    expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;

    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM auctions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing was created");
}

#[tokio::test]
async fn a_retried_create_with_the_same_key_returns_the_same_auction() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let body = auction_body(60);
    let create = |key: &'static str, body: Value| {
        let app = &app;
        let token = seller.token.clone();
        async move {
            app.request(reqwest::Method::POST, "/api/v1/auctions", Some(&token))
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let first: AuctionResponse =
        expect_json(create("create-1", body.clone()).await, StatusCode::CREATED).await;
    let again: AuctionResponse =
        expect_json(create("create-1", body.clone()).await, StatusCode::CREATED).await;
    assert_eq!(first.id, again.id);
    let mut other = body.clone();
    other["title"] = json!("Another lot");
    expect_error(
        create("create-1", other).await,
        StatusCode::CONFLICT,
        "idempotency_key_reused",
    )
    .await;
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM auctions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn auctions_are_listed_newest_first_with_filters_and_cursor_paging() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let other = app.user("seller").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut body = auction_body(60);
        body["title"] = json!(format!("Brass lamp {i}"));
        ids.push(app.create_auction(&seller, &body).await.id);
    }
    let mut body = auction_body(60);
    body["title"] = json!("Kente cloth");
    let kente = app.create_auction(&other, &body).await;

    let page: AuctionPage = expect_json(
        app.get("/api/v1/auctions?limit=2", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page.items[0].id, kente.id);
    let mut seen: Vec<Uuid> = page.items.iter().map(|a| a.id).collect();
    let mut cursor = page.next_cursor;
    while let Some(c) = cursor {
        let page: AuctionPage = expect_json(
            app.get(&format!("/api/v1/auctions?limit=2&cursor={c}"), None)
                .await,
            StatusCode::OK,
        )
        .await;
        seen.extend(page.items.iter().map(|a| a.id));
        cursor = page.next_cursor;
    }
    assert_eq!(seen.len(), 6, "every auction once");
    let expected: Vec<Uuid> = std::iter::once(kente.id)
        .chain(ids.iter().rev().copied())
        .collect();
    assert_eq!(seen, expected);

    let listed = |query: String| {
        let app = &app;
        async move {
            let page: AuctionPage = expect_json(
                app.get(&format!("/api/v1/auctions?{query}"), None).await,
                StatusCode::OK,
            )
            .await;
            page.items.len()
        }
    };
    assert_eq!(listed(format!("seller_id={}", seller.id)).await, 5);
    assert_eq!(listed("q=kente".into()).await, 1);
    assert_eq!(listed("status=open".into()).await, 6);
    assert_eq!(listed("status=closed".into()).await, 0);

    let response = app.get("/api/v1/auctions?status=sold", None).await;
    let error = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_status").await;
    assert!(
        error.error.message.contains(
            "scheduled, open, closed, awaiting_payment, settled, no_sale, unsold, cancelled"
        ),
        "{error:?}"
    );
    for (query, code) in [
        ("status=sold", "invalid_status"),
        ("seller_id=me", "invalid_seller_id"),
        ("limit=0", "invalid_limit"),
        ("limit=101", "invalid_limit"),
        ("cursor=zz", "invalid_cursor"),
    ] {
        let response = app.get(&format!("/api/v1/auctions?{query}"), None).await;
        expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let response = app
        .get(&format!("/api/v1/auctions/{}", uuid::Uuid::new_v4()), None)
        .await;
    expect_error(response, StatusCode::NOT_FOUND, "auction_not_found").await;
}

#[tokio::test]
async fn operators_find_open_auctions_by_search_attribute() {
    let app = spawn_app().await;
    let (seller, [ada], auction) = app.scene(&auction_body(120)).await;
    let id = &auction.id.to_string();
    app.bid_ok(&ada, id, 1_000, None).await;

    // The operator's own tool, as the README shows it. Bids do not move
    // the search attributes (they follow changes of status), so the price
    // an operator filters on is the one of the opening here.
    let cli = gavel::dev_server::find_cli().unwrap();
    let address = app.temporal_address();
    let query = format!("AuctionStatus='open' AND SellerId='{}'", seller.id);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let output = std::process::Command::new(&cli)
            .args([
                "workflow",
                "list",
                "--address",
                &address,
                "--query",
                &query,
                "-o",
                "json",
            ])
            .output()
            .unwrap();
        let stdout = succeeded(&output);
        if stdout.contains(&format!("auction-{id}")) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not listed: {stdout}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
