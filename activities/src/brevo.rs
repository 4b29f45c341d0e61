//! A small Brevo client for transactional email (`POST /v3/smtp/email`),
//! with the body-level idempotency key and every outcome classified.
//! Brevo's contract as Gavel uses it is summarised in `docs/payments.md`.

use std::time::Duration;

use gavel_paystack::provider::{ProviderError, http_client};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Clone)]
pub struct BrevoConfig {
    /// `https://api.brevo.com`, or a mock's address in tests.
    pub base_url: String,
    pub api_key: SecretString,
    pub timeout: Duration,
}

/// A mailbox: `Gavel <no-reply@gavel.local>` or a bare address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub email: String,
}

impl Mailbox {
    /// Parses `Name <address>` or `address`.
    pub fn parse(text: &str) -> Option<Mailbox> {
        let text = text.trim();
        let (name, email) = match (text.find('<'), text.strip_suffix('>')) {
            (Some(open), Some(inner)) => (
                Some(text[..open].trim().trim_matches('"').to_owned()).filter(|n| !n.is_empty()),
                inner[open + 1..].trim().to_owned(),
            ),
            _ => (None, text.to_owned()),
        };
        let (local, domain) = email.split_once('@')?;
        (!local.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace))
            .then_some(Mailbox { name, email })
    }
}

/// One email to send.
#[derive(Debug, Clone)]
pub struct OutgoingEmail {
    pub sender: Mailbox,
    pub to: Mailbox,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub tags: Vec<String>,
    /// Same key for the same logical email, so a retry is not sent twice.
    pub idempotency_key: String,
    /// Echoed back in Brevo's webhooks (`X-Mailin-custom`).
    pub custom: String,
    /// More headers for this recipient's message (an optional notice's
    /// `List-Unsubscribe` pair); Brevo sends one message per request here,
    /// so they are never shared with another recipient.
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum BrevoError {
    #[error("Brevo unreachable: {0}")]
    Transport(String),
    #[error("Brevo answered {status}")]
    Server { status: u16 },
    #[error("Brevo rate limit; retry in {retry_after:?}")]
    RateLimited { retry_after: Option<Duration> },
    #[error("Brevo refused the email ({status} {code}): {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    #[error("unexpected answer from Brevo: {0}")]
    Malformed(String),
}

impl BrevoError {
    /// Whether Brevo refused the email for good: sending it again cannot
    /// succeed, so it is marked failed rather than retried.
    pub fn is_permanent(&self) -> bool {
        !self.is_retryable()
    }
}

impl ProviderError for BrevoError {
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            BrevoError::Transport(_)
                | BrevoError::Server { .. }
                | BrevoError::RateLimited { .. }
                | BrevoError::Malformed(_)
        )
    }

    fn failure_type(&self) -> &'static str {
        match self {
            BrevoError::Transport(_) => "BrevoUnreachable",
            BrevoError::Server { .. } => "BrevoServerError",
            BrevoError::RateLimited { .. } => "BrevoRateLimited",
            BrevoError::Rejected { status: 401, .. } => "BrevoBadKey",
            BrevoError::Rejected { .. } => "BrevoRejected",
            BrevoError::Malformed(_) => "BrevoMalformedResponse",
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            BrevoError::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

/// What a send came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Accepted {
        message_id: String,
    },
    /// The idempotency key was used within Brevo's window: an earlier
    /// attempt got through (Brevo does not return its id).
    AlreadyAccepted,
}

