//! Your data: the export has every section and no secret, and deleting an
//! account asks for its password, is blocked (with a reason naming it) by
//! what is under way, and afterwards the account cannot sign in, its old
//! session and export are refused, and its bids stay, pseudonymised.

use gavel_api::routes::auth::AuthResponse;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::{
    helpers::{
        PASSWORD, TestApp, TestUser, auction_body, expect_error, expect_json, expect_status,
        form_token, spawn_app,
    },
    sessions::Jar,
};

/// Every key anywhere in `value`.
fn keys(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                into.push(key.clone());
                keys(inner, into);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keys(v, into)),
        _ => {}
    }
}

/// A lot `bidder` wins (ending in a few seconds); its id, closed.
async fn won_lot(app: &TestApp, seller: &TestUser, bidders: &[&TestUser]) -> String {
    let lot = app
        .create_auction(seller, &auction_body(3))
        .await
        .id
        .to_string();
    for (n, bidder) in bidders.iter().enumerate() {
        app.bid_ok(bidder, &lot, 1_000 + 500 * i64::try_from(n).unwrap(), None)
            .await;
    }
    app.wait_for_status(&lot, "awaiting_payment", 30).await;
    lot
}

#[tokio::test]
async fn the_export_has_every_section_and_no_secret() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let ada = app.user("bidder").await;
    expect_status(
        app.post_json(
            "/api/v1/me/saved-searches",
            &json!({ "q": "stool" }),
            Some(&ada.token),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let lot = won_lot(&app, &seller, &[&ada]).await;

    let response = app.get("/api/v1/me/export", Some(&ada.token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let export: Value = response.json().await.unwrap();
    for section in [
        "account",
        "bids",
        "invoices",
        "watchlist",
        "saved_searches",
        "preferences",
    ] {
        assert!(export.get(section).is_some(), "{section} missing: {export}");
    }
    assert_eq!(export["account"]["email"], ada.email.as_str());
    assert_eq!(export["bids"][0]["auction_id"], lot.as_str());
    assert_eq!(export["invoices"][0]["auction_id"], lot.as_str());
    assert_eq!(export["invoices"][0]["side"], "buyer");
    assert_eq!(export["saved_searches"][0]["q"], "stool");
    assert_eq!(export["preferences"]["saved_search_digest"], true);
    assert_eq!(export["watchlist"], json!([]));

    let mut found = Vec::new();
    keys(&export, &mut found);
    for key in &found {
        for secret in [
            "hash",
            "password",
            "token",
            "secret",
            "authorization",
            "signature",
        ] {
            assert!(!key.contains(secret), "`{key}` in the export: {export}");
        }
        assert_ne!(
            key, "reference",
            "a payment reference in the export: {export}"
        );
    }
    let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM users WHERE email = $1")
        .bind(&ada.email)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!export.to_string().contains(&hash));

    // The page links to it, and the browser's session downloads it.
    let mut browser = Jar::default();
    browser.sign_in(&app, &ada.email, "/me").await;
    let me = app
        .http
        .get(app.url("/me"))
        .header(header::COOKIE, browser.header())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(me.contains("Download your data") && me.contains("href=\"/me/export\""));
    assert!(me.contains("action=\"/me/delete\""), "{me}");
    let download = app
        .http
        .get(app.url("/me/export"))
        .header(header::COOKIE, browser.header())
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    let downloaded: Value = download.json().await.unwrap();
    assert_eq!(downloaded["account"]["email"], ada.email.as_str());
}

#[tokio::test]
async fn deleting_an_account_asks_its_password_and_waits_for_what_is_under_way() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let bola = app.user("bidder").await;
    let ada = app.user("bidder").await;
    // Bola bids first and is outbid; Ada wins and owes the invoice.
    let lot = won_lot(&app, &seller, &[&bola, &ada]).await;
    let (number,): (String,) =
        sqlx::query_as("SELECT number FROM invoices WHERE auction_id = $1::uuid")
            .bind(&lot)
            .fetch_one(&app.db)
            .await
            .unwrap();

    expect_error(
        app.delete_json(
            "/api/v1/me",
            &json!({ "password": "not my password" }),
            Some(&ada.token),
        )
        .await,
        StatusCode::FORBIDDEN,
        "wrong_password",
    )
    .await;
    let blocked = expect_error(
        app.delete_json(
            "/api/v1/me",
            &json!({ "password": PASSWORD }),
            Some(&ada.token),
        )
        .await,
        StatusCode::CONFLICT,
        "account_deletion_blocked",
    )
    .await;
    assert!(blocked.error.message.contains(&number), "{blocked:?}");
    // A seller with a lot still running is blocked, the lot named.
    let mut running = auction_body(3_600);
    running["title"] = json!("Brass lantern");
    app.create_auction(&seller, &running).await;
    let blocked = expect_error(
        app.delete_json(
            "/api/v1/me",
            &json!({ "password": PASSWORD }),
            Some(&seller.token),
        )
        .await,
        StatusCode::CONFLICT,
        "account_deletion_blocked",
    )
    .await;
    assert!(
        blocked.error.message.contains("Brass lantern"),
        "{blocked:?}"
    );
    // Refusals change nothing: both still sign in.
    for who in [&ada, &seller] {
        expect_status(app.login(&who.email, PASSWORD).await, StatusCode::OK).await;
    }

    // Bola owes nothing: the account goes.
    let before: Value = expect_status(
        app.get(&format!("/api/v1/auctions/{lot}/bids"), None).await,
        StatusCode::OK,
    )
    .await;
    assert!(before.to_string().contains(&bola.handle));
    assert_eq!(
        app.delete_json(
            "/api/v1/me",
            &json!({ "password": PASSWORD }),
            Some(&bola.token)
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    expect_error(
        app.login(&bola.email, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.me(&bola.token).await.status(),
        StatusCode::UNAUTHORIZED,
        "the old session"
    );
    assert_eq!(
        app.get("/api/v1/me/export", Some(&bola.token))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // Bids stay in the lot's history, under a pseudonym.
    let after: Value = expect_status(
        app.get(&format!("/api/v1/auctions/{lot}/bids"), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(after["items"].as_array().unwrap().len(), 2, "{after}");
    let text = after.to_string();
    assert!(!text.contains(&bola.handle), "{text}");
    assert!(text.contains("deleted-"), "{text}");
    let (email, name): (String, String) =
        sqlx::query_as("SELECT email, name FROM users WHERE id = $1::uuid")
            .bind(&bola.id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_ne!(email, bola.email);
    assert_eq!(name, "Deleted account");
    // The address may sign up again.
    let again: AuthResponse = expect_json(
        app.register(&bola.email, PASSWORD, "Bola Again", "bidder")
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_ne!(again.user.id.to_string(), bola.id);
}

#[tokio::test]
async fn the_account_page_deletes_the_account_with_its_password() {
    let app = spawn_app().await;
    let ada = app.user("bidder").await;
    let mut browser = Jar::default();
    browser.sign_in(&app, &ada.email, "/me").await;
    let csrf = browser.token_of(&app, "/me").await;
    let wrong = browser
        .post(
            &app,
            "/me/delete",
            &[("csrf", &csrf), ("password", "not my password")],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert!(wrong.text().await.unwrap().contains("not your password"));
    let page = app
        .http
        .get(app.url("/me"))
        .header(header::COOKIE, browser.header())
        .send()
        .await
        .unwrap();
    let csrf = form_token(&page.text().await.unwrap());
    let done = browser
        .post(
            &app,
            "/me/delete",
            &[("csrf", &csrf), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("Account deleted"));
    assert_eq!(app.me(&ada.token).await.status(), StatusCode::UNAUTHORIZED);
}
