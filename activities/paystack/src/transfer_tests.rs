//! The transfers client against wiremock stubs shaped like Paystack's
//! answers (initiate, verify, finalize, balance) and its transfer webhook.

use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{bearer_token, body_json, body_partial_json, method, path},
};

use super::*;
use crate::transfers::{Initiated, Transfer, TransferRefusal, TransferRequest, TransferStatus};

const KEY: &str = "sk_test_0123456789";

/// Paystack's `transfer.success` webhook, byte for byte as signed.
pub const TRANSFER_SUCCESS: &str = include_str!("../fixtures/transfer_success.json");

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

fn request() -> TransferRequest<'static> {
    TransferRequest {
        source: "balance",
        amount: 237_500,
        recipient: "RCP_gd9vgag7n5lr5ix",
        reference: "gvl-po-000042-lot-0007-a1",
        reason: "Gavel payout lot 7",
        currency: "NGN",
    }
}

/// `POST /transfer`'s answer: `recipient` is Paystack's integer id here.
fn queued(status: &str) -> Value {
    json!({
        "status": true, "message": "Transfer has been queued",
        "data": {
            "integration": 463_433, "domain": "test", "amount": 237_500, "currency": "NGN",
            "source": "balance", "reason": "Gavel payout lot 7", "recipient": 56_824_902,
            "status": status, "transfer_code": "TRF_v5tip3zx8nna9o78", "id": 860_703_114,
            "reference": "gvl-po-000042-lot-0007-a1",
            "createdAt": "2025-08-04T10:32:40.000Z", "updatedAt": "2025-08-04T10:32:40.000Z"
        }
    })
}

async fn initiate_answering(response: ResponseTemplate) -> Initiated {
    let (server, paystack) = client().await;
    Mock::given(method("POST"))
        .and(path("/transfer"))
        .and(bearer_token(KEY))
        .and(body_json(json!({
            "source": "balance", "amount": 237_500, "recipient": "RCP_gd9vgag7n5lr5ix",
            "reference": "gvl-po-000042-lot-0007-a1", "reason": "Gavel payout lot 7",
            "currency": "NGN"
        })))
        .respond_with(response)
        .expect(1)
        .mount(&server)
        .await;
    paystack.initiate_transfer(&request()).await.unwrap()
}

#[tokio::test]
async fn an_initiated_transfer_carries_its_status_and_code() {
    for (word, status) in [
        ("pending", TransferStatus::Pending),
        ("success", TransferStatus::Success),
        ("otp", TransferStatus::Otp),
    ] {
        let Initiated::Created(transfer) =
            initiate_answering(ResponseTemplate::new(200).set_body_json(queued(word))).await
        else {
            panic!("{word}: not created");
        };
        assert_eq!(transfer.status(), status);
        assert_eq!(
            transfer.transfer_code.as_deref(),
            Some("TRF_v5tip3zx8nna9o78")
        );
        assert_eq!(
            transfer.reference.as_deref(),
            Some("gvl-po-000042-lot-0007-a1")
        );
        assert_eq!(transfer.amount, Some(237_500));
        // An integer recipient has no code to read.
        assert_eq!(transfer.recipient_code(), None);
    }
}

