//! A seller's payout account against a Paystack stand-in (wiremock): the
//! banks on offer (cached), an account looked up and kept pending with the
//! name its bank holds, confirmed into one transfer recipient, shown masked,
//! and removed; bidders have none, and an account the bank does not know
//! changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{method, path, query_param},
};

use crate::{
    helpers::{expect_error, expect_json, expect_status},
    stand_ins::*,
};

/// Paystack's banks (one inactive, one deleted, one not NUBAN), its look-up
/// of account 0001234567 at bank 058 and of nothing else, and its recipients.
pub(crate) async fn mount_paystack(s: &Scene) {
    let bank = |name: &str, code: &str, active: bool, deleted: Value, kind: &str| {
        json!({ "name": name, "slug": name, "code": code, "longcode": "", "gateway": null,
                "pay_with_bank": false, "active": active, "is_deleted": deleted,
                "country": "Nigeria", "currency": "NGN", "type": kind, "id": 9,
                "createdAt": "2016-07-14T10:04:29.000Z", "updatedAt": "2020-02-18T08:06:44.000Z" })
    };
    Mock::given(method("GET"))
        .and(path("/bank"))
        .and(query_param("currency", "NGN"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": true, "message": "Banks retrieved",
            "data": [
                bank("Guaranty Trust Bank", "058", true, json!(null), "nuban"),
                bank("Access Bank", "044", true, json!(false), "nuban"),
                bank("Old Bank", "090", false, json!(false), "nuban"),
                bank("Gone Bank", "091", true, json!(true), "nuban"),
                bank("Mobile Money", "MPS", true, json!(false), "mobile_money"),
            ],
            "meta": { "next": null, "previous": null, "perPage": 100 }
        })))
        .mount(&s.paystack)
        .await;
    Mock::given(method("GET"))
        .and(path("/bank/resolve"))
        .and(query_param("account_number", "0001234567"))
        .and(query_param("bank_code", "058"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": true, "message": "Account number resolved",
            "data": { "account_number": "0001234567", "account_name": "Doe Jane Loren", "bank_id": 9 }
        })))
        .mount(&s.paystack)
        .await;
    Mock::given(method("GET"))
        .and(path("/bank/resolve"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "status": false,
            "message": "Could not resolve account name. Check parameters or try again."
        })))
        .mount(&s.paystack)
        .await;
    Mock::given(method("POST"))
        .and(path("/transferrecipient"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "status": true, "message": "Transfer recipient created successfully",
            "data": { "active": true, "currency": "NGN", "domain": "test", "id": 87_654_321,
                      "name": "Doe Jane Loren", "recipient_code": "RCP_1a2b3c4d5e", "type": "nuban",
                      "details": { "account_number": "0001234567", "account_name": null,
                                   "bank_code": "058", "bank_name": "Guaranty Trust Bank" } }
        })))
        .mount(&s.paystack)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/transferrecipient/RCP_1a2b3c4d5e"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": true, "message": "Transfer recipient set as inactive"
        })))
        .mount(&s.paystack)
        .await;
}

/// The requests Paystack received at `method path`.
pub(crate) async fn calls(s: &Scene, verb: &str, at: &str) -> usize {
    s.paystack
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == verb && r.url.path() == at)
        .count()
}

