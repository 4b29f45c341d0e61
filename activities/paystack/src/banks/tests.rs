//! Banks, account look-ups and recipients against wiremock stubs shaped like
//! Paystack's documented answers.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{bearer_token, body_json, method, path, query_param, query_param_is_missing},
};

use crate::{NewRecipient, Paystack, PaystackConfig, PaystackError};

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

fn bank(
    name: &str,
    code: &str,
    active: bool,
    is_deleted: serde_json::Value,
    kind: &str,
) -> serde_json::Value {
    json!({
        "name": name, "slug": name.to_lowercase().replace(' ', "-"), "code": code,
        "longcode": "", "gateway": null, "pay_with_bank": false, "active": active,
        "is_deleted": is_deleted, "country": "Nigeria", "currency": "NGN", "type": kind,
        "id": 9, "createdAt": "2016-07-14T10:04:29.000Z", "updatedAt": "2020-02-18T08:06:44.000Z"
    })
}

#[tokio::test]
async fn banks_are_listed_across_pages_with_their_codes_as_sent() {
    let (server, paystack) = client().await;
    Mock::given(method("GET"))
        .and(path("/bank"))
        .and(bearer_token(KEY))
        .and(query_param("currency", "NGN"))
        .and(query_param_is_missing("next"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": true, "message": "Banks retrieved",
            "data": [
                bank("Access Bank", "044", true, json!(false), "nuban"),
                bank("Guaranty Trust Bank", "058", true, json!(null), "nuban"),
            ],
            "meta": { "next": "YmFuazoxNg==", "previous": null, "perPage": 2 }
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/bank"))
        .and(query_param("next", "YmFuazoxNg=="))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": true, "message": "Banks retrieved",
            "data": [
                bank("Old Bank", "090", false, json!(false), "nuban"),
                bank("Gone Bank", "091", true, json!(true), "nuban"),
                bank("Mobile Money", "MPS", true, json!(false), "mobile_money"),
            ],
            "meta": { "next": null, "previous": "YmFuazoxNg==", "perPage": 2 }
        })))
        .expect(1)
        .mount(&server)
        .await;
    let banks = paystack.list_banks("NGN").await.unwrap();
    let codes: Vec<&str> = banks.iter().map(|b| b.code.as_str()).collect();
    assert_eq!(codes, ["044", "058", "090", "091", "MPS"]);
    let offered: Vec<&str> = banks
        .iter()
        .filter(|b| b.offered_for("NGN"))
        .map(|b| b.code.as_str())
        .collect();
    assert_eq!(
        offered,
        ["044", "058"],
        "inactive, deleted and non-NUBAN banks are not offered"
    );
}

#[tokio::test]
async fn an_account_resolves_with_leading_zeros_kept() {
    let (server, paystack) = client().await;
    Mock::given(method("GET"))
        .and(path("/bank/resolve"))
        .and(bearer_token(KEY))
        .and(query_param("account_number", "0001234567"))
        .and(query_param("bank_code", "058"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": true, "message": "Account number resolved",
            "data": { "account_number": "0001234567", "account_name": "Doe Jane Loren", "bank_id": 9 }
        })))
        .expect(1)
        .mount(&server)
        .await;
    let account = paystack.resolve_account("0001234567", "058").await.unwrap();
    assert_eq!(account.unwrap().account_name, "Doe Jane Loren");
}

#[tokio::test]
async fn an_unresolvable_account_is_none() {
    let (server, paystack) = client().await;
    Mock::given(method("GET"))
        .and(path("/bank/resolve"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "status": false,
            "message": "Could not resolve account name. Check parameters or try again."
        })))
        .mount(&server)
        .await;
    assert_eq!(
        paystack.resolve_account("0000000000", "058").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn test_modes_daily_cap_is_a_rate_limit_not_an_unknown_account() {
    let (server, paystack) = client().await;
    Mock::given(method("GET"))
        .and(path("/bank/resolve"))
        .and(query_param("bank_code", "058"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "status": false,
            "message": "Test mode daily limit of 3 live bank resolves exceeded. Use test bank codes 001 ..."
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/bank/resolve"))
        .and(query_param("bank_code", "044"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "status": false, "message": "Too many requests"
        })))
        .mount(&server)
        .await;
    for code in ["058", "044"] {
        let err = paystack
            .resolve_account("0001234567", code)
            .await
            .unwrap_err();
        assert!(
            matches!(err, PaystackError::RateLimited { .. }),
            "{code}: {err:?}"
        );
    }
}

fn recipient_answer() -> serde_json::Value {
    json!({
        "status": true, "message": "Transfer recipient created successfully",
        "data": {
            "active": true, "createdAt": "2026-12-06T10:00:00.000Z", "currency": "NGN",
            "domain": "test", "id": 87_654_321, "integration": 100_032, "name": "Doe Jane Loren",
            "recipient_code": "RCP_1a2b3c4d5e", "type": "nuban", "is_deleted": false,
            "details": { "authorization_code": null, "account_number": "0001234567",
                         "account_name": null, "bank_code": "058", "bank_name": "Guaranty Trust Bank" }
        }
    })
}

fn new_recipient() -> NewRecipient {
    NewRecipient {
        name: "Doe Jane Loren".into(),
        account_number: "0001234567".into(),
        bank_code: "058".into(),
        currency: "NGN".into(),
    }
}

#[tokio::test]
async fn a_recipient_is_created_as_a_nuban() {
    let (server, paystack) = client().await;
    Mock::given(method("POST"))
        .and(path("/transferrecipient"))
        .and(bearer_token(KEY))
        .and(body_json(json!({
            "type": "nuban", "name": "Doe Jane Loren", "account_number": "0001234567",
            "bank_code": "058", "currency": "NGN"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(recipient_answer()))
        .expect(1)
        .mount(&server)
        .await;
    let recipient = paystack.create_recipient(&new_recipient()).await.unwrap();
    assert_eq!(recipient.recipient_code, "RCP_1a2b3c4d5e");
    assert_eq!(recipient.id, Some(87_654_321));
    assert_eq!(recipient.bank_name.as_deref(), Some("Guaranty Trust Bank"));
}

#[tokio::test]
async fn an_existing_recipient_answered_with_200_is_the_same_recipient() {
    let (server, paystack) = client().await;
    Mock::given(method("POST"))
        .and(path("/transferrecipient"))
        .respond_with(ResponseTemplate::new(200).set_body_json(recipient_answer()))
        .expect(2)
        .mount(&server)
        .await;
    let first = paystack.create_recipient(&new_recipient()).await.unwrap();
    let again = paystack.create_recipient(&new_recipient()).await.unwrap();
    assert_eq!(first, again);
}

#[tokio::test]
async fn a_recipient_is_deactivated_and_an_unknown_one_is_as_good_as_gone() {
    let (server, paystack) = client().await;
    Mock::given(method("DELETE"))
        .and(path("/transferrecipient/RCP_1a2b3c4d5e"))
        .and(bearer_token(KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": true, "message": "Transfer recipient set as inactive"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/transferrecipient/RCP_unknown"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "status": false, "message": "Transfer recipient not found"
        })))
        .mount(&server)
        .await;
    paystack
        .deactivate_recipient("RCP_1a2b3c4d5e")
        .await
        .unwrap();
    paystack.deactivate_recipient("RCP_unknown").await.unwrap();
}
