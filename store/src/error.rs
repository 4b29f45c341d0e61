//! [`StoreError`]: what a failed query means to its caller, decided once,
//! here, from sqlx's error and PostgreSQL's SQLSTATE.

/// A failed store call. Each variant displays as the database's own error,
/// so logs and failure messages read as they did before the classification.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached, is going down or coming up, or the
    /// statement lost a race a retry can get past (see
    /// [`database_unavailable`]): try again later.
    #[error(transparent)]
    Unavailable(sqlx::Error),
    /// The data itself was refused (see [`is_bad_data`]): it fails the same
    /// way on every retry.
    #[error(transparent)]
    BadData(sqlx::Error),
    /// A unique, foreign-key or exclusion constraint refused the write.
    #[error("{source}")]
    Conflict {
        constraint: String,
        #[source]
        source: sqlx::Error,
    },
    /// A row the call needed is not there.
    #[error(transparent)]
    NotFound(sqlx::Error),
    /// Anything else: a bug or an unexpected answer.
    #[error(transparent)]
    Other(sqlx::Error),
}

/// A store call's result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if database_unavailable(&err) {
            return Self::Unavailable(err);
        }
        if is_bad_data(&err) {
            return Self::BadData(err);
        }
        if matches!(err, sqlx::Error::RowNotFound) {
            return Self::NotFound(err);
        }
        let constraint = match &err {
            sqlx::Error::Database(db) if db.code().is_some_and(|code| code.starts_with("23")) => {
                db.constraint().map(str::to_owned)
            }
            _ => None,
        };
        match constraint {
            Some(constraint) => Self::Conflict {
                constraint,
                source: err,
            },
            None => Self::Other(err),
        }
    }
}

impl StoreError {
    /// Whether a retry later can succeed because the database was the
    /// problem, not the query.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// Whether the data was refused for itself (never worth retrying).
    pub fn is_bad_data(&self) -> bool {
        matches!(self, Self::BadData(_))
    }

    /// The name of the unique (or other) constraint the write violated.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            Self::Conflict { constraint, .. } => Some(constraint),
            Self::BadData(sqlx::Error::Database(db)) => db.constraint(),
            _ => None,
        }
    }
}

/// Runs `result` through `on_constraint`: a violation of a constraint it
/// names becomes that caller's typed error, anything else stays a
/// [`StoreError`]. The caller's error type must take a `StoreError`.
pub fn on_constraint<T, E: From<StoreError>>(
    result: std::result::Result<T, sqlx::Error>,
    map: impl FnOnce(&str) -> Option<E>,
) -> std::result::Result<T, E> {
    result.map_err(|err| {
        let err = StoreError::from(err);
        match err.constraint().and_then(map) {
            Some(mapped) => mapped,
            None => E::from(err),
        }
    })
}

/// Whether `err` says the database cannot be reached or is going down or
/// coming up (a retry later can succeed), rather than that the query is
/// wrong: refused or cut connections, an exhausted pool, and the SQLSTATEs
/// PostgreSQL sends when it stops (57P01 to every open connection), crashes,
/// is still starting (57P03), loses a connection (class 08) or is out of
/// connections or resources (class 53); and a statement a retry can get past:
/// cancelled (57014: `pg_cancel_backend`, a statement timeout), refused by a
/// server turned read-only standby in a failover (25006), or losing a lock
/// (55P03), a serialization race (40001) or a deadlock (40P01).
pub fn database_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("53")
                || matches!(
                    code.as_ref(),
                    "57P01"
                        | "57P02"
                        | "57P03"
                        | "57P05"
                        | "57014"
                        | "25006"
                        | "55P03"
                        | "40001"
                        | "40P01"
                )
        }),
        _ => false,
    }
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

#[cfg(test)]
mod tests {
    use std::{borrow::Cow, error::Error as StdError, fmt};

    use sqlx::error::{DatabaseError, ErrorKind};

    use super::*;

    /// A PostgreSQL error with a SQLSTATE and maybe a constraint.
    #[derive(Debug)]
    struct ServerSaid(&'static str, Option<&'static str>);

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
        fn constraint(&self) -> Option<&str> {
            self.1
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

    fn from_server(code: &'static str, constraint: Option<&'static str>) -> StoreError {
        sqlx::Error::Database(Box::new(ServerSaid(code, constraint))).into()
    }

    #[test]
    fn each_failure_is_classified_once() {
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(from_server("57P01", None).is_unavailable());
        assert!(from_server("40P01", None).is_unavailable());
        assert!(from_server("22P05", None).is_bad_data());
        let check = from_server("23514", Some("auctions_price_check"));
        assert!(check.is_bad_data());
        assert_eq!(check.constraint(), Some("auctions_price_check"));
        let taken = from_server("23505", Some("users_email_lower_key"));
        assert!(matches!(taken, StoreError::Conflict { .. }), "{taken:?}");
        assert_eq!(taken.constraint(), Some("users_email_lower_key"));
        assert!(matches!(
            StoreError::from(sqlx::Error::RowNotFound),
            StoreError::NotFound(_)
        ));
        assert!(matches!(from_server("42P01", None), StoreError::Other(_)));
    }

    #[test]
    fn a_named_constraint_becomes_the_callers_error() {
        #[derive(Debug, PartialEq)]
        enum Mine {
            Taken,
            Store,
        }
        impl From<StoreError> for Mine {
            fn from(_: StoreError) -> Self {
                Mine::Store
            }
        }
        let taken = sqlx::Error::Database(Box::new(ServerSaid("23505", Some("users_handle_key"))));
        let mapped: std::result::Result<(), Mine> = on_constraint(Err(taken), |name| {
            (name == "users_handle_key").then_some(Mine::Taken)
        });
        assert_eq!(mapped, Err(Mine::Taken));
        let other: std::result::Result<(), Mine> =
            on_constraint(Err(sqlx::Error::PoolClosed), |_| Some(Mine::Taken));
        assert_eq!(other, Err(Mine::Store));
    }
}
