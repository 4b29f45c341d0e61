//! The terms an auction is listed under: the commission the settings give
//! at creation stays on the auction whatever the settings say later, and a
//! seller who left paid lots unshipped (seller strikes at the strike limit)
//! cannot list until an admin clears the strikes.

use gavel_api::routes::admin::StrikesCleared;
use gavel_api::{auctions::view::AuctionResponse, commission::CommissionResponse};
use reqwest::{Method, StatusCode, header};
use uuid::Uuid;

use crate::helpers::{
    ApiProcess, TestApp, TestUser, auction_body, expect_error, expect_json, form_token,
    settlement_args, spawn_app, spawn_app_with_settlement,
};

/// The commission columns of auction `id`'s row.
async fn row_commission(app: &TestApp, id: Uuid) -> (i32, i64) {
    sqlx::query_as("SELECT commission_bps, commission_min FROM auctions WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// The `/sell` page as `user` sees it on the API at `base`.
async fn sell_page(app: &TestApp, base: &str, user: &TestUser) -> String {
    let response = app
        .http
        .get(format!("{base}/sell"))
        .header(header::COOKIE, format!("gavel_session={}", user.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

#[tokio::test]
async fn the_commission_is_fixed_on_the_auction_when_it_is_listed() {
    let listed_under = gavel::config::SettlementArgs {
        commission: "12.5".parse().unwrap(),
        commission_min: 500,
        ..settlement_args()
    };
    let app = spawn_app_with_settlement(listed_under).await;
    let seller = app.user("seller").await;

    let page = sell_page(&app, &app.address, &seller).await;
    assert!(
        page.contains("Gavel keeps 12.5 % of what the buyer pays (at least ₦5)."),
        "{page}"
    );
    let auction = app.create_auction(&seller, &auction_body(600)).await;
    let expected = CommissionResponse {
        percent: "12.5".into(),
        minimum: 500,
    };
    assert_eq!(auction.commission, expected);
    assert_eq!(row_commission(&app, auction.id).await, (1250, 500));
    assert_eq!(
        app.auction(&auction.id.to_string()).await.commission,
        expected
    );

    // Another replica (a `gavel api` process) with other settings, as after
    // a redeploy: its new auctions get its terms; the listed one keeps its.
    let later = gavel::config::SettlementArgs {
        commission: "20".parse().unwrap(),
        commission_min: 0,
        ..settlement_args()
    };
    let other = ApiProcess::spawn(&app, &later).await;
    let page = sell_page(&app, &other.address, &seller).await;
    assert!(
        page.contains("Gavel keeps 20 % of what the buyer pays."),
        "{page}"
    );
    let response = app
        .http
        .post(format!("{}/api/v1/auctions", other.address))
        .bearer_auth(&seller.token)
        .json(&auction_body(600))
        .send()
        .await
        .unwrap();
    let newer: AuctionResponse = expect_json(response, StatusCode::CREATED).await;
    assert_eq!(newer.commission.percent, "20");
    assert_eq!(row_commission(&app, newer.id).await, (2000, 0));
    let response = app
        .http
        .get(format!("{}/api/v1/auctions/{}", other.address, auction.id))
        .send()
        .await
        .unwrap();
    let first: AuctionResponse = expect_json(response, StatusCode::OK).await;
    assert_eq!(first.commission, expected);
    assert_eq!(row_commission(&app, auction.id).await, (1250, 500));
    other.stop();
}

/// Gives `seller` a seller strike `days_ago`: a paid lot of theirs left
/// unshipped (its invoice and strike made directly in the database, as the
/// sale's deadline records them).
async fn seller_strike(app: &TestApp, seller: &TestUser, buyer: &TestUser, days_ago: i32) {
    let auction = app.create_auction(seller, &auction_body(3_600)).await;
    let invoice_id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO invoices (id, auction_id, round, number, buyer_id, seller_id, currency, total,
             line_items, status, reference, due_at)
         VALUES ($1, $2, 1, $3, $4::uuid, $5::uuid, 'NGN', 1000, '[]', 'cancelled_unshipped',
             $6, now())",
    )
    .bind(invoice_id)
    .bind(auction.id)
    .bind(format!("GV-T{}", &invoice_id.simple().to_string()[..8]))
    .bind(&buyer.id)
    .bind(&seller.id)
    .bind(format!("gavel-{}", invoice_id.simple()))
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO seller_strikes (invoice_id, user_id, auction_id, created_at)
         VALUES ($1, $2::uuid, $3, now() - make_interval(days => $4))",
    )
    .bind(invoice_id)
    .bind(&seller.id)
    .bind(auction.id)
    .bind(days_ago)
    .execute(&app.db)
    .await
    .unwrap();
}

async fn auctions_of(app: &TestApp, seller: &TestUser) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM auctions WHERE seller_id = $1::uuid")
        .bind(&seller.id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    n
}

#[tokio::test]
async fn a_seller_with_strikes_at_the_limit_cannot_list_until_an_admin_clears_them() {
    // The default limit: two strikes within a year.
    let app = spawn_app().await;
    let admin = app.admin().await;
    let seller = app.user("seller").await;
    let buyer = app.user("bidder").await;

    // One recent strike and one too old to count: listing goes on.
    seller_strike(&app, &seller, &buyer, 10).await;
    seller_strike(&app, &seller, &buyer, 400).await;
    app.create_auction(&seller, &auction_body(600)).await;

    // A second recent one: refused, and nothing is recorded.
    seller_strike(&app, &seller, &buyer, 3).await;
    let before = auctions_of(&app, &seller).await;
    let response = app
        .post_json("/api/v1/auctions", &auction_body(600), Some(&seller.token))
        .await;
    expect_error(response, StatusCode::FORBIDDEN, "selling_suspended").await;
    // The sell form says so, with the same status.
    let page = sell_page(&app, &app.address, &seller).await;
    let form = reqwest::multipart::Form::new()
        .text("csrf", form_token(&page))
        .text("key", Uuid::new_v4().to_string())
        .text("title", "Stool")
        .text("description", "Three legs.")
        .text("currency", "NGN")
        .text("starting_price", "5000")
        .text("ends_in_minutes", "600");
    let response = app
        .http
        .post(app.url("/sell"))
        .header(header::COOKIE, format!("gavel_session={}", seller.token))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let page = response.text().await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(
        page.contains("Selling is suspended on your account"),
        "{page}"
    );
    assert_eq!(auctions_of(&app, &seller).await, before, "nothing listed");

    // The admin's clear lifts it (every uncleared strike: the old one too).
    let clear = format!("/api/v1/admin/users/{}/strikes", seller.id);
    let cleared: StrikesCleared = expect_json(
        app.request(Method::DELETE, &clear, Some(&admin.token))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(cleared.cleared, 3);
    let (left,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM seller_strikes WHERE user_id = $1::uuid AND cleared_at IS NULL",
    )
    .bind(&seller.id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(left, 0);
    app.create_auction(&seller, &auction_body(600)).await;
    assert_eq!(auctions_of(&app, &seller).await, before + 1);
}
