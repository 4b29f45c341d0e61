//! `POST /webhooks/paystack`: the signature (HMAC-SHA512 of the raw body with
//! the secret key, compared in constant time) is checked before anything is
//! stored; each event is stored once (by Paystack's id for its object) with
//! card details redacted. Then:
//! - `charge.success` for a known reference goes to its auction's workflow
//!   whatever the invoice's state (the workflow decides: pay, or refund), or,
//!   if that workflow has ended, to a follow-up workflow that refunds it;
//! - `refund.*` (its first delivery only) moves the refund it is about
//!   forward (never back), which the payment's state follows;
//! - `charge.dispute.create` flags the payment and invoice, tells admins and
//!   nudges the sale (a payout not yet sent is held);
//! - `charge.dispute.resolve` ends the dispute, records what Paystack gave
//!   back to the buyer as a refund, and nudges the sale;
//! - `transfer.success|failed|reversed` (first delivery, keyed by transfer
//!   code and status) is confirmed with Paystack and recorded on the payout's
//!   transfer ([`crate::service::payouts`]).

use std::borrow::Cow;

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use gavel_store::{
    invoices::{self, InvoiceStatus},
    ledger, paystack_events, refunds,
};
use gavel_workflows::{
    contract::settlement::{PaymentNotice, PaymentSource},
    followup::{FollowUp, followup_id},
};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha512;
use utoipa::ToSchema;

use crate::{
    auctions::gateway,
    error::{ApiError, ErrorBody},
    extract::ApiJson,
    service::payouts::{self, TransferReport},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/paystack", post(paystack))
}

