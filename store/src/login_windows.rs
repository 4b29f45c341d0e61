//! Fixed-window counters in PostgreSQL (`rate_windows`), shared by every API
//! replica. One statement counts a hit on each key and returns the counts, so
//! concurrent attempts are counted exactly and cannot slip past a check.
//! Hand-written rather than `governor`: its counters live in one process,
//! and login limits must hold across every replica.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use sqlx::PgPool;

use crate::Result;

/// Windows older than this are deleted (every window is shorter).
pub const LONGEST_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// Deleting expired windows once per this many hits keeps the table small
/// without a sweeper task.
const SWEEP_EVERY: u64 = 512;

/// A key's count in its current window after a hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub key: String,
    pub count: i64,
    /// Seconds until the window ends (at least 1).
    pub resets_in: u64,
}

/// The shared counters.
#[derive(Debug)]
pub struct RateWindows {
    db: PgPool,
    hits: AtomicU64,
}

impl RateWindows {
    pub fn new(db: PgPool) -> Self {
        Self {
            db,
            hits: AtomicU64::new(0),
        }
    }

    /// Counts one hit on each of `keys` in windows of `window`; the counts,
    /// in the order of `keys`.
    pub async fn hit(&self, keys: &[String], window: Duration) -> Result<Vec<Hit>> {
        let window_secs = window.min(LONGEST_WINDOW).as_secs_f64();
        // Rows are locked in key order, so two hits on the same keys never
        // deadlock.
        let mut sorted = keys.to_vec();
        sorted.sort();
        sorted.dedup();
        let rows = sqlx::query!(
            r#"INSERT INTO rate_windows AS w (key, started_at, count)
               SELECT key, now(), 1 FROM unnest($1::text[]) AS key ORDER BY key
               ON CONFLICT (key) DO UPDATE SET
                   count = CASE WHEN w.started_at <= now() - make_interval(secs => $2)
                                THEN 1 ELSE w.count + 1 END,
                   started_at = CASE WHEN w.started_at <= now() - make_interval(secs => $2)
                                     THEN now() ELSE w.started_at END
               RETURNING key AS "key!", count::bigint AS "count!",
                   GREATEST(1, ceil(extract(epoch FROM
                       started_at + make_interval(secs => $2) - now())))::bigint AS "resets_in!""#,
            &sorted,
            window_secs,
        )
        .fetch_all(&self.db)
        .await?;
        if self.hits.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep().await?;
        }
        Ok(keys
            .iter()
            .filter_map(|key| rows.iter().find(|r| &r.key == key))
            .map(|r| Hit {
                key: r.key.clone(),
                count: r.count,
                resets_in: u64::try_from(r.resets_in).unwrap_or(1),
            })
            .collect())
    }

    /// Forgets `key` (a successful login clears its failures).
    pub async fn clear(&self, key: &str) -> Result<()> {
        sqlx::query!("DELETE FROM rate_windows WHERE key = $1", key)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    async fn sweep(&self) -> Result<()> {
        let deleted = sqlx::query!(
            "DELETE FROM rate_windows WHERE started_at < now() - make_interval(secs => $1)",
            LONGEST_WINDOW.as_secs_f64(),
        )
        .execute(&self.db)
        .await?;
        tracing::debug!(
            deleted = deleted.rows_affected(),
            "expired rate windows swept"
        );
        Ok(())
    }
}

/// The longest wait among `hits` over their `limits` (same order), if any is.
pub fn over(hits: &[Hit], limits: &[u32]) -> Option<u64> {
    hits.iter()
        .zip(limits)
        .filter(|(hit, limit)| hit.count > i64::from(**limit))
        .map(|(hit, _)| hit.resets_in)
        .max()
}
