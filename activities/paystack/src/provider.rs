//! What the Paystack and Brevo clients share: one way to build their HTTP
//! client, and one way to say what a failure means for retries.

use std::time::Duration;

/// A failure of an external provider, classified for Temporal's retries.
pub trait ProviderError: std::fmt::Display {
    /// The failure type shown in Temporal (`non_retryable_error_types` match it).
    fn failure_type(&self) -> &'static str;
    /// Whether the same call may succeed later.
    fn is_retryable(&self) -> bool;
    /// When the provider said to try again (rate limits).
    fn retry_after(&self) -> Option<Duration>;
}

/// An HTTP client for a provider API: overall and connect timeouts, our
/// user agent.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("gavel/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}
