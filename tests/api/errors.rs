//! Every failure has the JSON error shape: unknown routes, wrong methods,
//! malformed bodies, oversized bodies, panics and timeouts.

use std::time::Duration;

use axum::{Router, routing::get};
use gavel_api::ApiConfig;
use reqwest::{Method, StatusCode};

use crate::helpers::{expect_error, spawn_app};

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = spawn_app().await;
    expect_error(
        app.get("/api/v1/nothing-here", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.get("/no-such-page.txt", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let response = app
        .request(Method::DELETE, "/api/v1/auth/login", None)
        .send()
        .await
        .unwrap();
    expect_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn malformed_bodies_get_400_415_422_413() {
    let app = spawn_app().await;
    let post = |body: String, content_type: &'static str| {
        app.request(Method::POST, "/api/v1/auth/register", None)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    expect_error(
        post("{not json".into(), "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    expect_error(
        post("{}".into(), "text/plain").await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    expect_error(
        post(r#"{"email": 5}"#.into(), "application/json")
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    let huge = format!(r#"{{"email": "{}"}}"#, "a".repeat(200_000));
    expect_error(
        post(huge, "application/json").await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
}

#[tokio::test]
async fn oversized_uris_and_headers_get_414_and_431_in_the_error_shape() {
    let app = spawn_app().await;
    let long_query = format!("/api/v1/auctions?q={}", "a".repeat(9_000));
    expect_error(
        app.get(&long_query, None).await,
        StatusCode::URI_TOO_LONG,
        "uri_too_long",
    )
    .await;
    let mut request = app.request(Method::GET, "/api/v1/health", None);
    for i in 0..40 {
        request = request.header(format!("x-padding-{i}"), "p".repeat(1_000));
    }
    expect_error(
        request.send().await.unwrap(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
    )
    .await;
    // Just under the limits is fine.
    let fits = format!("/api/v1/auctions?limit=5&cursor={}", "a".repeat(100));
    assert_ne!(
        app.get(&fits, None).await.status(),
        StatusCode::URI_TOO_LONG
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_cors_follows_config() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/health", None).await;
    assert!(response.headers().contains_key("x-request-id"));
    let response = app
        .request(Method::GET, "/api/v1/health", None)
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["x-request-id"],
        "abc-123",
        "a caller's id is kept"
    );

    let preflight = app
        .request(Method::OPTIONS, "/api/v1/auth/login", None)
        .header("origin", "http://shop.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "http://shop.example"
    );
    let foreign = app
        .request(Method::GET, "/api/v1/health", None)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        !foreign
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

/// Serves `routes` with the production middleware on a real port.
/// The HTTP layer's settings as `gavel api` makes them from default flags.
fn default_config() -> ApiConfig {
    gavel::app::api_config(
        &gavel::config::HttpArgs::default(),
        &gavel::config::SettlementArgs::default(),
        "errors",
    )
}

async fn serve_with_middleware(routes: Router, config: ApiConfig) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let app = gavel_api::app::with_middleware(routes, &config);
    tokio::spawn(gavel_api::serve(
        listener,
        app,
        tokio_util::sync::CancellationToken::new(),
    ));
    address
}

#[tokio::test]
async fn a_panicking_handler_answers_a_bare_json_500() {
    fn leaky() -> &'static str {
        panic!("db password is hunter2")
    }
    let routes = Router::new().route("/boom", get(|| async { leaky() }));
    let address = serve_with_middleware(routes, default_config()).await;
    let response = reqwest::get(format!("{address}/boom")).await.unwrap();
    let body = expect_error(response, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
    assert_eq!(body.error.message, "internal error");
    assert!(
        !format!("{body:?}").contains("hunter2"),
        "no internals in the body"
    );
}

#[tokio::test]
async fn a_slow_handler_is_cut_off_with_503_and_retry_after() {
    let routes = Router::new().route(
        "/slow",
        get(|| async { tokio::time::sleep(Duration::from_secs(5)).await }),
    );
    let config = ApiConfig {
        request_timeout: Duration::from_millis(200),
        ..default_config()
    };
    let address = serve_with_middleware(routes, config).await;
    let response = reqwest::get(format!("{address}/slow")).await.unwrap();
    assert!(response.headers().contains_key("retry-after"));
    expect_error(response, StatusCode::SERVICE_UNAVAILABLE, "timeout").await;
}

#[tokio::test]
async fn hidden_or_reordering_characters_in_any_text_field_are_422_invalid_text() {
    let app = crate::helpers::spawn_app().await;
    let seller = app.user("seller").await;
    let bad = ["nul\u{0}byte", "flip\u{202E}gnp.exe", "zero\u{200B}width"];
    for text in bad {
        for field in ["title", "description"] {
            let mut body = crate::helpers::auction_body(60);
            body[field] = serde_json::json!(format!("Carved stool {text}"));
            let response = app
                .post_json("/api/v1/auctions", &body, Some(&seller.token))
                .await;
            let error =
                expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;
            assert_eq!(error.error.details.unwrap()["field"], field);
        }
        let response = app
            .register(
                &format!("x{}@example.com", uuid::Uuid::new_v4().simple()),
                crate::helpers::PASSWORD,
                &format!("Ada {text}"),
                "bidder",
            )
            .await;
        expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;
    }
    // A lone surrogate, escaped or as raw bytes, is not text either.
    for title in [
        &br#""Carved \ud800 stool""#[..],
        b"\"Carved \xed\xa0\x80 stool\"",
    ] {
        let mut body = br#"{"title":"#.to_vec();
        body.extend_from_slice(title);
        body.extend_from_slice(br#","description":"x","currency":"NGN","starting_price":1000,"ends_at":"2030-01-01T00:00:00Z"}"#);
        let response = app
            .request(
                reqwest::Method::POST,
                "/api/v1/auctions",
                Some(&seller.token),
            )
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;
    }
    // Nothing was stored, and a cancel reason is held to the same rule.
    assert_eq!(app.count("SELECT count(*) FROM auctions").await, 0);
    let auction = app
        .create_auction(&seller, &crate::helpers::auction_body(60))
        .await;
    let response = app
        .post_json(
            &format!("/api/v1/auctions/{}/cancel", auction.id),
            &serde_json::json!({ "reason": "listed by\u{0} mistake" }),
            Some(&seller.token),
        )
        .await;
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;
    assert_eq!(app.auction(&auction.id.to_string()).await.status, "open");
    // Newlines and tabs stay welcome in a description.
    let mut body = crate::helpers::auction_body(60);
    body["description"] = serde_json::json!("Iroko.\n\tHand carved.");
    app.create_auction(&seller, &body).await;
}
