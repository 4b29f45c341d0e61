//! The client against wiremock stubs shaped like Paystack's documented answers.

use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{bearer_token, body_partial_json, method, path},
};

use super::*;

const KEY: &str = "sk_test_0123456789";

async fn client() -> (MockServer, Paystack) {
    let server = MockServer::start().await;
    let paystack = Paystack::new(PaystackConfig {
        base_url: server.uri(),
        secret_key: SecretString::from(KEY),
        timeout: Duration::from_secs(2),
        callback_url: None,
    });
    (server, paystack)
}

fn verified(reference: &str, status: &str, amount: Value) -> Value {
    json!({
        "status": true,
        "message": "Verification successful",
        "data": {
            "id": 4_099_260_516_u64, "domain": "test", "status": status, "reference": reference,
            "amount": amount, "currency": "NGN", "gateway_response": "Successful",
            "paid_at": "2024-08-22T09:15:02.000Z", "metadata": "", "log": null,
            "authorization": {
                "authorization_code": "AUTH_uh8bcl3zbn", "bin": "408408", "last4": "4081",
                "exp_month": "12", "exp_year": "2030", "channel": "card", "card_type": "visa ",
                "bank": "TEST BANK", "country_code": "NG", "brand": "visa", "reusable": true,
                "signature": "SIG_yEXu7dLBeqG0kU7g95Ke", "account_name": null
            },
            "customer": { "id": 181_873_746, "email": "demo@test.com", "metadata": null },
            "plan": {}, "some_future_field": [1, 2, 3]
        }
    })
}

fn initialize_request<'a>() -> InitializeRequest<'a> {
    InitializeRequest {
        email: "ada@example.com",
        amount: 250_000,
        currency: "NGN",
        reference: "gv-inv-1-r1",
        callback_url: None,
        metadata: json!({ "invoice": 1 }),
    }
}

#[tokio::test]
async fn initialize_sends_the_key_an_integer_amount_and_the_reference() {
    let (server, paystack) = client().await;
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .and(bearer_token(KEY))
        .and(body_partial_json(json!({
            "email": "ada@example.com", "amount": 250_000, "currency": "NGN", "reference": "gv-inv-1-r1"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": true, "message": "Authorization URL created",
            "data": { "authorization_url": "https://checkout.paystack.com/3ni8kdavz62431k",
                      "access_code": "3ni8kdavz62431k", "reference": "gv-inv-1-r1" }
        })))
        .expect(1)
        .mount(&server)
        .await;
    let checkout = paystack.initialize(&initialize_request()).await.unwrap();
    assert_eq!(
        checkout.authorization_url,
        "https://checkout.paystack.com/3ni8kdavz62431k"
    );
    assert_eq!(checkout.reference, "gv-inv-1-r1");
}

#[tokio::test]
async fn every_failure_is_classified() {
    let cases: Vec<(ResponseTemplate, &str, bool)> = vec![
        (
            ResponseTemplate::new(400).set_body_json(json!({
                "status": false, "message": "Duplicate Transaction Reference",
                "type": "validation_error", "code": "duplicate_reference"
            })),
            "PaystackDuplicateReference",
            false,
        ),
        (
            ResponseTemplate::new(400).set_body_json(json!({
                "status": false, "message": "Email Address is required", "code": "missing_params"
            })),
            "PaystackInvalidRequest",
            false,
        ),
        (
            ResponseTemplate::new(401).set_body_json(json!({ "status": false, "message": "Invalid key" })),
            "PaystackBadKey",
            false,
        ),
        (
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-reset", "30")
                .set_body_json(json!({ "status": false, "message": "Rate limit exceeded!", "code": "rate_limited" })),
            "PaystackRateLimited",
            true,
        ),
        (
            ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"),
            "PaystackServerError",
            true,
        ),
        (
            ResponseTemplate::new(200).set_body_string("not json"),
            "PaystackMalformedResponse",
            true,
        ),
    ];
    for (response, failure_type, retryable) in cases {
        let (server, paystack) = client().await;
        Mock::given(method("POST"))
            .and(path("/transaction/initialize"))
            .respond_with(response)
            .mount(&server)
            .await;
        let err = paystack
            .initialize(&initialize_request())
            .await
            .unwrap_err();
        assert_eq!(err.failure_type(), failure_type, "{err}");
        assert_eq!(err.is_retryable(), retryable, "{err}");
        if let PaystackError::RateLimited { retry_after } = err {
            assert_eq!(retry_after, Some(Duration::from_secs(30)));
        }
    }
}

