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

/// Whether a database error is about the data itself (it will fail the same
/// way on every retry) rather than the database being unreachable or busy:
/// a value that does not encode or decode, or one PostgreSQL refuses (data
/// exceptions such as a NUL in text, class 22, and check violations).
pub fn is_bad_data(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Encode(_) | sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("22") || code == "23514"),
        _ => false,
    }
}

/// The failure type of a write refused for its data: not retried.
pub const BAD_DATA: &str = "BadData";
