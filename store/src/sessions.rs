//! Session rows: one per sign-in (API login, sign-up, the page's forms),
//! named by the `sid` of its tokens, ended by signing out. Whether a token's
//! session is still live is read through the API's `TokenVersions`.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

/// Expired rows deleted per new session: enough to keep up with sign-ins,
/// small enough that no sign-in waits on a big delete.
const PRUNE_PER_START: i64 = 100;

/// Records session `id` of `user`, valid until `expires_at` (its tokens'
/// expiry).
pub async fn record<'e>(
    db: impl sqlx::PgExecutor<'e>,
    id: Uuid,
    user: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO sessions (id, user_id, expires_at) VALUES ($1, $2, $3)",
        id,
        user,
        expires_at,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes a few expired sessions. Housekeeping on the side of a sign-in:
/// when it fails, the sign-in still stands (the next one prunes).
pub async fn prune(db: &PgPool) {
    let pruned = sqlx::query!(
        "DELETE FROM sessions WHERE id IN
            (SELECT id FROM sessions WHERE expires_at < now() LIMIT $1)",
        PRUNE_PER_START,
    )
    .execute(db)
    .await;
    if let Err(err) = pruned {
        tracing::warn!(error = %err, "expired sessions were not pruned");
    }
}

/// Keeps session `id` of `user` alive until at least `expires_at`: a fresh
/// token for the same session (after a password or role change) expires
/// later than the first.
pub async fn extend(db: &PgPool, id: Uuid, user: Uuid, expires_at: DateTime<Utc>) -> Result<()> {
    sqlx::query!(
        "UPDATE sessions SET expires_at = GREATEST(expires_at, $3)
         WHERE id = $1 AND user_id = $2",
        id,
        user,
        expires_at,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Ends session `id` of `user`; false when it was not live.
pub async fn end(db: &PgPool, id: Uuid, user: Uuid) -> Result<bool> {
    let ended = sqlx::query_scalar!(
        "UPDATE sessions SET ended_at = now()
         WHERE id = $1 AND user_id = $2 AND ended_at IS NULL AND expires_at > now()
         RETURNING id",
        id,
        user,
    )
    .fetch_optional(db)
    .await?;
    Ok(ended.is_some())
}

/// What the database says of a token's user and session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The user's current token version.
    pub version: i32,
    /// The session exists, belongs to the user, is not ended or expired.
    pub live: bool,
}

/// The standing of `user`'s session `session`; `None` when there is no such
/// user.
pub async fn standing(db: &PgPool, user: Uuid, session: Uuid) -> Result<Option<Standing>> {
    let row = sqlx::query!(
        r#"SELECT u.token_version AS "version!",
                  (s.id IS NOT NULL AND s.ended_at IS NULL AND s.expires_at > now()) AS "live!"
           FROM users u
           LEFT JOIN sessions s ON s.id = $2 AND s.user_id = u.id
           WHERE u.id = $1"#,
        user,
        session,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| Standing {
        version: r.version,
        live: r.live,
    }))
}
