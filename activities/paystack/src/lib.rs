//! A small Paystack client: initialize, charge_authorization, verify, refund
//! (and, in [`transfers`], payouts to sellers),
//! with every outcome classified as success, worth retrying, or permanent
//! (with a failure type an operator can read in the Temporal UI); and the
//! banks, account look-ups and transfer recipients of sellers' payout
//! accounts (`banks`).
//! Paystack's contract is summarised in `docs/payments.md`. Both the API (pay
//! links, webhook checks) and the worker's activities use it; [`provider`] is
//! what it shares with the worker's other provider clients.

use std::time::Duration;

mod banks;
pub mod provider;
pub mod transfers;

pub use banks::{Bank, NewRecipient, Recipient, ResolvedAccount};

use crate::provider::{ProviderError, http_client};
use reqwest::{Method, StatusCode, header::HeaderMap};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, de::DeserializeOwned};
use serde_json::Value;

/// Settings for [`Paystack`].
#[derive(Clone)]
pub struct PaystackConfig {
    /// `https://api.paystack.co`, or a mock's address in tests.
    pub base_url: String,
    pub secret_key: SecretString,
    pub timeout: Duration,
    /// Where Paystack's checkout sends the buyer back (Gavel's
    /// `/payments/return`); the dashboard's setting when `None`.
    pub callback_url: Option<String>,
}

impl std::fmt::Debug for PaystackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaystackConfig")
            .field("base_url", &self.base_url)
            .field("secret_key", &"[redacted]")
            .field("timeout", &self.timeout)
            .field("callback_url", &self.callback_url)
            .finish()
    }
}

/// Why a Paystack call did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum PaystackError {
    #[error("Paystack unreachable: {0}")]
    Transport(String),
    #[error("Paystack answered {status}: {message}")]
    Server { status: u16, message: String },
    #[error("Paystack rate limit; retry in {retry_after:?}")]
    RateLimited { retry_after: Option<Duration> },
    #[error("Paystack rejected the secret key (401): check PAYSTACK_SECRET_KEY")]
    BadKey,
    #[error("Paystack refused the request: {message}")]
    Invalid {
        code: Option<String>,
        message: String,
    },
    #[error("the reference was used before (duplicate_reference)")]
    DuplicateReference,
    #[error("unexpected answer from Paystack: {0}")]
    Malformed(String),
}

impl ProviderError for PaystackError {
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            PaystackError::Transport(_)
                | PaystackError::Server { .. }
                | PaystackError::RateLimited { .. }
                | PaystackError::Malformed(_)
        )
    }

    fn failure_type(&self) -> &'static str {
        match self {
            PaystackError::Transport(_) => "PaystackUnreachable",
            PaystackError::Server { .. } => "PaystackServerError",
            PaystackError::RateLimited { .. } => "PaystackRateLimited",
            PaystackError::BadKey => "PaystackBadKey",
            PaystackError::Invalid { .. } => "PaystackInvalidRequest",
            PaystackError::DuplicateReference => "PaystackDuplicateReference",
            PaystackError::Malformed(_) => "PaystackMalformedResponse",
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            PaystackError::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

/// An amount Paystack may send as a number or a string.
fn amount<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A card Paystack can charge again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    #[serde(default)]
    pub authorization_code: Option<String>,
    #[serde(default)]
    pub reusable: Option<bool>,
    /// Stable per card: the key for de-duplicating stored cards.
    #[serde(default)]
    pub signature: Option<String>,
    #[serde(default)]
    pub last4: Option<String>,
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub exp_month: Option<String>,
    #[serde(default)]
    pub exp_year: Option<String>,
}

impl Authorization {
    /// The code to store, when Paystack says the card may be charged again.
    pub fn reusable_code(&self) -> Option<&str> {
        (self.reusable == Some(true))
            .then_some(self.authorization_code.as_deref())
            .flatten()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    #[serde(default)]
    pub email: Option<String>,
}

/// The parts of a transaction Gavel reads; unknown fields are ignored and
/// type-unstable ones parsed loosely.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Transaction {
    #[serde(default)]
    pub id: Option<u64>,
    /// `success`, `failed`, `abandoned`, `pending`, …; absent on a paused charge.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default, deserialize_with = "amount")]
    pub amount: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub gateway_response: Option<String>,
    #[serde(default)]
    pub paid_at: Option<String>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
    #[serde(default)]
    pub customer: Option<Customer>,
    #[serde(default)]
    pub metadata: Value,
    /// A charge that needs the customer (2FA): send them to `authorization_url`.
    #[serde(default)]
    pub paused: Option<bool>,
    #[serde(default)]
    pub authorization_url: Option<String>,
}