#[derive(Clone)]
pub struct Brevo {
    http: reqwest::Client,
    config: BrevoConfig,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendResponse {
    message_id: Option<String>,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl Brevo {
    pub fn new(config: BrevoConfig) -> Self {
        Self {
            http: http_client(config.timeout),
            config,
        }
    }

    pub async fn send(&self, email: &OutgoingEmail) -> Result<Sent, BrevoError> {
        let mut headers = serde_json::Map::new();
        for (name, value) in &email.headers {
            headers.insert(name.clone(), json!(value));
        }
        headers.insert("idempotencyKey".into(), json!(email.idempotency_key));
        headers.insert("X-Mailin-custom".into(), json!(email.custom));
        let body = json!({
            "sender": email.sender,
            "to": [email.to],
            "subject": email.subject,
            "htmlContent": email.html,
            "textContent": email.text,
            "tags": email.tags,
            "headers": headers,
        });
        let url = format!(
            "{}/v3/smtp/email",
            self.config.base_url.trim_end_matches('/')
        );
        let response = self
            .http
            .post(url)
            .header("api-key", self.config.api_key.expose_secret())
            .header("accept", "application/json")
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                metrics::counter!("gavel_brevo_calls_total", "status" => "unreachable")
                    .increment(1);
                BrevoError::Transport(e.without_url().to_string())
            })?;
        let status = response.status();
        metrics::counter!("gavel_brevo_calls_total", "status" => status.as_u16().to_string())
            .increment(1);
        let reset = response
            .headers()
            .get("x-sib-ratelimit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response
            .text()
            .await
            .map_err(|e| BrevoError::Transport(e.without_url().to_string()))?;
        if status.is_success() {
            let sent: SendResponse =
                serde_json::from_str(&text).map_err(|e| BrevoError::Malformed(e.to_string()))?;
            return sent
                .message_id
                .map(|message_id| Sent::Accepted { message_id })
                .ok_or_else(|| BrevoError::Malformed("no messageId".into()));
        }
        let error: ErrorBody = serde_json::from_str(&text).unwrap_or_default();
        match status {
            StatusCode::TOO_MANY_REQUESTS => Err(BrevoError::RateLimited { retry_after: reset }),
            s if s.is_server_error() => Err(BrevoError::Server { status: s.as_u16() }),
            StatusCode::BAD_REQUEST
                if matches!(
                    error.code.as_deref(),
                    Some("duplicate_parameter" | "duplicate_request")
                ) =>
            {
                Ok(Sent::AlreadyAccepted)
            }
            s => Err(BrevoError::Rejected {
                status: s.as_u16(),
                code: error.code.unwrap_or_default(),
                message: error.message.unwrap_or_default(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use wiremock::{
        Mock, MockServer, ResponseTemplate,
        matchers::{body_partial_json, header, method, path},
    };

    use super::*;

    fn email() -> OutgoingEmail {
        OutgoingEmail {
            sender: Mailbox::parse("Gavel <no-reply@gavel.test>").unwrap(),
            to: Mailbox::parse("ada@example.com").unwrap(),
            subject: "You won".into(),
            html: "<p>won</p>".into(),
            text: "won".into(),
            tags: vec!["auction-won".into()],
            idempotency_key: "k-1".into(),
            custom: "auction:1|kind:won".into(),
            headers: vec![(
                "List-Unsubscribe".into(),
                "<https://gavel.test/unsubscribe?token=t>".into(),
            )],
        }
    }

    async fn brevo(response: ResponseTemplate) -> (MockServer, Brevo) {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v3/smtp/email"))
            .and(header("api-key", "xkeysib-test"))
            .and(body_partial_json(json!({
                "sender": { "name": "Gavel", "email": "no-reply@gavel.test" },
                "to": [{ "email": "ada@example.com" }],
                "headers": {
                    "idempotencyKey": "k-1",
                    "List-Unsubscribe": "<https://gavel.test/unsubscribe?token=t>",
                },
            })))
            .respond_with(response)
            .mount(&server)
            .await;
        let client = Brevo::new(BrevoConfig {
            base_url: server.uri(),
            api_key: SecretString::from("xkeysib-test"),
            timeout: Duration::from_secs(2),
        });
        (server, client)
    }

    #[tokio::test]
    async fn a_sent_email_returns_its_message_id() {
        let (_server, brevo) = brevo(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "messageId": "<1@smtp-relay.mailin.fr>" })),
        )
        .await;
        assert_eq!(
            brevo.send(&email()).await.unwrap(),
            Sent::Accepted {
                message_id: "<1@smtp-relay.mailin.fr>".into()
            }
        );
    }

    #[tokio::test]
    async fn outcomes_are_classified() {
        let (_s, b) = brevo(ResponseTemplate::new(400).set_body_json(json!({
            "code": "duplicate_parameter", "message": "idempotencyKey already used"
        })))
        .await;
        assert_eq!(b.send(&email()).await.unwrap(), Sent::AlreadyAccepted);

        for (response, failure_type, retryable) in [
            (
                ResponseTemplate::new(429).insert_header("x-sib-ratelimit-reset", "3"),
                "BrevoRateLimited",
                true,
            ),
            (ResponseTemplate::new(503), "BrevoServerError", true),
            (
                ResponseTemplate::new(401)
                    .set_body_json(json!({ "code": "unauthorized", "message": "Key not found" })),
                "BrevoBadKey",
                false,
            ),
            (
                ResponseTemplate::new(400)
                    .set_body_json(json!({ "code": "invalid_parameter", "message": "bad sender" })),
                "BrevoRejected",
                false,
            ),
        ] {
            let (_s, b) = brevo(response).await;
            let err = b.send(&email()).await.unwrap_err();
            assert_eq!(err.failure_type(), failure_type);
            assert_eq!(err.is_retryable(), retryable);
        }
    }

    #[test]
    fn mailboxes_parse_with_or_without_a_name() {
        assert_eq!(
            Mailbox::parse("Gavel <no-reply@gavel.local>"),
            Some(Mailbox {
                name: Some("Gavel".into()),
                email: "no-reply@gavel.local".into()
            })
        );
        assert_eq!(Mailbox::parse("a@b.co").unwrap().name, None);
        assert_eq!(Mailbox::parse("not an address"), None);
    }
}