/// Whether `signature` (lowercase hex) is the HMAC-SHA512 of `body` under
/// `secret`; compared in constant time.
pub fn signature_ok(secret: &SecretString, body: &[u8], signature: &str) -> bool {
    let Ok(expected) = hex::decode(signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha512>::new_from_slice(secret.expose_secret().as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Card fields never stored: the reusable authorization code (it charges the
/// card) and anything that is card data rather than a label.
const REDACTED: [&str; 6] = [
    "authorization_code",
    "bin",
    "pan",
    "cvv",
    "card_number",
    "account_number",
];

/// The event as stored: `REDACTED` fields replaced, wherever they are.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, inner)| {
                    let kept = if REDACTED.contains(&key.as_str()) && !inner.is_null() {
                        Value::String("[redacted]".into())
                    } else {
                        redact(inner)
                    };
                    (key.clone(), kept)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// What an event is about: its transaction reference (charges carry
/// `reference`, refunds `transaction_reference`, disputes a `transaction`).
fn reference_of(data: &Value) -> String {
    [
        data.get("reference"),
        data.get("transaction_reference"),
        data.get("transaction").and_then(|t| t.get("reference")),
    ]
    .into_iter()
    .flatten()
    .find_map(Value::as_str)
    .unwrap_or_default()
    .to_owned()
}

/// A transfer event's key: its transfer code and status (one transfer
/// reports several statuses: success, then perhaps reversed), else the
/// reference and status.
fn transfer_event_key(data: &Value, reference: &str) -> String {
    let status = data
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match data
        .get("transfer_code")
        .and_then(Value::as_str)
        .filter(|code| !code.is_empty())
    {
        Some(code) => format!("{code}:{status}"),
        None => format!("{reference}:{status}"),
    }
}

/// The key a redelivery shares with the first delivery: Paystack's id for
/// the event's object, else the reference and status and, for a refund,
/// Paystack's `refund_reference` when the event has one (else the amount,
/// since a transaction may have several partial refunds).
fn event_key(data: &Value, reference: &str) -> String {
    match data.get("id") {
        Some(Value::Number(id)) => id.to_string(),
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        _ => {
            let status = data
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if let Some(refund) = data
                .get("refund_reference")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                return format!("{reference}:{status}:ref:{refund}");
            }
            match gavel_paystack::amount_of(data) {
                Some(amount) => format!("{reference}:{status}:{amount}"),
                None => format!("{reference}:{status}"),
            }
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookAck {
    /// `stored`, or `duplicate` for a redelivery.
    pub status: Cow<'static, str>,
}

#[utoipa::path(post, path = "/webhooks/paystack", tag = "payments", operation_id = "receive_paystack_webhook",
    request_body(content = Object, content_type = "application/json", description = "a Paystack event `{event, data}`, signed"),
    params(("x-paystack-signature" = String, Header, description = "HMAC-SHA512 of the raw body with the secret key")),
    responses(
        (status = 200, body = WebhookAck, description = "stored (or already stored)"),
        (status = 400, body = ErrorBody, description = "`malformed_event`"),
        (status = 401, body = ErrorBody, description = "`invalid_signature`: nothing stored"),
        (status = 501, body = ErrorBody, description = "`payments_not_configured`: no Paystack key on this server"),
        (status = 503, body = ErrorBody, description = "`service_unavailable`: Temporal, the database or Paystack (asked which refund an event is about) is unavailable; nothing was applied and Paystack retries"),
    ))]
pub async fn paystack(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<ApiJson<WebhookAck>, ApiError> {
    let Some(paystack) = &state.config.paystack else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "payments_not_configured",
            "PAYSTACK_SECRET_KEY is not set on this server",
        ));
    };
    let signature = headers
        .get("x-paystack-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !signature_ok(paystack.secret_key(), &body, signature) {
        metrics::counter!("gavel_paystack_webhooks_rejected_total").increment(1);
        tracing::warn!(
            bytes = body.len(),
            "Paystack webhook with a bad or missing signature"
        );
        return Err(ApiError::unauthorized(
            "invalid_signature",
            "the x-paystack-signature header does not match the body",
        ));
    }
    let malformed = || ApiError::bad_request("malformed_event", "the body is not a Paystack event");
    let raw: Value = serde_json::from_slice(&body).map_err(|_| malformed())?;
    let event = raw
        .get("event")
        .and_then(Value::as_str)
        .ok_or_else(malformed)?
        .to_owned();
    let data = raw.get("data").cloned().unwrap_or(Value::Null);
    let reference = reference_of(&data);
    let key = if event.starts_with("transfer.") {
        transfer_event_key(&data, &reference)
    } else {
        event_key(&data, &reference)
    };
    let stored = paystack_events::record(&state.db, &event, &reference, &key, redact(&raw)).await?;
    let first = stored.is_some();
    let status = if first { "stored" } else { "duplicate" };
    tracing::info!(event = %event, %reference, status, "Paystack webhook");
    metrics::counter!("gavel_paystack_webhooks_total", "event" => event.clone(), "status" => status)
        .increment(1);

    match event.as_str() {
        "charge.success" => charge_succeeded(&state, &reference, first).await?,
        refund if refund.starts_with("refund.") => {
            if !first {
                tracing::info!(%reference, event = %event, "a redelivered refund event; the ledger is not touched again");
            } else if let Err(err) = refund_reported(&state, &reference, refund, &data).await {
                // Not applied: the event is forgotten, so Paystack's
                // redelivery (it retries a non-200) is applied instead of
                // being taken for a duplicate.
                if let Some(id) = stored {
                    let forgot = paystack_events::forget(&state.db, id).await;
                    if let Err(forget) = forgot {
                        tracing::error!(%reference, "a refund event not applied stays stored: {forget}");
                    }
                }
                return Err(err);
            }
        }
        "charge.dispute.create" => disputed(&state, &reference, &data).await?,
        "charge.dispute.resolve" => dispute_resolved(&state, &reference, &data).await?,
        "transfer.success" | "transfer.failed" | "transfer.reversed" if first => {
            if let Err(err) = transfer_reported(&state, &reference).await {
                // Not applied: forgotten, so Paystack's redelivery applies it.
                if let Some(id) = stored {
                    let forgot = paystack_events::forget(&state.db, id).await;
                    if let Err(forget) = forgot {
                        tracing::error!(%reference, "a transfer event not applied stays stored: {forget}");
                    }
                }
                return Err(err);
            }
        }
        _ => {}
    }
    Ok(ApiJson(WebhookAck {
        status: status.into(),
    }))
}

/// Applies a refund event (its first delivery) to the ledger. An event that
/// could be about several equal refunds is not guessed: each is updated to
/// what Paystack says of it (`GET /refund/{id}`).
async fn refund_reported(
    state: &AppState,
    reference: &str,
    event: &str,
    data: &Value,
) -> Result<(), ApiError> {
    let refund_status = data
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_else(|| event.trim_start_matches("refund."));
    // Only `refund.needs-attention` carries Paystack's refund id; the
    // others name the refund by `refund_reference` (when not null) and amount.
    let named = refunds::RefundNamed {
        amount: gavel_paystack::amount_of(data),
        id: match data.get("id") {
            Some(Value::Number(id)) => id.as_u64(),
            Some(Value::String(id)) => id.parse().ok(),
            _ => None,
        },
        reference: data.get("refund_reference").and_then(Value::as_str),
    };
    let amount = named.amount;
    match refunds::refund_reported(&state.db, reference, refund_status, named).await? {
        refunds::RefundReport::Moved(_) => {}
        refunds::RefundReport::Stale => {
            tracing::info!(%reference, refund_status, "a late refund event; nothing changed");
        }
        refunds::RefundReport::Recorded(id) => {
            tracing::warn!(%reference, refund = id, amount, refund_status,
                "a refund made outside Gavel; recorded");
        }
        refunds::RefundReport::NotAnswered => {
            // Not applied: answered 503 and forgotten (see the caller), so
            // Paystack's redelivery comes once the refund's answer is in.
            tracing::info!(%reference, refund_status, amount,
                "a refund event that may be about a refund Paystack has not answered yet; waiting for its redelivery");
            return Err(ApiError::unavailable(
                "Paystack's answer to an equal refund",
                anyhow::anyhow!("a refund of this amount awaits Paystack's answer"),
            ));
        }
        refunds::RefundReport::Unknown => {
            tracing::warn!(%reference, refund_status, amount,
                "a refund event Gavel cannot place; stored only");
        }
        refunds::RefundReport::Ambiguous(candidates) => {
            tracing::info!(%reference, refund_status, amount, candidates = candidates.len(),
                "a refund event that fits several refunds; asking Paystack about each");
            let Some(paystack) = &state.config.paystack else {
                return Ok(());
            };
            for (id, paystack_id) in candidates {
                let Some(paystack_id) = paystack_id else {
                    continue;
                };
                let found = paystack
                    .fetch_refund(paystack_id)
                    .await
                    .map_err(|err| ApiError::unavailable("Paystack", err))?;
                if let Some(status) = &found.status {
                    refunds::refund_moved(&state.db, id, Some(paystack_id), status).await?;
                }
            }
        }
    }
    Ok(())
}

/// A payout transfer's event, confirmed with Paystack and recorded.
async fn transfer_reported(state: &AppState, reference: &str) -> Result<(), ApiError> {
    match payouts::transfer_reported(state, reference).await? {
        TransferReport::Recorded(row) => {
            tracing::info!(%reference, status = %row.status, "transfer event applied");
        }
        TransferReport::Unknown | TransferReport::NotOnPaystack | TransferReport::Mismatch => {}
    }
    Ok(())
}

/// Hands a successful charge to the auction's workflow (or, once that has
/// ended, to a follow-up). A redelivery is handed on again only while the
/// invoice is unpaid, in case the first hand-over was lost.
async fn charge_succeeded(state: &AppState, reference: &str, first: bool) -> Result<(), ApiError> {
    let Some(invoice) = invoices::find_by_reference(&state.db, reference).await? else {
        tracing::info!(%reference, "charge.success for an unknown reference; stored only");
        return Ok(());
    };
    if !first && !matches!(invoice.status, InvoiceStatus::Open | InvoiceStatus::Offered) {
        return Ok(());
    }
    let notice = PaymentNotice {
        invoice_id: invoice.id,
        source: PaymentSource::Paystack {
            reference: reference.to_owned(),
        },
    };
    let delivered = gateway::notify_payment(
        &state.temporal,
        invoice.auction_id,
        notice.clone(),
        format!("paystack-{reference}"),
    )
    .await
    .map_err(|err| ApiError::unavailable("Temporal", err))?;
    if !delivered {
        tracing::warn!(%reference, invoice = %invoice.number,
            "a payment arrived after its auction ended; following it up");
        gateway::follow_up(
            &state.temporal,
            &state.config.task_queue,
            followup_id("payment", reference),
            FollowUp::LatePayment {
                auction_id: invoice.auction_id,
                notice,
            },
        )
        .await
        .map_err(|err| ApiError::unavailable("Temporal", err))?;
    }
    Ok(())
}

/// Flags a disputed payment and its invoice, and has every admin told.
async fn disputed(state: &AppState, reference: &str, data: &Value) -> Result<(), ApiError> {
    let Some(invoice_id) = ledger::disputed(&state.db, reference).await? else {
        tracing::warn!(%reference, "a dispute for an unknown reference; stored only");
        return Ok(());
    };
    let Some(invoice) = invoices::find(&state.db, invoice_id).await? else {
        return Ok(());
    };
    tracing::warn!(%reference, invoice = %invoice.number, "a payment was disputed");
    let amount = data
        .get("transaction")
        .and_then(|t| t.get("amount"))
        .or_else(|| data.get("amount"))
        .and_then(Value::as_i64);
    gateway::follow_up(
        &state.temporal,
        &state.config.task_queue,
        followup_id("dispute", reference),
        FollowUp::Dispute {
            auction_id: invoice.auction_id,
            invoice_id,
            amount,
        },
    )
    .await
    .map_err(|err| ApiError::unavailable("Temporal", err))?;
    // A payout not yet sent is held while the dispute is open.
    gateway::nudge_sale(&state.temporal, invoice_id, "dispute")
        .await
        .map_err(|err| ApiError::unavailable("Temporal", err))?;
    Ok(())
}

/// What Paystack gave back to the buyer when it resolved a dispute:
/// `refund_amount`, else the whole transaction when it was reversed.
fn dispute_given_back(data: &Value) -> Option<i64> {
    let amount = |v: Option<&Value>| match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    let transaction = data.get("transaction");
    amount(data.get("refund_amount"))
        .filter(|a| *a > 0)
        .or_else(|| {
            let reversed = transaction
                .and_then(|t| t.get("status"))
                .and_then(Value::as_str)
                == Some("reversed");
            reversed
                .then(|| amount(transaction.and_then(|t| t.get("amount"))))
                .flatten()
        })
}

/// Ends a payment's dispute (its payout may go ahead), records what Paystack
/// gave back as a refund (once per dispute), and nudges the sale.
async fn dispute_resolved(state: &AppState, reference: &str, data: &Value) -> Result<(), ApiError> {
    let dispute_id = match data.get("id") {
        Some(Value::Number(id)) => id.to_string(),
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        _ => reference.to_owned(),
    };
    let given_back = dispute_given_back(data);
    let Some(resolved) =
        ledger::dispute_resolved(&state.db, reference, &dispute_id, given_back).await?
    else {
        tracing::warn!(%reference, "a dispute resolution for an unknown reference; stored only");
        return Ok(());
    };
    tracing::warn!(%reference, invoice_id = %resolved.invoice_id, given_back,
        refund = resolved.refund_id, "a payment's dispute was resolved");
    gateway::nudge_sale(&state.temporal, resolved.invoice_id, "dispute resolved")
        .await
        .map_err(|err| ApiError::unavailable("Temporal", err))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn signatures_match_the_reference_vectors() {
        let secret = SecretString::from("sk_test_abc");
        let body = br#"{"event":"charge.success","data":{"reference":"ref_1"}}"#;
        let good = "5417d20af617ef42ea576c173d9f5468f8cb49d99d05f65392e68d0a614349ebccd94c87700725204bac033444f79f5fc80ada23739499c705eebd5c5918ee79";
        assert!(signature_ok(&secret, body, good));
        assert!(!signature_ok(&secret, b"{}", good));
        assert!(!signature_ok(
            &SecretString::from("sk_test_other"),
            body,
            good
        ));
        assert!(!signature_ok(&secret, body, "not hex"));
        assert!(!signature_ok(&secret, body, ""));
    }

    #[test]
    fn the_transfer_success_fixture_carries_paystacks_signature() {
        let body = include_bytes!("../../../activities/paystack/fixtures/transfer_success.json");
        assert_eq!(body.len(), 930);
        let secret = SecretString::from("sk_test_0123456789abcdef0123456789abcdef01234567");
        let signature = "49681f9e2ceda8f442bd133c38d024b9f1546752aa325b39bf17fd439fca9635707c9eea70d91d1509210a705aeddb814a42405190249c2a0d0c893f10890dde";
        assert!(signature_ok(&secret, body, signature));
    }

    #[test]
    fn stored_events_keep_no_authorization_code_or_card_data() {
        let event = json!({
            "event": "charge.success",
            "data": { "reference": "r", "authorization": {
                "authorization_code": "AUTH_secret", "bin": "408408", "last4": "4081",
                "brand": "visa", "signature": "SIG_x" },
                "log": [{ "card_number": "4084084084084081" }] }
        });
        let stored = redact(&event).to_string();
        assert!(!stored.contains("AUTH_secret"), "{stored}");
        assert!(!stored.contains("408408"), "{stored}");
        assert!(!stored.contains("4084084084084081"), "{stored}");
        assert!(
            stored.contains("4081") && stored.contains("visa"),
            "{stored}"
        );
    }

    #[test]
    fn events_are_keyed_by_paystack_id_or_reference_and_status() {
        let charge = json!({ "id": 302_961, "reference": "gavel-1" });
        assert_eq!(event_key(&charge, "gavel-1"), "302961");
        let refund = json!({ "transaction_reference": "gavel-1", "status": "processed" });
        assert_eq!(reference_of(&refund), "gavel-1");
        assert_eq!(event_key(&refund, "gavel-1"), "gavel-1:processed");
        // Two equal partial refunds are told apart by Paystack's reference.
        let named = |r: &str| {
            json!({ "transaction_reference": "gavel-1", "status": "processed",
                    "refund_reference": r, "amount": "500" })
        };
        assert_eq!(
            event_key(&named("132013318360"), "gavel-1"),
            "gavel-1:processed:ref:132013318360"
        );
        assert_ne!(
            event_key(&named("132013318360"), "gavel-1"),
            event_key(&named("132013318361"), "gavel-1")
        );
        let transfer = json!({ "id": 860_703_114, "reference": "gvl-po-1-a1",
                               "transfer_code": "TRF_1", "status": "success" });
        assert_eq!(
            transfer_event_key(&transfer, "gvl-po-1-a1"),
            "TRF_1:success"
        );
        let dispute = json!({ "id": "77", "transaction": { "reference": "gavel-2" } });
        assert_eq!(reference_of(&dispute), "gavel-2");
        assert_eq!(event_key(&dispute, "gavel-2"), "77");
    }

    #[test]
    fn a_resolved_dispute_gives_back_its_refund_amount_or_the_reversed_whole() {
        let refunded = json!({ "id": 1, "refund_amount": 5_000,
                               "transaction": { "reference": "g", "amount": 9_000, "status": "success" } });
        assert_eq!(dispute_given_back(&refunded), Some(5_000));
        let reversed = json!({ "id": 1, "refund_amount": 0,
                               "transaction": { "reference": "g", "amount": 9_000, "status": "reversed" } });
        assert_eq!(dispute_given_back(&reversed), Some(9_000));
        let kept = json!({ "id": 1, "refund_amount": null,
                           "transaction": { "reference": "g", "amount": 9_000, "status": "success" } });
        assert_eq!(dispute_given_back(&kept), None);
    }
}
