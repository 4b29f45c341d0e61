//! Whole auctions through real HTTP, a real Temporal server and PostgreSQL:
//! anti-sniping, proxy bidding, reserve, buy-now, cancel.

use chrono::{DateTime, Utc};
use gavel_workflows::rules::Standing;
use reqwest::StatusCode;
use serde_json::json;

use gavel_api::{
    auctions::view::{AuctionPage, AuctionResponse, BidPage},
    routes::invoices::InvoiceResponse,
};

use crate::helpers::{
    WorkerProcess, auction_body, eventually, expect_error, expect_json, expect_status,
    record_history, settlement_args, shared_temporal, spawn_api_only, spawn_app,
};

async fn sleep_until(at: DateTime<Utc>) {
    if let Ok(wait) = (at - Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
}

#[tokio::test]
async fn a_late_bid_extends_the_end_and_the_auction_closes_with_the_right_winner() {
    let app = spawn_app().await;
    let mut body = auction_body(6);
    body["anti_sniping"] = json!({ "window_secs": 3, "extension_secs": 4 });
    let (_seller, [ada, bola], auction) = app.scene(&body).await;
    let id = &auction.id.to_string();
    assert_eq!(auction.status, "open");
    let first_end = auction.ends_at;

    let verdict = app.bid_ok(&ada, id, 1_000, None).await;
    assert_eq!(verdict.status, Standing::Leading);
    assert_eq!(verdict.current_price, 1_000);
    assert!(!verdict.extended);

    let verdict = app.bid_ok(&bola, id, 1_500, None).await;
    assert_eq!(verdict.status, Standing::Leading);
    assert_eq!(verdict.current_price, 1_500);

    // Inside the 3 s anti-sniping window: Ada comes back with a maximum.
    sleep_until(first_end - chrono::Duration::milliseconds(2_000)).await;
    let verdict = app.bid_ok(&ada, id, 1_600, Some(3_000)).await;
    assert_eq!(verdict.status, Standing::Leading);
    // Bola's 1,500 plus one increment (100 in this band).
    assert_eq!(verdict.current_price, 1_600);
    assert!(verdict.extended);
    let new_end = verdict.ends_at;
    assert!(new_end > first_end, "{new_end} should be after {first_end}");

    let live = app.auction(id).await;
    assert!(live.live);
    assert_eq!(live.leader.as_deref(), Some(ada.handle.as_str()));
    assert_eq!(live.bid_count, 3);
    assert_eq!(live.ends_at, new_end);

    // Not closed at the first end…
    sleep_until(first_end + chrono::Duration::milliseconds(300)).await;
    assert_eq!(app.auction(id).await.status, "open");
    // …but at the new one.
    let closed = app.wait_for_status(id, "awaiting_payment", 15).await;
    assert_eq!(closed.outcome.as_ref().unwrap().result, "sold");
    assert_eq!(
        closed.outcome.as_ref().unwrap().winner.as_deref(),
        Some(ada.handle.as_str())
    );
    assert_eq!(closed.outcome.as_ref().unwrap().price, Some(1_600));
    assert_eq!(closed.current_price, Some(1_600));
    assert_eq!(closed.bid_count, 3);

    let (closed_at,): (DateTime<Utc>,) = sqlx::query_as(
        "SELECT at FROM auction_events WHERE auction_id = $1::uuid AND kind = 'closed'",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(
        closed_at >= new_end,
        "closed at {closed_at}, before {new_end}"
    );
    assert!(
        closed_at < new_end + chrono::Duration::seconds(2),
        "closed at {closed_at}, long after {new_end}"
    );

    let late = app.bid(&bola, id, 5_000, None, None).await;
    expect_error(late, StatusCode::CONFLICT, "auction_closed").await;

    let history_path = format!("/api/v1/auctions/{id}/bids");
    let history: BidPage = expect_json(app.get(&history_path, None).await, StatusCode::OK).await;
    let amounts: Vec<i64> = history.items.iter().map(|b| b.amount).collect();
    assert_eq!(amounts, [1_600, 1_500, 1_000], "newest first");
    assert_eq!(
        history.items[0].bidder.as_deref(),
        Some(ada.handle.as_str())
    );
    let raw = expect_status(app.get(&history_path, None).await, StatusCode::OK).await;
    assert!(
        raw["items"][0].get("max_amount").is_none(),
        "maximums stay private: {raw}"
    );
    record_history(&app.auction_handle(id), "auction_sniping_extension").await;
}

#[tokio::test]
async fn proxy_bidding_keeps_the_highest_maximum_ahead_at_the_lowest_price() {
    let app = spawn_app().await;
    let (_seller, [ada, bola], auction) = app.scene(&auction_body(3)).await;
    let id = &auction.id.to_string();

    let verdict = app.bid_ok(&ada, id, 1_000, Some(5_000)).await;
    assert_eq!(verdict.status, Standing::Leading);
    assert_eq!(verdict.current_price, 1_000);

    // Bola's open 2,000 loses to Ada's hidden 5,000: price 2,000 + 100.
    let verdict = app.bid_ok(&bola, id, 2_000, None).await;
    assert_eq!(verdict.status, Standing::Outbid);
    assert_eq!(verdict.current_price, 2_100);

    // Raising her own maximum never raises the price against herself.
    let verdict = app.bid_ok(&ada, id, 2_200, Some(8_000)).await;
    assert_eq!(verdict.status, Standing::Leading);
    assert_eq!(verdict.current_price, 2_100);

    // Bola goes above: 8,000 + 250 (the band's increment).
    let verdict = app.bid_ok(&bola, id, 8_100, Some(9_000)).await;
    assert_eq!(verdict.status, Standing::Leading);
    assert_eq!(verdict.current_price, 8_250);

    let closed = app.wait_for_status(id, "awaiting_payment", 15).await;
    assert_eq!(
        closed.outcome.as_ref().unwrap().winner.as_deref(),
        Some(bola.handle.as_str())
    );
    assert_eq!(closed.outcome.as_ref().unwrap().price, Some(8_250));
    record_history(&app.auction_handle(id), "auction_proxy").await;
}

#[tokio::test]
async fn an_unmet_reserve_ends_in_no_sale() {
    let app = spawn_app().await;
    let mut body = auction_body(2);
    body["reserve_price"] = json!(5_000);
    let (seller, [ada], auction) = app.scene(&body).await;
    let id = &auction.id.to_string();
    assert!(auction.has_reserve);
    let raw = expect_status(
        app.get(&format!("/api/v1/auctions/{id}"), None).await,
        StatusCode::OK,
    )
    .await;
    assert!(
        raw.get("reserve_price").is_none(),
        "the reserve stays hidden: {raw}"
    );

    let verdict = app.bid_ok(&ada, id, 2_000, None).await;
    assert!(!verdict.reserve_met);

    let closed = app.wait_for_status(id, "no_sale", 15).await;
    assert_eq!(closed.outcome.as_ref().unwrap().result, "no_sale");
    assert_eq!(
        closed.outcome.as_ref().unwrap().reason.as_deref(),
        Some("reserve_not_met")
    );
    assert!(!closed.reserve_met);
    // Seller and bidder hear of it (recorded: no BREVO_API_KEY here).
    let mut expected = vec![
        ("no_sale".to_owned(), ada.email.clone()),
        ("no_sale".to_owned(), seller.email.clone()),
    ];
    expected.sort_by(|a, b| a.1.cmp(&b.1));
    let sent: Vec<(String, String)> = eventually(15, || async {
        let sent: Vec<(String, String)> = sqlx::query_as(
            "SELECT kind, recipient_email FROM emails WHERE auction_id = $1::uuid ORDER BY recipient_email",
        )
        .bind(id)
        .fetch_all(&app.db)
        .await
        .unwrap();
        if sent.len() == 2 {
            Ok(sent)
        } else {
            Err(format!("no-sale emails: {sent:?}"))
        }
    })
    .await;
    assert_eq!(sent, expected);
    record_history(&app.auction_handle(id), "auction_reserve_not_met").await;
}

#[tokio::test]
async fn a_maximum_reaching_the_reserve_jumps_the_price_to_it() {
    let app = spawn_app().await;
    let mut body = auction_body(30);
    body["reserve_price"] = json!(5_000);
    let (_seller, [ada], auction) = app.scene(&body).await;
    let id = &auction.id.to_string();

    let verdict = app.bid_ok(&ada, id, 1_000, Some(6_000)).await;
    assert!(verdict.reserve_met);
    assert_eq!(verdict.current_price, 5_000);
}

#[tokio::test]
async fn buy_now_closes_the_auction_at_once() {
    let app = spawn_app().await;
    let mut body = auction_body(120);
    body["buy_now_price"] = json!(10_000);
    let (_seller, [ada, bola], auction) = app.scene(&body).await;
    let id = &auction.id.to_string();
    assert!(auction.buy_now_available);

    let verdict = app.bid_ok(&ada, id, 10_000, None).await;
    assert!(verdict.bought_now);
    assert_eq!(verdict.current_price, 10_000);

    let closed = app.wait_for_status(id, "awaiting_payment", 15).await;
    assert_eq!(
        closed.outcome.as_ref().unwrap().winner.as_deref(),
        Some(ada.handle.as_str())
    );
    assert_eq!(closed.outcome.as_ref().unwrap().price, Some(10_000));
    let late = app.bid(&bola, id, 20_000, None, None).await;
    expect_error(late, StatusCode::CONFLICT, "auction_closed").await;
    // Through settlement: paid offline, settled.
    let admin = app.admin().await;
    let (invoice,): (uuid::Uuid,) = sqlx::query_as("SELECT id FROM invoices")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let response = app
        .post_json(
            &format!("/api/v1/admin/invoices/{invoice}/mark-paid"),
            &json!({}),
            Some(&admin.token),
        )
        .await;
    let paid: InvoiceResponse = expect_json(response, StatusCode::OK).await;
    assert_eq!(paid.status, "paid");
    app.wait_for_status(id, "settled", 15).await;
    record_history(&app.auction_handle(id), "auction_buy_now").await;
}

#[tokio::test]
async fn buy_now_is_withdrawn_by_the_first_bid_without_a_reserve() {
    let app = spawn_app().await;
    let mut body = auction_body(60);
    body["buy_now_price"] = json!(10_000);
    let (_seller, [ada, bola], auction) = app.scene(&body).await;
    let id = &auction.id.to_string();

    app.bid_ok(&ada, id, 1_000, None).await;
    assert!(!app.auction(id).await.buy_now_available);
    let verdict = app.bid_ok(&bola, id, 10_000, None).await;
    assert!(!verdict.bought_now, "an ordinary bid now");
    assert_eq!(app.auction(id).await.status, "open");
}

#[tokio::test]
async fn sellers_cancel_before_the_first_bid_and_admins_at_any_time() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let other_seller = app.user("seller").await;
    let ada = app.user("bidder").await;
    let admin = app.admin().await;

    let auction = app.create_auction(&seller, &auction_body(60)).await;
    let id = &auction.id.to_string();
    let path = format!("/api/v1/auctions/{id}/cancel");
    let reason = json!({ "reason": "listed by mistake" });

    let response = app
        .post_json(&path, &reason, Some(&other_seller.token))
        .await;
    expect_error(response, StatusCode::FORBIDDEN, "cancel_not_allowed").await;
    let response = app.post_json(&path, &reason, Some(&ada.token)).await;
    expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;

    let cancelled: AuctionResponse = expect_json(
        app.post_json(&path, &reason, Some(&seller.token)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cancelled.status, "cancelled");
    assert_eq!(
        cancelled.outcome.unwrap().reason.as_deref(),
        Some("listed by mistake")
    );
    app.wait_for_status(id, "cancelled", 15).await;
    let late = app.bid(&ada, id, 1_000, None, None).await;
    expect_error(late, StatusCode::CONFLICT, "auction_closed").await;
    record_history(&app.auction_handle(id), "auction_cancel").await;

    // With a bid, only an admin may cancel.
    let auction = app.create_auction(&seller, &auction_body(60)).await;
    let id = &auction.id.to_string();
    let path = format!("/api/v1/auctions/{id}/cancel");
    app.bid_ok(&ada, id, 1_000, None).await;
    let response = app.post_json(&path, &reason, Some(&seller.token)).await;
    expect_error(response, StatusCode::CONFLICT, "auction_has_bids").await;
    let cancelled: AuctionResponse = expect_json(
        app.post_json(
            &path,
            &json!({ "reason": "counterfeit" }),
            Some(&admin.token),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cancelled.status, "cancelled");
    let done = app.wait_for_status(id, "cancelled", 15).await;
    assert_eq!(done.bid_count, 1, "the bid stays on record");
    let response = app.post_json(&path, &reason, Some(&admin.token)).await;
    expect_error(response, StatusCode::CONFLICT, "auction_closed").await;
}

#[tokio::test]
async fn a_scheduled_auction_refuses_bids_until_it_opens() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let ada = app.user("bidder").await;
    let mut body = auction_body(30);
    // Far enough ahead that a loaded machine still bids before the opening.
    let starts_at = Utc::now() + chrono::Duration::seconds(4);
    body["starts_at"] = json!(starts_at.to_rfc3339());
    let auction = app.create_auction(&seller, &body).await;
    let id = &auction.id.to_string();
    assert_eq!(auction.status, "scheduled");

    let early = app.bid(&ada, id, 1_000, None, None).await;
    expect_error(early, StatusCode::CONFLICT, "auction_not_open").await;
    sleep_until(starts_at).await;
    app.wait_for_auction(id, 10, |a| a.status == "open").await;
    let verdict = app.bid_ok(&ada, id, 1_000, None).await;
    assert_eq!(verdict.status, Standing::Leading);
    record_history(&app.auction_handle(id), "auction_scheduled_opening").await;
}

/// From its end a lot reads closed (its JSON, its page, the listing's
/// filters) even while nothing runs to close it: the rules take no bid from
/// then on, however late the close timer fires. The outcome is the
/// workflow's to say, once a worker closes it.
#[tokio::test]
async fn a_lot_reads_closed_from_its_end_before_its_workflow_closes_it() {
    let settlement = settlement_args();
    let app = spawn_api_only(shared_temporal(), settlement.clone()).await;
    let worker = WorkerProcess::spawn(&app, &settlement);
    let mut body = auction_body(4);
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let (_seller, [ada], auction) = app.scene(&body).await;
    let id = &auction.id.to_string();
    app.bid_ok(&ada, id, 1_000, None).await;
    assert_eq!(app.auction(id).await.status, "open");
    // No worker: the close timer fires into an empty task queue.
    worker.kill();
    sleep_until(auction.ends_at).await;

    let seen = app.auction(id).await;
    assert_eq!(seen.status, "closed");
    assert!(!seen.live, "read without asking the workflow");
    assert!(seen.outcome.is_none(), "{:?}", seen.outcome);
    let listed = |status: &'static str| {
        let app = &app;
        async move {
            let page: AuctionPage = expect_json(
                app.get(&format!("/api/v1/auctions?status={status}"), None)
                    .await,
                StatusCode::OK,
            )
            .await;
            page.items
                .iter()
                .map(|a| (a.id.to_string(), a.status.clone()))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("open").await, []);
    assert_eq!(listed("closed").await, [(id.clone(), "closed".to_owned())]);
    let page = app.get(&format!("/auctions/{id}"), None).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Closed"), "{html}");
    assert!(
        !html.contains("to bid."),
        "no invitation to bid after the end: {html}"
    );

    let _worker = WorkerProcess::spawn(&app, &settlement);
    let closed = app.wait_for_status(id, "awaiting_payment", 60).await;
    assert_eq!(closed.outcome.unwrap().result, "sold");
}