/// Where a transaction stands, read from Paystack's `status` word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionState {
    Success,
    /// `pending`, `processing`, `queued`, `ongoing`: it may still succeed.
    InFlight,
    /// `failed`, `abandoned`, `reversed`: it never will.
    Dead,
    /// No status, or a word this version does not know.
    Unknown,
}

impl TransactionState {
    pub fn of(status: Option<&str>) -> Self {
        match status {
            Some("success") => Self::Success,
            Some("pending" | "processing" | "queued" | "ongoing") => Self::InFlight,
            Some("failed" | "abandoned" | "reversed") => Self::Dead,
            _ => Self::Unknown,
        }
    }
}

/// What a verify says about paying `expected` minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentCheck {
    Paid,
    /// Not (yet) paid: failed, abandoned, pending…
    NotPaid {
        status: String,
    },
    /// Paid, but not what the invoice asks: never counts.
    Mismatch {
        amount: Option<i64>,
        currency: Option<String>,
    },
}

impl Transaction {
    pub fn state(&self) -> TransactionState {
        TransactionState::of(self.status.as_deref())
    }

    /// Paid only if the status is `success` and amount and currency match.
    pub fn check(&self, expected: i64, currency: &str) -> PaymentCheck {
        if self.state() != TransactionState::Success {
            return PaymentCheck::NotPaid {
                status: self.status.clone().unwrap_or_default(),
            };
        }
        if self.amount != Some(expected) || self.currency.as_deref() != Some(currency) {
            return PaymentCheck::Mismatch {
                amount: self.amount,
                currency: self.currency.clone(),
            };
        }
        PaymentCheck::Paid
    }
}

