//! Strikes for unpaid wins: two recent ones suspend bidding until the older
//! ages out of the year, and an admin can clear them.

use gavel_api::routes::{admin::StrikesCleared, auth::MeResponse};
use reqwest::StatusCode;
use uuid::Uuid;

use crate::{
    helpers::{TestApp, TestUser, auction_body, expect_error, expect_json},
    stand_ins::*,
};

/// Gives `user` a strike `days_ago` (an unpaid invoice of an auction of
/// `seller`'s, made directly in the database).
async fn strike(app: &TestApp, seller: &TestUser, user: &TestUser, days_ago: i64) {
    let auction = app.create_auction(seller, &auction_body(3_600)).await;
    let auction_id: Uuid = auction.id;
    let invoice_id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO invoices (id, auction_id, round, number, buyer_id, seller_id, currency, total,
             line_items, status, reference, due_at)
         VALUES ($1, $2, 1, $3, $4::uuid, $5::uuid, 'NGN', 1000, '[]', 'void', $6, now())",
    )
    .bind(invoice_id)
    .bind(auction_id)
    .bind(format!("GV-T{}", &invoice_id.simple().to_string()[..8]))
    .bind(&user.id)
    .bind(&seller.id)
    .bind(format!("gavel-{}", invoice_id.simple()))
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO strikes (invoice_id, user_id, auction_id, created_at)
         VALUES ($1, $2::uuid, $3, now() - make_interval(days => $4))",
    )
    .bind(invoice_id)
    .bind(&user.id)
    .bind(auction_id)
    .bind(i32::try_from(days_ago).unwrap())
    .execute(&app.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn two_recent_strikes_suspend_bidding_until_they_age_and_an_admin_can_clear_them() {
    let s = scene().await;
    let admin = s.app.admin().await;
    let auction = s.app.create_auction(&s.seller, &auction_body(600)).await;
    let id = &auction.id.to_string();

    // One strike, and one too old to count: bidding goes on.
    strike(&s.app, &s.seller, &s.ada, 10).await;
    strike(&s.app, &s.seller, &s.ada, 400).await;
    s.app.bid_ok(&s.ada, id, 1_000, None).await;
    let me: MeResponse = expect_json(s.app.me(&s.ada.token).await, StatusCode::OK).await;
    assert_eq!(me.strikes.len(), 1, "{me:?}");
    assert!(me.bidding_suspended_until.is_none());

    // A second recent one: suspended until the older recent one is a year old.
    strike(&s.app, &s.seller, &s.ada, 3).await;
    let response = s
        .app
        .bid(&s.ada, id, 2_000, None, Some("after-strikes"))
        .await;
    let error = expect_error(response, StatusCode::FORBIDDEN, "bidding_suspended").await;
    let until: chrono::DateTime<chrono::Utc> = error.error.details.as_ref().unwrap()["until"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let expected = chrono::Utc::now() + chrono::Duration::days(365 - 10);
    assert!(
        (until - expected).num_minutes().abs() < 5,
        "{until} vs {expected}"
    );
    let me: MeResponse = expect_json(s.app.me(&s.ada.token).await, StatusCode::OK).await;
    assert_eq!(me.strikes.len(), 2);
    assert_eq!(me.bidding_suspended_until, Some(until));
    assert_eq!(
        s.app.auction(id).await.bid_count,
        1,
        "the refused bid changed nothing"
    );

    let clear = format!("/api/v1/admin/users/{}/strikes", s.ada.id);
    let response = s
        .app
        .request(reqwest::Method::DELETE, &clear, Some(&s.bola.token))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;
    let cleared: StrikesCleared = expect_json(
        s.app
            .request(reqwest::Method::DELETE, &clear, Some(&admin.token))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(cleared.cleared, 3);
    s.app.bid_ok(&s.ada, id, 2_000, None).await;
    let unknown = format!("/api/v1/admin/users/{}/strikes", Uuid::new_v4());
    let response = s
        .app
        .request(reqwest::Method::DELETE, &unknown, Some(&admin.token))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::NOT_FOUND, "user_not_found").await;
}