async fn put_account(s: &Scene, token: &str, body: &Value) -> reqwest::Response {
    s.app
        .request(Method::PUT, "/api/v1/me/payout-account", Some(token))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn accounts(s: &Scene) -> Value {
    expect_json(
        s.app
            .get("/api/v1/me/payout-account", Some(&s.seller.token))
            .await,
        StatusCode::OK,
    )
    .await
}

#[tokio::test]
async fn a_seller_adds_confirms_and_removes_a_payout_account() {
    let s = scene().await;
    mount_paystack(&s).await;

    // The banks on offer: active NUBAN banks by name, fetched once.
    for _ in 0..2 {
        let banks: Value = expect_json(
            s.app
                .get("/api/v1/banks?currency=NGN", Some(&s.seller.token))
                .await,
            StatusCode::OK,
        )
        .await;
        let codes: Vec<&str> = banks["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, ["044", "058"], "{banks}");
    }
    assert_eq!(calls(&s, "GET", "/bank").await, 1, "the list is cached");

    // Nothing yet.
    assert_eq!(
        accounts(&s).await,
        json!({ "confirmed": null, "pending": null })
    );

    // A bidder has no payout account.
    let bidder_put = put_account(
        &s,
        &s.ada.token,
        &json!({ "currency": "NGN", "bank_code": "058", "account_number": "0001234567" }),
    )
    .await;
    expect_error(bidder_put, StatusCode::FORBIDDEN, "forbidden").await;
    expect_error(
        s.app
            .get("/api/v1/me/payout-account", Some(&s.ada.token))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Refused input changes nothing.
    for (body, code) in [
        (
            json!({ "currency": "NGN", "bank_code": "058", "account_number": "0009999999" }),
            "account_not_resolved",
        ),
        (
            json!({ "currency": "NGN", "bank_code": "090", "account_number": "0001234567" }),
            "unknown_bank",
        ),
        (
            json!({ "currency": "NGN", "bank_code": "058", "account_number": "12345" }),
            "invalid_account_number",
        ),
        (
            json!({ "currency": "USD", "bank_code": "058", "account_number": "0001234567" }),
            "unsupported_currency",
        ),
    ] {
        let response = put_account(&s, &s.seller.token, &body).await;
        expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    assert_eq!(
        accounts(&s).await,
        json!({ "confirmed": null, "pending": null })
    );
    expect_error(
        s.app
            .post_json(
                "/api/v1/me/payout-account/confirm",
                &json!({}),
                Some(&s.seller.token),
            )
            .await,
        StatusCode::CONFLICT,
        "no_pending_account",
    )
    .await;

    // Looked up: pending, with the name the bank holds, the number in full.
    let pending: Value = expect_json(
        put_account(
            &s,
            &s.seller.token,
            &json!({ "currency": "NGN", "bank_code": "058", "account_number": "0001234567" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(pending["state"], "pending");
    assert_eq!(pending["account_name"], "Doe Jane Loren");
    assert_eq!(pending["account_number"], "0001234567");
    assert_eq!(pending["bank_name"], "Guaranty Trust Bank");
    assert_eq!(pending["currency"], "NGN");
    assert_eq!(calls(&s, "POST", "/transferrecipient").await, 0);

    // Confirmed: one recipient, the number masked.
    let confirmed: Value = expect_json(
        s.app
            .post_json(
                "/api/v1/me/payout-account/confirm",
                &json!({}),
                Some(&s.seller.token),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(confirmed["state"], "confirmed");
    assert_eq!(confirmed["account_number"], "••••••4567");
    assert_eq!(calls(&s, "POST", "/transferrecipient").await, 1);
    let both = accounts(&s).await;
    assert_eq!(both["pending"], Value::Null);
    assert_eq!(both["confirmed"]["account_number"], "••••••4567");
    assert_eq!(both["confirmed"]["account_name"], "Doe Jane Loren");
    let stored = s
        .app
        .count("SELECT count(*) FROM payout_accounts WHERE state = 'confirmed' AND recipient_code = 'RCP_1a2b3c4d5e'")
        .await;
    assert_eq!(stored, 1);
    // Confirming again finds nothing pending and creates nothing.
    expect_error(
        s.app
            .post_json(
                "/api/v1/me/payout-account/confirm",
                &json!({}),
                Some(&s.seller.token),
            )
            .await,
        StatusCode::CONFLICT,
        "no_pending_account",
    )
    .await;
    assert_eq!(calls(&s, "POST", "/transferrecipient").await, 1);

    // Removed: the recipient set inactive at Paystack, the rows gone.
    let removed = s
        .app
        .request(
            Method::DELETE,
            "/api/v1/me/payout-account",
            Some(&s.seller.token),
        )
        .send()
        .await
        .unwrap();
    expect_status(removed, StatusCode::NO_CONTENT).await;
    assert_eq!(
        calls(&s, "DELETE", "/transferrecipient/RCP_1a2b3c4d5e").await,
        1
    );
    assert_eq!(
        accounts(&s).await,
        json!({ "confirmed": null, "pending": null })
    );
}