#[tokio::test]
async fn a_short_balance_is_a_refusal_to_retry_later() {
    let answer = initiate_answering(ResponseTemplate::new(400).set_body_json(json!({
        "status": false, "message": "Your balance is not enough to fulfil this request"
    })))
    .await;
    assert!(
        matches!(
            answer,
            Initiated::NotCreated(TransferRefusal::InsufficientBalance)
        ),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_used_reference_is_a_duplicate_whether_400_or_404() {
    for status in [400, 404] {
        let answer = initiate_answering(ResponseTemplate::new(status).set_body_json(json!({
            "status": false,
            "message": "Please provide a unique reference. Reference already exists on a transfer",
            "code": "duplicate_transfer_reference", "type": "validation_error"
        })))
        .await;
        assert!(
            matches!(
                answer,
                Initiated::NotCreated(TransferRefusal::DuplicateReference)
            ),
            "{status}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn an_invalid_recipient_is_refused() {
    let answer = initiate_answering(ResponseTemplate::new(400).set_body_json(json!({
        "status": false, "message": "Invalid transfer recipient",
        "code": "invalid_transfer_recipient", "type": "validation_error"
    })))
    .await;
    let Initiated::NotCreated(TransferRefusal::Refused(message)) = answer else {
        panic!("{answer:?}");
    };
    assert!(message.contains("recipient"), "{message}");
}

#[tokio::test]
async fn a_server_error_on_initiate_is_retryable() {
    let (server, paystack) = client().await;
    Mock::given(method("POST"))
        .and(path("/transfer"))
        .respond_with(ResponseTemplate::new(502).set_body_string("bad gateway"))
        .mount(&server)
        .await;
    let err = paystack.initiate_transfer(&request()).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

#[tokio::test]
async fn verify_reads_the_recipient_object_and_fee_or_nothing() {
    let (server, paystack) = client().await;
    let fixture: Value = serde_json::from_str(TRANSFER_SUCCESS).unwrap();
    let mut data = fixture["data"].clone();
    data["fee_charged"] = json!(1_000);
    Mock::given(method("GET"))
        .and(path("/transfer/verify/gvl-po-000042-lot-0007-a1"))
        .and(bearer_token(KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": true, "message": "Transfer retrieved", "data": data
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/transfer/verify/gvl-po-missing-a1"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({ "status": false, "message": "Transfer not found" })),
        )
        .mount(&server)
        .await;
    let found = paystack
        .verify_transfer("gvl-po-000042-lot-0007-a1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.status(), TransferStatus::Success);
    assert_eq!(found.recipient_code(), Some("RCP_gd9vgag7n5lr5ix"));
    assert_eq!(found.fee_charged, Some(1_000));
    assert_eq!(found.currency.as_deref(), Some("NGN"));
    assert!(
        paystack
            .verify_transfer("gvl-po-missing-a1")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn finalize_sends_the_code_and_otp() {
    let (server, paystack) = client().await;
    Mock::given(method("POST"))
        .and(path("/transfer/finalize_transfer"))
        .and(body_partial_json(
            json!({ "transfer_code": "TRF_v5tip3zx8nna9o78", "otp": "928783" }),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(queued("pending")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/transfer/finalize_transfer"))
        .and(body_partial_json(json!({ "transfer_code": "TRF_bad" })))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "status": false, "message": "Transfer code is invalid"
        })))
        .mount(&server)
        .await;
    let done = paystack
        .finalize_transfer("TRF_v5tip3zx8nna9o78", "928783")
        .await
        .unwrap();
    assert_eq!(done.status(), TransferStatus::Pending);
    let err = paystack
        .finalize_transfer("TRF_bad", "928783")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PaystackError::Invalid { message, .. } if message == "Transfer code is invalid"),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn the_balance_is_read_for_the_currency() {
    let (server, paystack) = client().await;
    Mock::given(method("GET"))
        .and(path("/balance"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": true, "message": "Balances retrieved",
            "data": [{ "currency": "NGN", "balance": 1_700_000 }, { "currency": "USD", "balance": "25" }]
        })))
        .mount(&server)
        .await;
    assert_eq!(paystack.balance("NGN").await.unwrap(), 1_700_000);
    assert_eq!(paystack.balance("usd").await.unwrap(), 25);
    assert_eq!(paystack.balance("GHS").await.unwrap(), 0);
}

#[test]
fn the_webhook_fixture_parses_as_a_transfer() {
    assert_eq!(TRANSFER_SUCCESS.len(), 930);
    let event: Value = serde_json::from_str(TRANSFER_SUCCESS).unwrap();
    assert_eq!(event["event"], "transfer.success");
    let transfer: Transfer = serde_json::from_value(event["data"].clone()).unwrap();
    assert_eq!(transfer.status(), TransferStatus::Success);
    assert_eq!(
        transfer.reference.as_deref(),
        Some("gvl-po-000042-lot-0007-a1")
    );
    assert_eq!(
        transfer.transfer_code.as_deref(),
        Some("TRF_v5tip3zx8nna9o78")
    );
    assert_eq!(transfer.amount, Some(237_500));
    assert_eq!(transfer.recipient_code(), Some("RCP_gd9vgag7n5lr5ix"));
    assert_eq!(transfer.fee_charged, Some(0));
}

#[test]
fn statuses_read_and_print_the_same_words() {
    for word in [
        "pending",
        "success",
        "failed",
        "reversed",
        "otp",
        "abandoned",
        "blocked",
        "rejected",
        "received",
        "queued",
    ] {
        assert_eq!(TransferStatus::of(word).as_str(), word);
    }
    assert!(TransferStatus::of("reversed").is_dead());
    assert!(!TransferStatus::of("otp").is_dead());
    assert!(!TransferStatus::of("queued").is_dead());
}
