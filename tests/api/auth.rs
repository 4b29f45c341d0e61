//! Registration, login, tokens and the login rate limits, over real HTTP.

use chrono::Utc;
use jsonwebtoken::{EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::json;

use gavel_api::{
    auth::Role,
    routes::auth::{AuthResponse, MeResponse},
};

use crate::helpers::{JWT_SECRET, PASSWORD, expect_error, expect_json, expect_status, spawn_app};

#[tokio::test]
async fn register_creates_an_account_and_signs_it_in() {
    let app = spawn_app().await;
    let response = app
        .register("Ada@Example.com", PASSWORD, "Ada Lovelace", "seller")
        .await;
    let raw = expect_status(response, StatusCode::CREATED).await;
    assert!(raw["user"].get("password_hash").is_none(), "{raw}");
    let body: AuthResponse = serde_json::from_value(raw).unwrap();
    assert_eq!(body.user.email, "Ada@Example.com");
    assert_eq!(body.user.role, Role::Seller);
    assert!(body.user.handle.starts_with("ada-lovelace-"));
    assert!(body.expires_at > Utc::now());

    let me: MeResponse = expect_json(app.me(&body.token).await, StatusCode::OK).await;
    assert_eq!(me.user.id, body.user.id);
    let stored: (String,) = sqlx::query_as("SELECT password_hash FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        stored.0.starts_with("$argon2id$"),
        "passwords are stored as Argon2id hashes"
    );
}

#[tokio::test]
async fn a_duplicate_email_in_any_case_is_409_and_changes_nothing() {
    let app = spawn_app().await;
    expect_status(
        app.register("ada@example.com", PASSWORD, "Ada", "bidder")
            .await,
        StatusCode::CREATED,
    )
    .await;
    let response = app
        .register("ADA@Example.COM", PASSWORD, "Imposter", "seller")
        .await;
    expect_error(response, StatusCode::CONFLICT, "email_taken").await;
    let count: (i64,) = sqlx::query_as("SELECT count(*) FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count.0, 1);
}

#[tokio::test]
async fn invalid_registrations_are_422_with_a_stable_code() {
    let app = spawn_app().await;
    let cases = [
        ("not-an-email", PASSWORD, "Ada", "bidder", "invalid_email"),
        ("ada@example.com", "short", "Ada", "bidder", "weak_password"),
        (
            "ada@example.com",
            "aaaaaaaaaaaaaa",
            "Ada",
            "bidder",
            "weak_password",
        ),
        ("ada@example.com", PASSWORD, "   ", "bidder", "invalid_name"),
        ("ada@example.com", PASSWORD, "Ada", "admin", "invalid_role"),
        (
            "ada@example.com",
            PASSWORD,
            "Ada",
            "auctioneer",
            "invalid_role",
        ),
    ];
    for (email, password, name, role, code) in cases {
        let response = app.register(email, password, name, role).await;
        expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let response = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "ada@example.com"}),
            None,
        )
        .await;
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    let count: (i64,) = sqlx::query_as("SELECT count(*) FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count.0, 0, "nothing was written");
}

#[tokio::test]
async fn login_returns_a_token_for_the_right_password_only() {
    let app = spawn_app().await;
    let user = app.user("bidder").await;
    expect_status(app.me(&user.token).await, StatusCode::OK).await;
    let body: AuthResponse = expect_json(
        app.login(&user.email.to_uppercase(), PASSWORD).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body.user.id.to_string(), user.id);
    expect_status(app.me(&body.token).await, StatusCode::OK).await;

    expect_error(
        app.login(&user.email, "wrong password!!").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    expect_error(
        app.login("nobody@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    expect_error(
        app.login("not an email", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn repeated_failures_lock_the_account_with_retry_after() {
    let app = spawn_app().await;
    let user = app.user("bidder").await;
    for _ in 0..5 {
        expect_error(
            app.login(&user.email, "wrong password!!").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
    }
    let response = app.login(&user.email, PASSWORD).await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after));
    expect_error(response, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // Another account is not locked by this one's failures.
    let other = app.user("seller").await;
    expect_status(app.login(&other.email, PASSWORD).await, StatusCode::OK).await;
}

#[tokio::test]
async fn one_address_is_limited_across_accounts() {
    let app = spawn_app().await;
    for i in 0..30 {
        let response = app.login(&format!("nobody{i}@example.com"), PASSWORD).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app.login("nobody-else@example.com", PASSWORD).await;
    expect_error(response, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
}

#[tokio::test]
async fn me_refuses_missing_malformed_forged_and_expired_tokens() {
    let app = spawn_app().await;
    let user = app.user("bidder").await;
    let now = Utc::now().timestamp();
    let claims = |exp: i64| json!({"sub": user.id, "role": "admin", "iss": "gavel", "aud": "gavel-api", "iat": now, "exp": exp});
    let sign = |alg, secret: &str, claims| {
        jsonwebtoken::encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let b64 = |v: serde_json::Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let alg_none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(claims(now + 3600))
    );

    let response = app.get("/api/v1/auth/me", None).await;
    expect_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let cases = [
        ("garbage".to_owned(), "invalid_token"),
        (alg_none, "invalid_token"),
        (
            sign(
                jsonwebtoken::Algorithm::HS256,
                "some-other-secret-of-32-bytes-or-more",
                claims(now + 3600),
            ),
            "invalid_token",
        ),
        (
            sign(
                jsonwebtoken::Algorithm::HS512,
                JWT_SECRET,
                claims(now + 3600),
            ),
            "invalid_token",
        ),
        (
            sign(
                jsonwebtoken::Algorithm::HS256,
                JWT_SECRET,
                claims(now - 3600),
            ),
            "token_expired",
        ),
    ];
    for (token, code) in cases {
        expect_error(app.me(&token).await, StatusCode::UNAUTHORIZED, code).await;
    }
    let raw = app
        .request(reqwest::Method::GET, "/api/v1/auth/me", None)
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    expect_error(raw, StatusCode::UNAUTHORIZED, "invalid_token").await;
    // Without a session (as tokens from before sessions) it is refused.
    let sessionless = sign(
        jsonwebtoken::Algorithm::HS256,
        JWT_SECRET,
        claims(now + 3600),
    );
    expect_error(
        app.me(&sessionless).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    // The right secret, algorithm and expiry for a live session is accepted:
    // the checks are not blanket refusals.
    let issued: serde_json::Value = {
        use base64::Engine;
        let payload = user.token.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    let mut with_session = claims(now + 3600);
    with_session["sid"] = issued["sid"].clone();
    let good = sign(jsonwebtoken::Algorithm::HS256, JWT_SECRET, with_session);
    expect_status(app.me(&good).await, StatusCode::OK).await;
}
