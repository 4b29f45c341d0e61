//! `gavel paystack send-webhook`: posts a Paystack-shaped event, signed with
//! the configured secret key exactly as Paystack signs (HMAC-SHA512 of the
//! body), so the payment flow can be tried without Paystack reaching this
//! machine. The workflow still verifies the payment with Paystack.

use anyhow::Context;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::Sha512;

use crate::{config::SendWebhookArgs, database};

/// The event body, shaped like Paystack's `charge.success` sample.
pub fn event_body(event: &str, reference: &str, amount: i64, currency: &str) -> Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({
        "event": event,
        "data": {
            "id": 302_961,
            "domain": "test",
            "status": "success",
            "reference": reference,
            "amount": amount,
            "message": null,
            "gateway_response": "Successful",
            "paid_at": now,
            "created_at": now,
            "channel": "card",
            "currency": currency,
            "ip_address": "127.0.0.1",
            "metadata": 0,
            "fees": null,
            "customer": { "id": 68_324, "email": "buyer@example.com", "customer_code": "CUS_gavel_local" },
            "authorization": {
                "authorization_code": "AUTH_gavel_local", "bin": "408408", "last4": "4081",
                "exp_month": "12", "exp_year": "2030", "channel": "card", "card_type": "visa ",
                "bank": "TEST BANK", "country_code": "NG", "brand": "visa", "reusable": true,
                "signature": "SIG_gavel_local"
            },
            "plan": {}
        }
    })
}

/// Lowercase hex HMAC-SHA512 of `body` keyed with `secret`.
pub fn sign(secret: &str, body: &[u8]) -> anyhow::Result<String> {
    let mut mac = Hmac::<Sha512>::new_from_slice(secret.as_bytes())
        .map_err(|_| anyhow::anyhow!("unusable secret key"))?;
    mac.update(body);
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// Posts the event and prints the API's answer (the command's output).
#[allow(clippy::print_stdout)]
pub async fn send(args: SendWebhookArgs) -> anyhow::Result<()> {
    let (amount, currency) = match (args.amount, args.currency.clone()) {
        (Some(amount), Some(currency)) => (amount, currency),
        (amount, currency) => {
            let db = database::connect(&args.database.database_url).await?;
            let invoice: Option<(i64, String)> =
                sqlx::query_as("SELECT total, currency FROM invoices WHERE reference = $1")
                    .bind(&args.reference)
                    .fetch_optional(&db)
                    .await?;
            let (total, code) = invoice.with_context(|| {
                format!(
                    "no invoice has reference {:?}; pass --amount and --currency",
                    args.reference
                )
            })?;
            (amount.unwrap_or(total), currency.unwrap_or(code))
        }
    };
    let body = serde_json::to_vec(&event_body(&args.event, &args.reference, amount, &currency))?;
    let signature = sign(args.paystack_secret_key.expose_secret(), &body)?;
    let url = format!(
        "{}/api/v1/webhooks/paystack",
        args.api_url.trim_end_matches('/')
    );
    let response = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header("x-paystack-signature", signature)
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!("{} {status}: {text}", args.event);
    anyhow::ensure!(status.is_success(), "the API refused the event");
    Ok(())
}
