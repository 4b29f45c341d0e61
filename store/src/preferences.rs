//! The `notice_preferences` table: which kinds of optional notice an account
//! wants, and how early its "ending soon" alerts go. An account without a row
//! has [`Preferences::default`]. Also the `unsubscribe_keys` table: each
//! account's random key for signing its unsubscribe links.

use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::Result;

/// A kind of notice a person may stop. Mail a buyer or seller must get (won,
/// invoice, receipt, refund, payout) is not one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// "You have been outbid" on a lot the account bid on, and "another
    /// bidder won" when it ends.
    Outbid,
    /// "Ending soon" on a lot the account bid on and is not leading.
    EndingSoon,
    /// "Ending soon" on a lot on the account's watchlist.
    WatchedLots,
    /// The daily digest of new lots matching the account's saved searches.
    SavedSearchDigest,
}

impl NoticeKind {
    /// Every kind, in the order pages list them.
    pub const ALL: [NoticeKind; 4] = [
        NoticeKind::Outbid,
        NoticeKind::EndingSoon,
        NoticeKind::WatchedLots,
        NoticeKind::SavedSearchDigest,
    ];

    /// The stable name used in links, JSON and the database's column.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Outbid => "outbid",
            NoticeKind::EndingSoon => "ending_soon",
            NoticeKind::WatchedLots => "watched_lots",
            NoticeKind::SavedSearchDigest => "saved_search_digest",
        }
    }

    /// The kind named `name`, if any.
    pub fn parse(name: &str) -> Option<NoticeKind> {
        NoticeKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// Shortest lead an "ending soon" alert may have, in seconds.
pub const LEAD_MIN_SECS: i32 = 60;
/// Longest lead an "ending soon" alert may have, in seconds (7 days).
pub const LEAD_MAX_SECS: i32 = 7 * 24 * 3600;
/// The lead an account has until it chooses one (an hour).
pub const LEAD_DEFAULT_SECS: i32 = 3600;

/// One account's choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    pub outbid: bool,
    pub ending_soon: bool,
    pub watched_lots: bool,
    pub saved_search_digest: bool,
    pub ending_soon_lead_secs: i32,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            outbid: true,
            ending_soon: true,
            watched_lots: true,
            saved_search_digest: true,
            ending_soon_lead_secs: LEAD_DEFAULT_SECS,
        }
    }
}

impl Preferences {
    /// Whether these choices let a notice of `kind` go.
    pub fn wants(&self, kind: NoticeKind) -> bool {
        match kind {
            NoticeKind::Outbid => self.outbid,
            NoticeKind::EndingSoon => self.ending_soon,
            NoticeKind::WatchedLots => self.watched_lots,
            NoticeKind::SavedSearchDigest => self.saved_search_digest,
        }
    }

    /// These choices with `kind` switched `on` or off.
    pub fn with(mut self, kind: NoticeKind, on: bool) -> Preferences {
        match kind {
            NoticeKind::Outbid => self.outbid = on,
            NoticeKind::EndingSoon => self.ending_soon = on,
            NoticeKind::WatchedLots => self.watched_lots = on,
            NoticeKind::SavedSearchDigest => self.saved_search_digest = on,
        }
        self
    }
}

/// `user`'s choices (the defaults when it has made none).
pub async fn get(db: impl PgExecutor<'_>, user: Uuid) -> Result<Preferences> {
    let row = sqlx::query_as!(
        Preferences,
        "SELECT outbid, ending_soon, watched_lots, saved_search_digest, ending_soon_lead_secs
         FROM notice_preferences WHERE user_id = $1",
        user,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.unwrap_or_default())
}

/// Stores `user`'s choices whole. The lead must lie within
/// [`LEAD_MIN_SECS`]..=[`LEAD_MAX_SECS`] (the table refuses others).
pub async fn put(db: impl PgExecutor<'_>, user: Uuid, choices: &Preferences) -> Result<()> {
    sqlx::query!(
        "INSERT INTO notice_preferences
             (user_id, outbid, ending_soon, watched_lots, saved_search_digest, ending_soon_lead_secs)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (user_id) DO UPDATE SET
             outbid = EXCLUDED.outbid, ending_soon = EXCLUDED.ending_soon,
             watched_lots = EXCLUDED.watched_lots,
             saved_search_digest = EXCLUDED.saved_search_digest,
             ending_soon_lead_secs = EXCLUDED.ending_soon_lead_secs, updated_at = now()",
        user,
        choices.outbid,
        choices.ending_soon,
        choices.watched_lots,
        choices.saved_search_digest,
        choices.ending_soon_lead_secs,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Switches one kind of notice off for `user` (an unsubscribe link), leaving
/// the rest as they are; a single statement, so it cannot undo a concurrent
/// change to another kind.
pub async fn stop(db: impl PgExecutor<'_>, user: Uuid, kind: NoticeKind) -> Result<()> {
    let off = Preferences::default().with(kind, false);
    sqlx::query!(
        "INSERT INTO notice_preferences
             (user_id, outbid, ending_soon, watched_lots, saved_search_digest)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_id) DO UPDATE SET
             outbid = notice_preferences.outbid AND EXCLUDED.outbid,
             ending_soon = notice_preferences.ending_soon AND EXCLUDED.ending_soon,
             watched_lots = notice_preferences.watched_lots AND EXCLUDED.watched_lots,
             saved_search_digest =
                 notice_preferences.saved_search_digest AND EXCLUDED.saved_search_digest,
             updated_at = now()",
        user,
        off.outbid,
        off.ending_soon,
        off.watched_lots,
        off.saved_search_digest,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The length of an account's unsubscribe key, in bytes.
pub const UNSUBSCRIBE_KEY_LEN: usize = 32;

/// `user`'s unsubscribe key, keeping `fresh` (random, [`UNSUBSCRIBE_KEY_LEN`]
/// bytes) as the key when it has none yet. Two callers racing keep one key.
pub async fn unsubscribe_key(db: &PgPool, user: Uuid, fresh: &[u8]) -> Result<Vec<u8>> {
    // Read first: every optional notice asks, and all but the first find one.
    if let Some(key) = existing_unsubscribe_key(db, user).await? {
        return Ok(key);
    }
    sqlx::query!(
        "INSERT INTO unsubscribe_keys (user_id, key) VALUES ($1, $2)
         ON CONFLICT (user_id) DO NOTHING",
        user,
        fresh,
    )
    .execute(db)
    .await?;
    // A separate statement: it sees a key another caller committed meanwhile.
    let key = sqlx::query_scalar!("SELECT key FROM unsubscribe_keys WHERE user_id = $1", user)
        .fetch_one(db)
        .await?;
    Ok(key)
}

/// `user`'s unsubscribe key, if one was ever made (no link was ever signed
/// without one).
pub async fn existing_unsubscribe_key(db: &PgPool, user: Uuid) -> Result<Option<Vec<u8>>> {
    let key = sqlx::query_scalar!("SELECT key FROM unsubscribe_keys WHERE user_id = $1", user)
        .fetch_optional(db)
        .await?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_its_name_and_switches_only_itself() {
        for kind in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(kind.as_str()), Some(kind));
            let off = Preferences::default().with(kind, false);
            for other in NoticeKind::ALL {
                assert_eq!(off.wants(other), other != kind, "{kind:?} off, {other:?}");
            }
        }
        assert_eq!(NoticeKind::parse("won"), None);
    }
}
