//! Bounds on what one client can take from the API: counters shared through
//! PostgreSQL (logins, sign-ups), the client's address behind trusted proxies,
//! live-stream slots, and each bidder's bid rate. Every refusal is counted in
//! `gavel_limited_total{limit}` and answered 429 or 503 with `Retry-After`.

pub mod bidders;
pub mod client_ip;
pub mod streams;

pub use bidders::BidderRates;
pub use client_ip::{ClientIp, TrustedProxies};
pub use streams::{StreamLimits, StreamSlots};

/// Counts one refusal by the named limit.
pub fn refused(limit: &'static str) {
    metrics::counter!("gavel_limited_total", "limit" => limit).increment(1);
}
