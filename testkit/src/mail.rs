//! Brevo's transactional-email API stand-in (wiremock), shaped like its
//! documented contract.

use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{method, path},
};

/// Where Brevo takes an email.
pub const SEND_PATH: &str = "/v3/smtp/email";

/// Brevo's answer to a sent email: 201 with a message id made from the
/// request's idempotency key (so a resend is recognisably the same email).
pub fn accepted(request: &Request) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let key = body["headers"]["idempotencyKey"]
        .as_str()
        .unwrap_or("x")
        .to_owned();
    ResponseTemplate::new(201).set_body_json(json!({ "messageId": format!("<{key}@relay>") }))
}

/// A Brevo that accepts every email.
pub async fn brevo() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .respond_with(accepted)
        .mount(&server)
        .await;
    server
}
