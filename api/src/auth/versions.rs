//! Token revocation: every token carries its user's `token_version` as of
//! issue (changing the password or the role bumps it) and its session id
//! (signing out ends the session). Each replica re-reads a session's standing
//! (version and whether the session is live) at most every revocation delay
//! (`GAVEL_REVOCATION_SECS`), so a revoked token
//! stops working everywhere within that time, and at once on the replica
//! that made the change: the cache is cleared after the change commits, and
//! a read that began before the clear is not cached.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::error::ApiError;
use gavel_store::{
    sessions::{self, Standing},
    users,
};

/// Sessions whose standing is remembered before the cache starts over.
const REMEMBERED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    user: Uuid,
    standing: Standing,
    read: Instant,
}

#[derive(Debug, Default)]
struct Known {
    sessions: HashMap<Uuid, Entry>,
    /// Counts local revocations; a read that saw another count when it began
    /// may hold what the revocation changed, so it is not cached.
    changes: u64,
}

#[derive(Debug)]
pub struct TokenVersions {
    db: PgPool,
    fresh_for: Duration,
    known: Mutex<Known>,
}

impl TokenVersions {
    pub fn new(db: PgPool, fresh_for: Duration) -> Self {
        Self {
            db,
            fresh_for,
            known: Mutex::default(),
        }
    }

    /// The standing of `user`'s session `session`; `None` when there is no
    /// such user. One query per session per revocation delay.
    pub async fn current(&self, user: Uuid, session: Uuid) -> Result<Option<Standing>, ApiError> {
        let now = Instant::now();
        let changes = {
            let known = self.lock();
            if let Some(entry) = known.sessions.get(&session)
                && entry.user == user
                && now.duration_since(entry.read) < self.fresh_for
            {
                return Ok(Some(entry.standing));
            }
            known.changes
        };
        let standing = sessions::standing(&self.db, user, session).await?;
        if let Some(standing) = standing {
            let mut known = self.lock();
            if known.changes == changes {
                if known.sessions.len() >= REMEMBERED {
                    known.sessions.clear();
                }
                known.sessions.insert(
                    session,
                    Entry {
                        user,
                        standing,
                        read: now,
                    },
                );
            }
        }
        Ok(standing)
    }

    /// Bumps `user`'s version in `tx` and commits it (older tokens are
    /// revoked, at once on this replica); the new version, for the caller's
    /// fresh token.
    pub async fn bump_and_commit(
        &self,
        mut tx: Transaction<'_, Postgres>,
        user: Uuid,
    ) -> Result<i32, ApiError> {
        let version = users::bump_token_version(&mut tx, user).await?;
        tx.commit().await?;
        self.forget(|entry| entry.user == user);
        Ok(version)
    }

    /// Ends `user`'s session `session` (its tokens are refused, at once on
    /// this replica); false when it was not live.
    pub async fn end_session(&self, user: Uuid, session: Uuid) -> Result<bool, ApiError> {
        let ended = sessions::end(&self.db, session, user).await?;
        self.session_ended(user, session);
        Ok(ended)
    }

    /// Forgets what is known of `user`'s session `session` once it ended:
    /// one entry, looked up by key (the user's other sessions are still
    /// good, and a scan of the whole cache under the lock would stall every
    /// request on each sign-out).
    fn session_ended(&self, user: Uuid, session: Uuid) {
        let mut known = self.lock();
        if known.sessions.get(&session).is_some_and(|e| e.user == user) {
            known.sessions.remove(&session);
        }
        known.changes = known.changes.wrapping_add(1);
    }

    /// Drops what `stale` picks, after the change committed, and turns away
    /// reads that were under way.
    fn forget(&self, stale: impl Fn(&Entry) -> bool) {
        let mut known = self.lock();
        known.sessions.retain(|_, entry| !stale(entry));
        known.changes = known.changes.wrapping_add(1);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(versions: &TokenVersions, user: Uuid, session: Uuid) {
        versions.lock().sessions.insert(
            session,
            Entry {
                user,
                standing: Standing {
                    version: 0,
                    live: true,
                },
                read: Instant::now(),
            },
        );
    }

    /// Signing out of one device touches that session only: the user's
    /// other sessions stay cached (no re-read, no scan of every entry).
    #[tokio::test]
    async fn ending_a_session_forgets_that_session_only() {
        let db = PgPool::connect_lazy("postgres://nobody@127.0.0.1:1/none").unwrap();
        let versions = TokenVersions::new(db, Duration::from_secs(30));
        let (user, other_user) = (Uuid::new_v4(), Uuid::new_v4());
        let (ended, phone, theirs) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        cached(&versions, user, ended);
        cached(&versions, user, phone);
        cached(&versions, other_user, theirs);
        let changes = versions.lock().changes;
        versions.session_ended(user, ended);
        let known = versions.lock();
        assert!(!known.sessions.contains_key(&ended));
        assert!(
            known.sessions.contains_key(&phone),
            "the user's other session"
        );
        assert!(known.sessions.contains_key(&theirs));
        assert_ne!(known.changes, changes, "reads under way are not cached");
    }
}
