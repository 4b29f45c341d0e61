//! Listing auctions: what a create accepts and refuses, an idempotent
//! retried create, the public list with its filters and cursor paging, and
//! what operators find by search attribute in Temporal.

use std::time::Duration;

use chrono::Utc;
use gavel_api::auctions::view::{AuctionPage, AuctionResponse};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{auction_body, expect_error, expect_json, spawn_app, succeeded};

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
