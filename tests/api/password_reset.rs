//! Password reset, end to end: the same answer for any address, links
//! that work once within their hour, limits that send nothing and say
//! nothing, and every older token and session revoked. The links are taken
//! from the emails the Brevo stand-in received. The pages are in
//! `accounts_email.rs`.

use std::time::Duration;

use gavel_api::routes::auth::{AccountEmailResponse, AccountEmailStatus};
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    accounts_email::{brevo_tokens, wait_for_tokens, with_brevo},
    helpers::{PASSWORD, TestApp, expect_error, expect_json, expect_status},
};

async fn ask_reset(app: &TestApp, email: &str) -> (StatusCode, String) {
    let response = app
        .post_json(
            "/api/v1/auth/password-reset",
            &json!({ "email": email }),
            None,
        )
        .await;
    (response.status(), response.text().await.unwrap())
}

async fn confirm_reset(app: &TestApp, token: &str, new_password: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/password-reset/confirm",
        &json!({ "token": token, "new_password": new_password }),
        None,
    )
    .await
}

#[tokio::test]
async fn a_password_reset_reveals_nothing_and_revokes_every_older_token_and_session() {
    let (app, brevo) = with_brevo().await;
    let ada = app.user("bidder").await;
    let nobody = ask_reset(&app, "nobody@example.com").await;
    let known = ask_reset(&app, &ada.email).await;
    assert_eq!(nobody.0, StatusCode::ACCEPTED);
    assert_eq!(
        nobody, known,
        "the same answer whether or not the account exists"
    );
    let again = ask_reset(&app, &ada.email.to_uppercase()).await;
    assert_eq!(again, known);
    let tokens = wait_for_tokens(&brevo, "password_reset", &ada.email, "/reset-password", 2).await;
    let (older, newer) = (&tokens[0], &tokens[1]);
    assert_eq!(
        app.count("SELECT count(*) FROM emails WHERE recipient_email = 'nobody@example.com'")
            .await,
        0
    );
    // Stored hashed: neither the table of tokens nor the stored email holds it.
    let in_tables = app
        .count(&format!(
            "SELECT (SELECT count(*) FROM account_tokens WHERE encode(token_hash, 'hex') = '{newer}') \
             + (SELECT count(*) FROM emails WHERE text_body LIKE '%{newer}%')"
        ))
        .await;
    assert_eq!(in_tables, 0);

    // Guessing locked the account (from this address) before the reset.
    for _ in 0..5 {
        app.login(&ada.email, "a wrong guess at it").await;
    }
    expect_error(
        app.login(&ada.email, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    )
    .await;

    // A weak password is refused and the link still works.
    expect_error(
        confirm_reset(&app, newer, "short").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "weak_password",
    )
    .await;
    expect_error(
        confirm_reset(&app, "garbled", "a brand new password").await,
        StatusCode::BAD_REQUEST,
        "invalid_link",
    )
    .await;
    let changed: AccountEmailResponse = expect_json(
        confirm_reset(&app, newer, "a brand new password").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed.status, AccountEmailStatus::PasswordChanged);

    // The old password and the old session are refused; the new one signs
    // in at once (the reset forgot the failed guesses).
    expect_error(
        app.login(&ada.email, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    expect_error(
        app.me(&ada.token).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    expect_status(
        app.login(&ada.email, "a brand new password").await,
        StatusCode::OK,
    )
    .await;
    // The link works once, and the older link was revoked with it.
    for used in [newer, older] {
        expect_error(
            confirm_reset(&app, used, "another new password").await,
            StatusCode::BAD_REQUEST,
            "invalid_link",
        )
        .await;
    }
}

#[tokio::test]
async fn reset_links_past_their_hour_are_refused() {
    let (app, brevo) = with_brevo().await;
    let ada = app.user("bidder").await;
    ask_reset(&app, &ada.email).await;
    let token = wait_for_tokens(&brevo, "password_reset", &ada.email, "/reset-password", 1)
        .await
        .remove(0);
    sqlx::query(
        "UPDATE account_tokens SET expires_at = now() - interval '1 second' \
         WHERE purpose = 'password_reset'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    expect_error(
        confirm_reset(&app, &token, "a brand new password").await,
        StatusCode::BAD_REQUEST,
        "invalid_link",
    )
    .await;
    expect_status(app.login(&ada.email, PASSWORD).await, StatusCode::OK).await;
}

#[tokio::test]
async fn reset_limits_answer_the_same_and_send_nothing_more() {
    let (app, brevo) = with_brevo().await;
    let ada = app.user("bidder").await;
    let bola = app.user("bidder").await;
    // Per email: three an hour.
    let first = ask_reset(&app, &ada.email).await;
    for _ in 0..4 {
        assert_eq!(ask_reset(&app, &ada.email).await, first);
    }
    wait_for_tokens(&brevo, "password_reset", &ada.email, "/reset-password", 3).await;
    // Per client address: ten an hour, whatever the emails (five asked so far).
    for i in 0..5 {
        let unknown = format!("stranger-{i}@example.com");
        assert_eq!(ask_reset(&app, &unknown).await, first);
    }
    assert_eq!(ask_reset(&app, &bola.email).await, first);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        brevo_tokens(&brevo, "password_reset", &ada.email, "/reset-password")
            .await
            .len(),
        3,
        "nothing beyond the per-email limit"
    );
    assert!(
        brevo_tokens(&brevo, "password_reset", &bola.email, "/reset-password")
            .await
            .is_empty(),
        "nothing beyond the per-address limit"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM account_tokens WHERE purpose = 'password_reset'")
            .await,
        3
    );
}

/// Changing the password while signed in revokes the reset links already
/// sent: an old link sets no password.
#[tokio::test]
async fn changing_the_password_revokes_outstanding_reset_links() {
    let (app, brevo) = with_brevo().await;
    let ada = app.user("bidder").await;
    ask_reset(&app, &ada.email).await;
    let token = wait_for_tokens(&brevo, "password_reset", &ada.email, "/reset-password", 1)
        .await
        .remove(0);
    expect_status(
        app.post_json(
            "/api/v1/auth/password",
            &json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" }),
            Some(&ada.token),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_error(
        confirm_reset(&app, &token, "the attacker's password").await,
        StatusCode::BAD_REQUEST,
        "invalid_link",
    )
    .await;
    expect_status(
        app.login(&ada.email, "a brand new passphrase").await,
        StatusCode::OK,
    )
    .await;
}
