//! Gavel's side effects, run by the worker as Temporal activities: writes to the
//! PostgreSQL read model, and (later) the Paystack and Brevo clients.
//!
//! Every activity is idempotent, keyed by the ids the workflow passes in, because
//! Temporal retries it after any failure, including one after it did its work.

pub mod ping;

use std::sync::Arc;

use sqlx::PgPool;

/// Shared dependencies of every activity, registered once with the worker.
#[derive(Clone)]
pub struct GavelActivities {
    /// The read model; activities are its only writers for auction state.
    pub db: PgPool,
}

impl GavelActivities {
    pub fn new(db: PgPool) -> Arc<Self> {
        Arc::new(Self { db })
    }
}
