//! The readiness probe: whether the database answers a query at all.

use sqlx::PgPool;

use crate::Result;

/// Runs the smallest query there is.
pub async fn ping(db: &PgPool) -> Result<()> {
    sqlx::query!("SELECT 1 AS one").fetch_one(db).await?;
    Ok(())
}
