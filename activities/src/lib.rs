//! Gavel's side effects, run by the worker as Temporal activities: thin
//! adapters over the tables (`gavel_store`) and the providers. Publishing to
//! the read model ([`read_model`]), "ending soon" alerts ([`alerts`]), settlement ([`settlement`]: invoices,
//! Paystack payments through `gavel_paystack`, its own crate shared with the
//! API, and emails via [`mailer`]), the saved-search [`digest`] and the
//! [`brevo`] client.
//!
//! Every activity is idempotent, keyed by the ids the workflow passes in, because
//! Temporal retries it after any failure, including one after it did its work.

pub mod alerts;
pub mod brevo;
pub mod digest;
pub mod mailer;
pub mod ping;
pub mod read_model;
pub mod settlement;

/// The failure type of a write refused for its data: not retried.
pub const BAD_DATA: &str = "BadData";