/// The hosted checkout a pay link points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkout {
    pub authorization_url: String,
    #[serde(default)]
    pub access_code: Option<String>,
    pub reference: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct InitializeRequest<'a> {
    pub email: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub reference: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<&'a str>,
    pub metadata: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChargeRequest<'a> {
    pub email: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub authorization_code: &'a str,
    pub reference: &'a str,
    /// Sent as a string: the spec types it so for this endpoint.
    pub metadata: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Refund {
    #[serde(default)]
    pub id: Option<u64>,
    /// `pending`, `processing`, `processed`, `failed`, `needs-attention`.
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: Option<T>,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

/// Paystack over HTTPS with a bearer secret key (redacted in `Debug`).
#[derive(Clone, Debug)]
pub struct Paystack {
    http: reqwest::Client,
    config: PaystackConfig,
}

impl Paystack {
    /// Where the checkout sends the buyer back, if configured.
    pub fn callback_url(&self) -> Option<&str> {
        self.config.callback_url.as_deref()
    }

    /// The secret key, for checking webhook signatures.
    pub fn secret_key(&self) -> &SecretString {
        &self.config.secret_key
    }

    pub fn new(config: PaystackConfig) -> Self {
        Self {
            http: http_client(config.timeout),
            config,
        }
    }

    /// `POST /transaction/initialize`: a pay link for `reference`.
    pub async fn initialize(
        &self,
        request: &InitializeRequest<'_>,
    ) -> Result<Checkout, PaystackError> {
        self.call(Method::POST, "/transaction/initialize", Some(request))
            .await
    }

    /// `POST /transaction/charge_authorization`: charges a stored card. The
    /// answer may still be `failed`, `pending` or paused: read its status.
    pub async fn charge_authorization(
        &self,
        request: &ChargeRequest<'_>,
    ) -> Result<Transaction, PaystackError> {
        self.call(
            Method::POST,
            "/transaction/charge_authorization",
            Some(request),
        )
        .await
    }

    /// `GET /transaction/verify/{reference}`; `None` when Paystack does not
    /// know the reference (it answers 400 or 404 for that).
    pub async fn verify(&self, reference: &str) -> Result<Option<Transaction>, PaystackError> {
        let path = format!("/transaction/verify/{reference}");
        match self.call::<(), Transaction>(Method::GET, &path, None).await {
            Ok(transaction) => Ok(Some(transaction)),
            Err(PaystackError::Invalid { message, .. })
                if message.to_lowercase().contains("not found") =>
            {
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// `POST /refund` for a transaction reference (never retried blindly:
    /// Paystack has no idempotency handle for refunds).
    pub async fn refund(
        &self,
        reference: &str,
        amount: Option<i64>,
    ) -> Result<Refund, PaystackError> {
        #[derive(Serialize)]
        struct Body<'a> {
            transaction: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            amount: Option<i64>,
        }
        self.call(
            Method::POST,
            "/refund",
            Some(&Body {
                transaction: reference,
                amount,
            }),
        )
        .await
    }

    /// Refund `id` as Paystack has it now (`GET /refund/{id}`).
    pub async fn fetch_refund(&self, id: u64) -> Result<Refund, PaystackError> {
        self.call::<(), _>(Method::GET, &format!("/refund/{id}"), None)
            .await
    }

    /// A refund of the transaction `reference` (numeric id `transaction_id`)
    /// created since `since`, if Paystack lists one: how a retry tells
    /// whether a refund request whose answer was lost got through. With
    /// several (partial) refunds of one transaction, the one of `amount`
    /// (when given) whose id is not among the `known` ones.
    pub async fn find_refund(
        &self,
        reference: &str,
        transaction_id: Option<u64>,
        since: chrono::DateTime<chrono::Utc>,
        amount: Option<i64>,
        known: &[u64],
    ) -> Result<Option<Refund>, PaystackError> {
        let from = (since - chrono::Duration::days(1)).format("%Y-%m-%d");
        let path = format!("/refund?perPage=100&from={from}");
        let refunds: Vec<Value> = self.call::<(), _>(Method::GET, &path, None).await?;
        Ok(refunds
            .into_iter()
            .filter(|refund| refund_concerns(refund, reference, transaction_id))
            .filter(|refund| amount.is_none_or(|amount| amount_of(refund) == Some(amount)))
            .filter_map(|refund| serde_json::from_value::<Refund>(refund).ok())
            .find(|refund| refund.id.is_none_or(|id| !known.contains(&id))))
    }

    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, PaystackError> {
        let envelope: Envelope<T> = self.call_whole(method, path, body).await?;
        envelope
            .data
            .ok_or_else(|| PaystackError::Malformed("no `data` in the answer".into()))
    }

    /// [`Self::call`] answering the whole body (for `meta`, or answers
    /// without `data`).
    async fn call_whole<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, PaystackError> {
        let url = format!("{}{path}", self.config.base_url.trim_end_matches('/'));
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(self.config.secret_key.expose_secret())
            .header("accept", "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        // The endpoint without ids, recipient codes or query (they would
        // explode the metric's cardinality): `transaction/verify`, `refund`, …
        let endpoint = path
            .split(['?', '/'])
            .filter(|part| {
                !part.is_empty()
                    && !part.bytes().all(|b| b.is_ascii_digit())
                    && !part.starts_with("RCP_")
            })
            .take(2)
            .collect::<Vec<_>>()
            .join("/");
        let response = request.send().await.map_err(|e| {
            metrics::counter!("gavel_paystack_calls_total", "endpoint" => endpoint.clone(), "status" => "unreachable")
                .increment(1);
            PaystackError::Transport(e.without_url().to_string())
        })?;
        let status = response.status();
        metrics::counter!("gavel_paystack_calls_total", "endpoint" => endpoint, "status" => status.as_u16().to_string())
            .increment(1);
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .map_err(|e| PaystackError::Transport(e.without_url().to_string()))?;
        if status.is_success() {
            return serde_json::from_str(&text)
                .map_err(|e| PaystackError::Malformed(format!("{e}")));
        }
        Err(classify(status, &headers, &text))
    }
}

/// Sorts a non-2xx answer into retryable or permanent.
fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> PaystackError {
    let error: ErrorBody = serde_json::from_str(body).unwrap_or_default();
    let message = error
        .message
        .clone()
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    match status {
        StatusCode::UNAUTHORIZED => PaystackError::BadKey,
        StatusCode::TOO_MANY_REQUESTS => PaystackError::RateLimited {
            retry_after: headers
                .get("x-ratelimit-reset")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        },
        s if s.is_server_error() => PaystackError::Server {
            status: s.as_u16(),
            message,
        },
        _ if error.code.as_deref() == Some("duplicate_reference")
            || message
                .to_lowercase()
                .contains("duplicate transaction reference") =>
        {
            PaystackError::DuplicateReference
        }
        _ => PaystackError::Invalid {
            code: error.code,
            message,
        },
    }
}

/// Whether a listed refund is for our transaction: refunds name it by id or
/// as an object (with `reference` or `id`), depending on the endpoint.
fn refund_concerns(refund: &Value, reference: &str, transaction_id: Option<u64>) -> bool {
    let transaction = refund.get("transaction");
    let by_reference = [
        transaction.and_then(|t| t.get("reference")),
        refund.get("transaction_reference"),
    ]
    .into_iter()
    .flatten()
    .any(|r| r.as_str() == Some(reference));
    let by_id = transaction_id.is_some_and(|id| {
        [transaction, transaction.and_then(|t| t.get("id"))]
            .into_iter()
            .flatten()
            .any(|t| t.as_u64() == Some(id))
    });
    by_reference || by_id
}

/// A refund's amount: a number in most of Paystack's answers, a string in
/// some of its samples.
pub fn amount_of(refund: &Value) -> Option<i64> {
    match refund.get("amount")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Whether `reference` uses only what Paystack allows (`[A-Za-z0-9.=-]`).
pub fn valid_reference(reference: &str) -> bool {
    !reference.is_empty()
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'=' | b'-'))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod transfer_tests;
