//! `POST /webhooks/paystack`: the signature (HMAC-SHA512 of the raw body with
//! the secret key, compared in constant time) is checked before anything is
//! stored; each event is stored once; `charge.success` for an open invoice
//! is signalled to its auction's workflow, which verifies it with Paystack.

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use gavel_activities::settlement::invoices;
use gavel_workflows::settlement::{PaymentNotice, PaymentSource};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha512;
use utoipa::ToSchema;

use crate::{
    auctions::gateway,
    error::{ApiError, ErrorBody},
    extract::ApiJson,
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

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    /// `stored`, or `duplicate` for a redelivery.
    pub status: &'static str,
}

#[utoipa::path(post, path = "/webhooks/paystack", tag = "payments",
    request_body(content = Object, content_type = "application/json", description = "a Paystack event `{event, data}`, signed"),
    params(("x-paystack-signature" = String, Header, description = "HMAC-SHA512 of the raw body with the secret key")),
    responses(
        (status = 200, body = WebhookAck, description = "stored (or already stored)"),
        (status = 400, body = ErrorBody, description = "`malformed_event`"),
        (status = 401, body = ErrorBody, description = "`invalid_signature`: nothing stored"),
        (status = 503, body = ErrorBody, description = "Paystack not configured, or Temporal unavailable (Paystack retries)"),
    ))]
pub async fn paystack(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<ApiJson<WebhookAck>, ApiError> {
    let Some(paystack) = &state.config.paystack else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
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
    // Charges carry `reference`; refund events `transaction_reference`.
    let reference = raw
        .get("data")
        .and_then(|d| {
            d.get("reference")
                .or_else(|| d.get("transaction_reference"))
        })
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let stored: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO paystack_events (event, reference, body) VALUES ($1, $2, $3)
         ON CONFLICT (event, reference) DO NOTHING RETURNING id",
    )
    .bind(&event)
    .bind(&reference)
    .bind(sqlx::types::Json(&raw))
    .fetch_optional(&state.db)
    .await?;
    let status = if stored.is_some() {
        "stored"
    } else {
        "duplicate"
    };
    tracing::info!(event = %event, %reference, status, "Paystack webhook");

    if event == "charge.success" {
        match invoices::find_by_reference(&state.db, &reference).await? {
            // A redelivery re-signals only while the invoice is unpaid (in
            // case the first signal was lost); verification is idempotent.
            Some(invoice) if invoice.status == "open" => {
                let notice = PaymentNotice {
                    invoice_id: invoice.id,
                    source: PaymentSource::Paystack {
                        reference: reference.clone(),
                    },
                };
                gateway::notify_payment(
                    &state.temporal,
                    invoice.auction_id,
                    notice,
                    format!("paystack-{reference}"),
                )
                .await
                .map_err(|err| ApiError::unavailable("Temporal", err))?;
            }
            Some(_) => {}
            None => {
                tracing::info!(%reference, "charge.success for an unknown reference; stored only")
            }
        }
    }
    Ok(ApiJson(WebhookAck { status }))
}

#[cfg(test)]
mod tests {
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
}
