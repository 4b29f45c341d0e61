//! `gavel paystack send-webhook`: posts a Paystack-shaped event, signed with
//! the configured secret key exactly as Paystack signs (HMAC-SHA512 of the
//! body), so the payment flow can be tried without Paystack reaching this
//! machine. The workflow still verifies the payment with Paystack.

use anyhow::Context;
use gavel_store::invoices;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::Sha512;

use crate::{cli::SendWebhookArgs, database};

/// The event body, shaped like Paystack's `charge.success` sample.
pub fn event_body(event: &str, reference: &str, amount: i64, currency: &str) -> Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    // Paystack's id for the transaction; stable per reference, so sending the
    // same event twice is a redelivery (stored once), as with Paystack.
    let id = reference.bytes().fold(302_961_u64, |id, b| {
        id.wrapping_mul(31).wrapping_add(u64::from(b))
    }) % 9_000_000_000;
    json!({
        "event": event,
        "data": {
            "id": id,
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

/// What the event is about: a reference, and the invoice's amount and
/// currency when known.
struct Target {
    reference: String,
    invoice: Option<(i64, String)>,
}

/// The reference to sign an event for: given, or the invoice's current one.
async fn target(args: &SendWebhookArgs) -> anyhow::Result<Target> {
    let wanted = |lookup: &str| {
        format!("no invoice {lookup}; see GET /api/v1/me/invoices for your invoices' ids")
    };
    let need_db = args.amount.is_none() || args.currency.is_none() || args.invoice.is_some();
    if !need_db {
        return Ok(Target {
            reference: args.reference.clone().unwrap_or_default(),
            invoice: None,
        });
    }
    let db = database::connect(&args.database.database_url).await?;
    if let Some(invoice) = &args.invoice {
        let found = invoices::find_by_id_or_number(&db, invoice.trim())
            .await?
            .with_context(|| wanted(invoice))?;
        return Ok(Target {
            reference: found.reference,
            invoice: Some((found.total, found.currency)),
        });
    }
    let reference = args.reference.clone().unwrap_or_default();
    let row = invoices::find_by_reference(&db, &reference)
        .await?
        .map(|found| (found.total, found.currency));
    Ok(Target {
        reference,
        invoice: row,
    })
}

/// Posts the event and prints the API's answer (the command's output).
#[allow(clippy::print_stdout)]
pub async fn send(args: SendWebhookArgs) -> anyhow::Result<()> {
    let key = args
        .paystack_secret_key
        .clone()
        .filter(|k| !k.expose_secret().is_empty())
        .context(
            "PAYSTACK_SECRET_KEY is not set: the event must be signed with the key the API \
             checks webhooks with. Without Paystack, record the payment offline instead: \
             POST /api/v1/admin/invoices/{id}/mark-paid as an admin",
        )?;
    let target = target(&args).await?;
    let (amount, currency) = match (args.amount, args.currency.clone(), target.invoice) {
        (Some(amount), Some(currency), _) => (amount, currency),
        (amount, currency, Some((total, code))) => {
            (amount.unwrap_or(total), currency.unwrap_or(code))
        }
        _ => anyhow::bail!(
            "no invoice has reference {:?}; pass --invoice, or --amount and --currency",
            target.reference
        ),
    };
    let body = serde_json::to_vec(&event_body(
        &args.event,
        &target.reference,
        amount,
        &currency,
    ))?;
    let signature = sign(key.expose_secret(), &body)?;
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
    println!("{} {} {status}: {text}", args.event, target.reference);
    anyhow::ensure!(status.is_success(), "the API refused the event");
    Ok(())
}
