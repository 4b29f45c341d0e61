//! Paystack webhooks as the API receives them: `gavel paystack send-webhook`
//! posting signed events, and events the house does not know stored, not errors.

use gavel_api::routes::webhooks::WebhookAck;
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    helpers::{expect_error, expect_json, succeeded},
    stand_ins::*,
};

#[tokio::test]
async fn gavel_paystack_send_webhook_posts_an_event_the_api_accepts() {
    use secrecy::ExposeSecret;
    let s = scene().await;
    let (id, reference) = awaiting_pay_link(&s, "https://checkout.paystack.com/cli").await;
    mount_verified(&s.paystack, &reference, 1_500).await;

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args([
            "paystack",
            "send-webhook",
            "--reference",
            &reference,
            "--api-url",
            &s.app.address,
        ])
        .env("PAYSTACK_SECRET_KEY", KEY)
        .env("DATABASE_URL", s.app.db_url.expose_secret())
        .output()
        .await
        .unwrap();
    let stdout = succeeded(&output);
    assert!(
        stdout.contains(&format!("charge.success {reference} 200 OK")),
        "{stdout}"
    );
    s.app.wait_for_status(&id, "settled", 20).await;

    // By invoice number too (a redelivery now: stored once).
    let (number,): (String,) = sqlx::query_as("SELECT number FROM invoices")
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args([
            "paystack",
            "send-webhook",
            "--invoice",
            &number,
            "--api-url",
            &s.app.address,
        ])
        .env("PAYSTACK_SECRET_KEY", KEY)
        .env("DATABASE_URL", s.app.db_url.expose_secret())
        .output()
        .await
        .unwrap();
    let stdout = succeeded(&output);
    assert!(stdout.contains("\"duplicate\""), "{stdout}");

    // Without a key it says which, and what to do instead.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args([
            "paystack",
            "send-webhook",
            "--reference",
            &reference,
            "--api-url",
            &s.app.address,
        ])
        .env_remove("PAYSTACK_SECRET_KEY")
        .env("DATABASE_URL", s.app.db_url.expose_secret())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PAYSTACK_SECRET_KEY is not set"),
        "{stderr}"
    );
    assert!(stderr.contains("mark-paid"), "{stderr}");
    assert_eq!(
        stderr.matches("PAYSTACK_SECRET_KEY is not set").count(),
        1,
        "said once: {stderr}"
    );

    // With another key the signature is wrong, and the API says so.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args([
            "paystack",
            "send-webhook",
            "--reference",
            &reference,
            "--amount",
            "1500",
            "--currency",
            "NGN",
            "--api-url",
            &s.app.address,
        ])
        .env("PAYSTACK_SECRET_KEY", "sk_test_someone_else")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("invalid_signature"));
}

#[tokio::test]
async fn unknown_references_and_other_events_are_stored_not_errors() {
    let s = scene().await;
    for body in [
        charge_success("gavel-nobody", 5_000),
        serde_json::to_vec(&json!({
            "event": "transfer.success",
            "data": { "reference": "TRF_1", "amount": 100, "status": "success" }
        }))
        .unwrap(),
    ] {
        let response = post_webhook(&s.app, &body, Some(&sign(&body))).await;
        let ack: WebhookAck = expect_json(response, StatusCode::OK).await;
        assert_eq!(ack.status, "stored");
    }
    assert_eq!(s.app.count("SELECT count(*) FROM paystack_events").await, 2);
    let malformed = b"not json";
    let response = post_webhook(&s.app, malformed, Some(&sign(malformed))).await;
    expect_error(response, StatusCode::BAD_REQUEST, "malformed_event").await;
}
