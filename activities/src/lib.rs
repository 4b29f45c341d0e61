//! Gavel's side effects, run by the worker as Temporal activities: writes to
//! the PostgreSQL read model ([`read_model`]), settlement ([`settlement`]:
//! invoices, Paystack payments, emails via [`mailer`]), and the [`paystack`]
//! and [`brevo`] clients.
//!
//! Every activity is idempotent, keyed by the ids the workflow passes in, because
//! Temporal retries it after any failure, including one after it did its work.

pub mod brevo;
pub mod mailer;
pub mod paystack;
pub mod ping;
pub mod provider;
pub mod read_model;
pub mod settlement;
pub mod users;

/// A number that must fit its column: too big is an error, never a clamp.
pub(crate) fn fits<T, S>(value: S) -> sqlx::Result<T>
where
    T: TryFrom<S, Error = std::num::TryFromIntError>,
{
    T::try_from(value).map_err(|err| sqlx::Error::Encode(Box::new(err)))
}