#[tokio::test]
async fn an_unreachable_paystack_is_retryable() {
    let paystack = Paystack::new(PaystackConfig {
        base_url: "http://127.0.0.1:9".into(),
        secret_key: SecretString::from(KEY),
        timeout: Duration::from_secs(1),
        callback_url: None,
    });
    let err = paystack.verify("x").await.unwrap_err();
    assert!(err.is_retryable());
    assert!(!err.to_string().contains(KEY));
}

#[tokio::test]
async fn verify_checks_status_amount_and_currency() {
    let (server, paystack) = client().await;
    Mock::given(method("GET"))
        .and(path("/transaction/verify/paid-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(verified(
            "paid-1",
            "success",
            json!(250_000),
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/transaction/verify/string-amount"))
        .respond_with(ResponseTemplate::new(200).set_body_json(verified(
            "string-amount",
            "success",
            json!("250000"),
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/transaction/verify/abandoned"))
        .respond_with(ResponseTemplate::new(200).set_body_json(verified(
            "abandoned",
            "abandoned",
            json!(250_000),
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/transaction/verify/missing"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "status": false, "message": "Transaction reference not found"
        })))
        .mount(&server)
        .await;

    let paid = paystack.verify("paid-1").await.unwrap().unwrap();
    assert_eq!(paid.check(250_000, "NGN"), PaymentCheck::Paid);
    assert_eq!(
        paid.check(300_000, "NGN"),
        PaymentCheck::Mismatch {
            amount: Some(250_000),
            currency: Some("NGN".into())
        }
    );
    assert!(matches!(
        paid.check(250_000, "GHS"),
        PaymentCheck::Mismatch { .. }
    ));
    assert_eq!(
        paid.authorization.as_ref().unwrap().reusable_code(),
        Some("AUTH_uh8bcl3zbn")
    );
    let string_amount = paystack.verify("string-amount").await.unwrap().unwrap();
    assert_eq!(string_amount.check(250_000, "NGN"), PaymentCheck::Paid);
    let abandoned = paystack.verify("abandoned").await.unwrap().unwrap();
    assert_eq!(
        abandoned.check(250_000, "NGN"),
        PaymentCheck::NotPaid {
            status: "abandoned".into()
        }
    );
    assert_eq!(paystack.verify("missing").await.unwrap(), None);
}

#[tokio::test]
async fn a_paused_charge_is_not_a_payment() {
    let (server, paystack) = client().await;
    Mock::given(method("POST"))
        .and(path("/transaction/charge_authorization"))
        .and(body_partial_json(
            json!({ "authorization_code": "AUTH_x", "amount": 1_000 }),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": true,
            "message": "Please, redirect your customer to the authorization url provided",
            "data": { "authorization_url": "https://checkout.paystack.com/resume/0744ub5o065nwyz",
                      "reference": "r-1", "access_code": "0744ub5o065nwyz", "paused": true }
        })))
        .mount(&server)
        .await;
    let charge = paystack
        .charge_authorization(&ChargeRequest {
            email: "ada@example.com",
            amount: 1_000,
            currency: "NGN",
            authorization_code: "AUTH_x",
            reference: "r-1",
            metadata: "{}".into(),
        })
        .await
        .unwrap();
    assert_eq!(charge.paused, Some(true));
    assert!(matches!(
        charge.check(1_000, "NGN"),
        PaymentCheck::NotPaid { .. }
    ));
}

#[test]
fn references_use_only_what_paystack_allows() {
    assert!(valid_reference("gv-0193a.inv=2"));
    for bad in ["", "has_underscore", "with:colon", "sl/ash", "spa ce"] {
        assert!(!valid_reference(bad), "{bad}");
    }
}

#[tokio::test]
async fn a_refund_names_the_transaction_and_the_amount() {
    let (server, paystack) = client().await;
    Mock::given(method("POST"))
        .and(path("/refund"))
        .and(body_partial_json(
            json!({ "transaction": "gavel-1", "amount": 500 }),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": true, "message": "Refund has been queued for processing",
            "data": { "transaction": { "id": 1_004_723_697_u64, "reference": "gavel-1" },
                      "amount": 500, "status": "pending", "id": 3_018_284 }
        })))
        .expect(1)
        .mount(&server)
        .await;
    let refund = paystack.refund("gavel-1", Some(500)).await.unwrap();
    assert_eq!(refund.id, Some(3_018_284));
    assert_eq!(refund.status.as_deref(), Some("pending"));
}
