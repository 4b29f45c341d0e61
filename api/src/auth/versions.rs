//! Token revocation by version: every token carries its user's
//! `token_version` as of issue; changing the password or the role bumps it.
//! Each replica re-reads a user's version at most every [`FRESH_FOR`], so an
//! older token stops working everywhere within that time (at once on the
//! replica that made the change).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ApiError;

/// How long a version read from the database is trusted.
pub const FRESH_FOR: Duration = Duration::from_secs(30);
/// Users whose versions are remembered before the cache starts over.
const REMEMBERED: usize = 100_000;

#[derive(Debug)]
pub struct TokenVersions {
    db: PgPool,
    known: Mutex<HashMap<Uuid, (i32, Instant)>>,
}

impl TokenVersions {
    pub fn new(db: PgPool) -> Self {
        Self {
            db,
            known: Mutex::default(),
        }
    }

    /// `user`'s current version; `None` when there is no such user.
    pub async fn current(&self, user: Uuid) -> Result<Option<i32>, ApiError> {
        let now = Instant::now();
        if let Some((version, read)) = self.lock().get(&user).copied()
            && now.duration_since(read) < FRESH_FOR
        {
            return Ok(Some(version));
        }
        let version = sqlx::query_scalar!("SELECT token_version FROM users WHERE id = $1", user)
            .fetch_optional(&self.db)
            .await?;
        if let Some(version) = version {
            let mut known = self.lock();
            if known.len() >= REMEMBERED {
                known.clear();
            }
            known.insert(user, (version, now));
        }
        Ok(version)
    }

    /// Bumps `user`'s version in `tx` (older tokens are revoked once it
    /// commits); the new version, for the caller's fresh token.
    pub async fn bump(&self, tx: &mut sqlx::PgConnection, user: Uuid) -> Result<i32, ApiError> {
        let version = sqlx::query_scalar!(
            "UPDATE users SET token_version = token_version + 1, updated_at = now()
             WHERE id = $1 RETURNING token_version",
            user,
        )
        .fetch_one(tx)
        .await?;
        self.lock().remove(&user);
        Ok(version)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (i32, Instant)>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}
