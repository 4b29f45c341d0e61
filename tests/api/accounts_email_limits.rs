//! Limits and safeguards around account emails: a stranger's flood of reset
//! requests does not use up the owner's resets; an email Brevo refuses is
//! marked failed, at once when refused for good, after its last attempt when
//! Brevo keeps failing. Clients other than 127.0.0.1
//! are played through `X-Forwarded-For` with the loopback as a trusted proxy.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use crate::{
    accounts_email::{brevo_tokens, wait_for_tokens},
    helpers::{
        PASSWORD, TestApp, eventually, expect_status, http_args, settlement_args, shared_temporal,
        spawn_app_on,
    },
};

/// The app with a Brevo stand-in, the loopback trusted as a proxy.
async fn with_brevo_behind_proxy() -> (TestApp, MockServer) {
    let brevo = gavel_testkit::mail::brevo().await;
    let mut settlement = settlement_args();
    settlement.brevo_api_key = Some(secrecy::SecretString::from("xkeysib-test"));
    settlement.brevo_base_url = brevo.uri();
    let mut http = http_args();
    http.limits.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    (
        spawn_app_on(shared_temporal(), http, settlement).await,
        brevo,
    )
}

async fn ask_reset_from(app: &TestApp, ip: &str, email: &str) -> StatusCode {
    app.http
        .post(format!("{}/api/v1/auth/password-reset", app.address))
        .header("x-forwarded-for", ip)
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_strangers_refused_flood_does_not_use_up_the_owners_resets() {
    let (app, brevo) = with_brevo_behind_proxy().await;
    let victim = app.user("bidder").await;
    let stranger = "203.0.113.7";
    // The stranger spends their address's ten an hour on other emails...
    for i in 0..10 {
        let junk = format!("junk-{i}@example.com");
        assert!(ask_reset_from(&app, stranger, &junk).await.is_success());
    }
    // ...then names the victim: refused by the address's limit, silently.
    for _ in 0..3 {
        assert!(
            ask_reset_from(&app, stranger, &victim.email)
                .await
                .is_success()
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        brevo_tokens(&brevo, "password_reset", &victim.email, "/reset-password")
            .await
            .is_empty(),
        "the stranger's requests for the victim were over their address's limit"
    );

    // The victim, from their own address, still gets the email.
    assert!(
        ask_reset_from(&app, "198.51.100.20", &victim.email)
            .await
            .is_success()
    );
    wait_for_tokens(
        &brevo,
        "password_reset",
        &victim.email,
        "/reset-password",
        1,
    )
    .await;
}

#[tokio::test]
async fn an_email_brevo_refuses_for_good_is_marked_failed_not_left_pending() {
    let brevo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(gavel_testkit::mail::SEND_PATH))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({ "code": "invalid_parameter", "message": "bad to" })),
        )
        .mount(&brevo)
        .await;
    let mut settlement = settlement_args();
    settlement.brevo_api_key = Some(secrecy::SecretString::from("xkeysib-test"));
    settlement.brevo_base_url = brevo.uri();
    let app = spawn_app_on(shared_temporal(), http_args(), settlement).await;
    let email = format!("refused-{}@example.com", uuid::Uuid::new_v4().simple());
    expect_status(
        app.register(&email, PASSWORD, "New Person", "bidder").await,
        StatusCode::CREATED,
    )
    .await;
    eventually(20, || async {
        let failed = app
            .count("SELECT count(*) FROM emails WHERE kind = 'verify_email' AND status = 'failed'")
            .await;
        if failed == 1 {
            Ok(())
        } else {
            Err(format!("{failed} failed"))
        }
    })
    .await;
    // Refused for good: asked once, not retried.
    assert_eq!(brevo.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_email_brevo_keeps_failing_is_tried_five_times_then_marked_failed() {
    let brevo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(gavel_testkit::mail::SEND_PATH))
        .respond_with(ResponseTemplate::new(503))
        .mount(&brevo)
        .await;
    let mut settlement = settlement_args();
    settlement.brevo_api_key = Some(secrecy::SecretString::from("xkeysib-test"));
    settlement.brevo_base_url = brevo.uri();
    let app = spawn_app_on(shared_temporal(), http_args(), settlement).await;
    let email = format!("unlucky-{}@example.com", uuid::Uuid::new_v4().simple());
    expect_status(
        app.register(&email, PASSWORD, "New Person", "bidder").await,
        StatusCode::CREATED,
    )
    .await;
    // Pending while it is retried (1, 4, 16 and 64 s apart), then failed.
    let asked = std::time::Instant::now();
    eventually(150, || async {
        let failed = app
            .count("SELECT count(*) FROM emails WHERE kind = 'verify_email' AND status = 'failed'")
            .await;
        if failed == 1 {
            Ok(())
        } else {
            Err(format!("{failed} failed"))
        }
    })
    .await;
    assert!(
        asked.elapsed() >= Duration::from_secs(84),
        "{:?}",
        asked.elapsed()
    );
    // Each attempt went to Brevo under the same idempotency key.
    let requests = brevo.received_requests().await.unwrap();
    assert_eq!(requests.len(), 5);
    let keys: std::collections::HashSet<String> = requests
        .iter()
        .map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            body["headers"]["idempotencyKey"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
}

/// Whoever signs up types the name, perhaps for someone else's address: the
/// verification email does not carry it, and its link is an `<a href>`.
#[tokio::test]
async fn a_verification_email_does_not_repeat_the_name_typed_at_sign_up() {
    let brevo = gavel_testkit::mail::brevo().await;
    let mut settlement = settlement_args();
    settlement.brevo_api_key = Some(secrecy::SecretString::from("xkeysib-test"));
    settlement.brevo_base_url = brevo.uri();
    let app = spawn_app_on(shared_temporal(), http_args(), settlement).await;
    let email = format!("target-{}@example.com", uuid::Uuid::new_v4().simple());
    let name = "Claim your prize at evil.example";
    expect_status(
        app.register(&email, PASSWORD, name, "bidder").await,
        StatusCode::CREATED,
    )
    .await;
    wait_for_tokens(&brevo, "verify_email", &email, "/verify-email", 1).await;
    let requests = brevo.received_requests().await.unwrap();
    let sent: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    let html = sent["htmlContent"].as_str().unwrap();
    let text = sent["textContent"].as_str().unwrap();
    for body in [html, text] {
        assert!(!body.contains("evil.example"), "{body}");
    }
    assert!(html.contains(">Hello,</p>"), "{html}");
    assert!(
        html.contains("<a href=\"http://gavel.test/verify-email?token="),
        "{html}"
    );
    assert!(
        sent["to"][0].get("name").is_none_or(|n| n.is_null()),
        "{sent}"
    );
}
