//! How database failures are answered: an unreachable or failing-over
//! database is a 503 with `Retry-After`; anything else stays a 500.

use std::{borrow::Cow, error::Error as StdError, fmt};

use axum::http::StatusCode;
use sqlx::error::{DatabaseError, ErrorKind};

use super::ApiError;

/// A PostgreSQL error with a SQLSTATE, as the server sends it.
#[derive(Debug)]
struct ServerSaid(&'static str);

impl fmt::Display for ServerSaid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SQLSTATE {}", self.0)
    }
}

impl StdError for ServerSaid {}

impl DatabaseError for ServerSaid {
    fn message(&self) -> &str {
        "the server said no"
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(self.0))
    }
    fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn StdError + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn StdError + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

fn from_server(code: &'static str) -> ApiError {
    ApiError::from(sqlx::Error::Database(Box::new(ServerSaid(code))))
}

fn assert_unavailable(error: &ApiError, what: &str) {
    assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE, "{what}");
    assert_eq!(error.code, "service_unavailable", "{what}");
    assert!(error.retry_after_secs.is_some_and(|s| s >= 1), "{what}");
}

#[test]
fn an_unreachable_database_is_unavailable() {
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert_unavailable(&ApiError::from(sqlx::Error::Io(refused)), "refused");
    let cut = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
    assert_unavailable(&ApiError::from(sqlx::Error::Io(cut)), "cut mid-query");
    assert_unavailable(&ApiError::from(sqlx::Error::PoolTimedOut), "pool timeout");
    assert_unavailable(&ApiError::from(sqlx::Error::PoolClosed), "pool closed");
    assert_unavailable(
        &ApiError::from(sqlx::Error::WorkerCrashed),
        "worker crashed",
    );
}

#[test]
fn a_database_going_down_or_not_yet_up_is_unavailable() {
    for (code, what) in [
        ("57P01", "admin_shutdown: the server is stopping"),
        ("57P02", "crash_shutdown"),
        ("57P03", "cannot_connect_now: starting up or in recovery"),
        ("57P05", "idle_session_timeout"),
        ("08006", "connection_failure"),
        ("08003", "connection_does_not_exist"),
        ("53300", "too_many_connections"),
    ] {
        assert_unavailable(&from_server(code), what);
    }
}

#[test]
fn other_database_errors_stay_internal() {
    for code in ["23505", "42P01", "22P02"] {
        let error = from_server(code);
        assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR, "{code}");
        assert_eq!(error.code, "internal", "{code}");
        assert!(error.retry_after_secs.is_none(), "{code}");
    }
    assert_eq!(
        ApiError::from(sqlx::Error::RowNotFound).status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

/// Errors a retry can get past: the statement was cancelled (an operator's
/// `pg_cancel_backend`, a statement timeout), the server became a read-only
/// standby in a failover, a lock was not free, or the transaction lost a
/// serialization race or a deadlock.
#[test]
fn a_cancelled_read_only_or_contended_statement_is_unavailable() {
    for (code, what) in [
        ("57014", "query_canceled"),
        ("25006", "read_only_sql_transaction"),
        ("55P03", "lock_not_available"),
        ("40001", "serialization_failure"),
        ("40P01", "deadlock_detected"),
    ] {
        assert_unavailable(&from_server(code), what);
    }
}
