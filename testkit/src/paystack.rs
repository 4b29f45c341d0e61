//! Paystack's API stand-in pieces (wiremock), shaped like its documented
//! contract: the test key and its signatures, the answers tests mount, the
//! events Paystack sends, and a Paystack that charges every stored card
//! (the benchmark's).

use gavel::config::SettlementArgs;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{method, path, path_regex},
};

/// The stand-ins' secret key (`PAYSTACK_SECRET_KEY`); it signs webhooks.
pub const KEY: &str = "sk_test_gavel_0123456789";

/// `settlement` wired to the `paystack` and `brevo` stand-ins.
pub fn wired(
    mut settlement: SettlementArgs,
    paystack: &MockServer,
    brevo: &MockServer,
) -> SettlementArgs {
    settlement.paystack_secret_key = Some(SecretString::from(KEY));
    settlement.paystack_base_url = paystack.uri();
    settlement.brevo_api_key = Some(SecretString::from("xkeysib-test"));
    settlement.brevo_base_url = brevo.uri();
    settlement
}

/// `X-Paystack-Signature` of `body` under [`KEY`].
pub fn sign(body: &[u8]) -> String {
    gavel::webhook::sign(KEY, body).unwrap()
}

/// Paystack's transaction id for `reference` in these stand-ins (stable).
pub fn transaction_id(reference: &str) -> u64 {
    reference.bytes().fold(302_961_u64, |id, b| {
        id.wrapping_mul(31).wrapping_add(u64::from(b))
    }) % 9_000_000_000
}

/// A `charge.success` event for `reference`, as Paystack posts it.
pub fn charge_success(reference: &str, amount: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event": "charge.success",
        "data": {
            "id": transaction_id(reference), "domain": "test", "status": "success", "reference": reference,
            "amount": amount, "currency": "NGN", "gateway_response": "Successful",
            "paid_at": "2026-11-21T10:00:00.000Z", "channel": "card", "metadata": 0,
            "customer": { "email": "someone@example.com" },
            "authorization": { "authorization_code": "AUTH_test1", "reusable": true,
                               "signature": "SIG_test1", "last4": "4081", "brand": "visa" }
        }
    }))
    .unwrap()
}

/// `GET /transaction/verify/{reference}`'s answer for a paid `amount`.
pub fn verified(reference: &str, amount: i64) -> Value {
    json!({
        "status": true, "message": "Verification successful",
        "data": {
            "id": 4_099_260_516_u64, "status": "success", "reference": reference,
            "amount": amount, "currency": "NGN", "gateway_response": "Successful",
            "metadata": "", "customer": { "email": "bola@example.com" },
            "authorization": { "authorization_code": "AUTH_new", "reusable": true,
                               "signature": "SIG_card", "last4": "4081", "brand": "visa" }
        }
    })
}

/// `POST /transaction/initialize`'s answer: a checkout at `url`.
pub fn checkout(url: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "status": true, "message": "Authorization URL created",
        "data": { "authorization_url": url, "reference": "as-sent" }
    }))
}

/// A Paystack that charges every stored card and confirms what it charged,
/// starts checkouts, and knows no transaction it is asked to verify.
pub async fn charging_every_card() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/transaction/charge_authorization"))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            ResponseTemplate::new(200).set_body_json(json!({
                "status": true, "message": "Charge attempted",
                "data": { "id": 4_099_490_251_u64, "status": "success", "reference": body["reference"],
                          "amount": body["amount"], "currency": body["currency"], "metadata": "" }
            }))
        })
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            ResponseTemplate::new(200).set_body_json(json!({
                "status": true, "message": "Authorization URL created",
                "data": { "authorization_url": "https://checkout.paystack.com/bench",
                          "reference": body["reference"] }
            }))
        })
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("^/transaction/verify/.*"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({ "status": false, "message": "Transaction reference not found" }),
        ))
        .mount(&server)
        .await;
    server
}
