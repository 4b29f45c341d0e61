//! The `account_tokens` table: single-use tokens emailed to an account (to
//! verify its address, to reset its password), kept only as their SHA-256.
//! Using one is one statement, so two requests with the same token cannot
//! both succeed.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;

/// Records a token (its hash) for `user` and `purpose`, valid until
/// `expires_at`.
pub async fn insert(
    conn: &mut PgConnection,
    token_hash: &[u8],
    user: Uuid,
    purpose: &str,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO account_tokens (token_hash, user_id, purpose, expires_at)
         VALUES ($1, $2, $3, $4)",
        token_hash,
        user,
        purpose,
        expires_at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Uses up the unused, unexpired token with this hash and purpose; its
/// account, `None` when there is no such token (unknown, used or expired).
pub async fn consume(
    conn: &mut PgConnection,
    token_hash: &[u8],
    purpose: &str,
) -> Result<Option<Uuid>> {
    let user = sqlx::query_scalar!(
        "UPDATE account_tokens SET used_at = now()
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
         RETURNING user_id",
        token_hash,
        purpose,
    )
    .fetch_optional(conn)
    .await?;
    Ok(user)
}

/// Revokes every unused token of `user` for `purpose`; how many.
pub async fn revoke_all(conn: &mut PgConnection, user: Uuid, purpose: &str) -> Result<u64> {
    let revoked = sqlx::query!(
        "UPDATE account_tokens SET used_at = now()
         WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
        user,
        purpose,
    )
    .execute(conn)
    .await?;
    Ok(revoked.rows_affected())
}
