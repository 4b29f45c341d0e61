//! Watchlists end to end: watching and unwatching through the API and the
//! lot page's button, the watched lots on `/me`, and the per-account limit.
//! The alerts a watch brings are in [`crate::ending_soon`].

use gavel_api::routes::watchlist::Watchlist;
use reqwest::{StatusCode, header};

use crate::{
    helpers::{TestApp, TestUser, auction_body, eventually, expect_error, expect_json, spawn_app},
    sessions::Jar,
};

async fn watchlist(app: &TestApp, user: &TestUser) -> Watchlist {
    expect_json(
        app.get("/api/v1/me/watchlist", Some(&user.token)).await,
        StatusCode::OK,
    )
    .await
}

async fn page_of(app: &TestApp, jar: &Jar, path: &str) -> String {
    let response = jar.get(app, path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn a_lot_is_watched_and_unwatched_through_the_api_and_the_lot_page() {
    let app = spawn_app().await;
    let (_seller, [ada, bola], auction) = app.scene(&auction_body(600)).await;
    let id = auction.id.to_string();
    let path = format!("/api/v1/me/watchlist/{id}");

    // The API: watching twice is one watch; the list has the live price.
    assert_eq!(app.put(&path, Some(&ada.token)).await.status(), 204);
    assert_eq!(app.put(&path, Some(&ada.token)).await.status(), 204);
    app.bid_ok(&bola, &id, 1_500, None).await;
    let listed = eventually(10, || async {
        let listed = watchlist(&app, &ada).await;
        match listed.items.first() {
            Some(lot) if lot.current_price == 1_500 => Ok(listed),
            other => Err(format!("{:?}", other.map(|l| l.current_price))),
        }
    })
    .await;
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].auction_id, auction.id);
    assert_eq!(listed.items[0].status, "open");
    assert_eq!(listed.items[0].bid_count, 1);
    assert!(watchlist(&app, &bola).await.items.is_empty(), "one's own");

    // Refusals change nothing.
    let nowhere = format!("/api/v1/me/watchlist/{}", uuid::Uuid::new_v4());
    expect_error(
        app.put(&nowhere, Some(&ada.token)).await,
        StatusCode::NOT_FOUND,
        "auction_not_found",
    )
    .await;
    expect_error(
        app.delete(&nowhere, Some(&ada.token)).await,
        StatusCode::NOT_FOUND,
        "auction_not_found",
    )
    .await;
    expect_error(
        app.put("/api/v1/me/watchlist/not-a-uuid", Some(&ada.token))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_path",
    )
    .await;
    expect_error(
        app.put(&path, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    assert_eq!(watchlist(&app, &ada).await.items.len(), 1);

    assert_eq!(app.delete(&path, Some(&ada.token)).await.status(), 204);
    assert_eq!(app.delete(&path, Some(&ada.token)).await.status(), 204);
    assert!(watchlist(&app, &ada).await.items.is_empty());

    // The lot page: a signed-in visitor's button, a normal form.
    let lot = format!("/auctions/{id}");
    let anonymous = page_of(&app, &Jar::default(), &lot).await;
    assert!(!anonymous.contains("Watch this lot"), "signed in only");
    let mut browser = Jar::default();
    let signed_in = browser.sign_in(&app, &ada.email, &lot).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let csrf = browser.token_of(&app, &lot).await;
    assert!(
        page_of(&app, &browser, &lot)
            .await
            .contains("Watch this lot")
    );
    let forged = browser
        .post(&app, &format!("{lot}/watch"), &[("csrf", "forged")])
        .await;
    assert_eq!(forged.status(), StatusCode::SEE_OTHER);
    assert!(
        watchlist(&app, &ada).await.items.is_empty(),
        "a forged form"
    );
    let watched = browser
        .post(&app, &format!("{lot}/watch"), &[("csrf", &csrf)])
        .await;
    assert_eq!(watched.status(), StatusCode::SEE_OTHER);
    let back = watched.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(back, format!("{lot}?said=watching"));
    let shown = page_of(&app, &browser, &back).await;
    assert!(shown.contains("You watch this lot"), "{shown}");
    assert!(shown.contains(&format!("action=\"{lot}/unwatch\"")));
    assert_eq!(watchlist(&app, &ada).await.items.len(), 1);

    // `/me` lists it with its price.
    let me = page_of(&app, &browser, "/me").await;
    let section = &me[me.find("Lots I watch").expect("the watchlist section")..];
    assert!(section.contains(&format!("href=\"{lot}\"")), "{section}");
    assert!(section.contains("₦15</td>"), "the live price: {section}");

    let unwatched = browser
        .post(&app, &format!("{lot}/unwatch"), &[("csrf", &csrf)])
        .await;
    assert_eq!(unwatched.status(), StatusCode::SEE_OTHER);
    assert!(watchlist(&app, &ada).await.items.is_empty());
    assert!(
        page_of(&app, &browser, &lot)
            .await
            .contains("Watch this lot")
    );
}

#[tokio::test]
async fn a_full_watchlist_refuses_another_lot_with_its_code() {
    let app = spawn_app().await;
    let (_seller, [ada], auction) = app.scene(&auction_body(600)).await;
    // 200 lots on her list already (rows written directly).
    sqlx::query(
        "WITH lots AS (
             INSERT INTO auctions
             SELECT (jsonb_populate_record(a, jsonb_build_object(
                        'id', gen_random_uuid(), 'status', 'closed'))).*
             FROM auctions a, generate_series(1, 200) WHERE a.id = $2::uuid
             RETURNING id)
         INSERT INTO watchlist (user_id, auction_id) SELECT $1::uuid, id FROM lots",
    )
    .bind(&ada.id)
    .bind(auction.id)
    .execute(&app.db)
    .await
    .unwrap();
    let path = format!("/api/v1/me/watchlist/{}", auction.id);
    expect_error(
        app.put(&path, Some(&ada.token)).await,
        StatusCode::CONFLICT,
        "too_many_watched",
    )
    .await;
    assert_eq!(watchlist(&app, &ada).await.items.len(), 200);
}
