//! The `paystack_events` table: every webhook delivery Paystack made, stored
//! once per (event, key), so a redelivery is recognised.

use serde_json::Value;
use sqlx::PgPool;

use crate::Result;

/// Stores a delivery; its id when it is the first of its (event, key),
/// `None` for a redelivery.
pub async fn record(
    db: &PgPool,
    event: &str,
    reference: &str,
    key: &str,
    body: Value,
) -> Result<Option<i64>> {
    let stored = sqlx::query_scalar!(
        "INSERT INTO paystack_events (event, reference, event_key, body) VALUES ($1, $2, $3, $4)
         ON CONFLICT (event, event_key) DO NOTHING RETURNING id",
        event,
        reference,
        key,
        body
    )
    .fetch_optional(db)
    .await?;
    Ok(stored)
}

/// Forgets delivery `id` (one not applied), so Paystack's redelivery is
/// taken for a first delivery.
pub async fn forget(db: &PgPool, id: i64) -> Result<()> {
    sqlx::query!("DELETE FROM paystack_events WHERE id = $1", id)
        .execute(db)
        .await?;
    Ok(())
}
