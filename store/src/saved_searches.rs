//! The `saved_searches` table: a listing's query and filters an account
//! keeps, and how far the daily digest has looked for lots matching each.
//! The lots themselves are found by [`crate::auctions::list`], the listing's
//! own query.

use chrono::{DateTime, Utc};
use gavel_workflows::contract::view::AuctionStatus;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{Result, auctions::ListFilter};

/// One saved search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SavedSearch {
    pub id: Uuid,
    pub user_id: Uuid,
    /// Words in the title or description (`q`), trimmed; `None` for any.
    pub query: Option<String>,
    pub status: Option<AuctionStatus>,
    pub seller_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// Lots listed up to this time were considered by a digest already.
    pub digested_until: DateTime<Utc>,
}

impl SavedSearch {
    /// The listing's filter for the lots of this search listed after
    /// `digested_until` and up to `until`, at most `limit` of them.
    pub fn new_lots_filter(&self, until: DateTime<Utc>, limit: i64) -> ListFilter {
        ListFilter {
            status: self.status,
            seller_id: self.seller_id,
            text: self.query.clone(),
            limit,
            listed_within: Some((self.digested_until, until)),
            ..ListFilter::default()
        }
    }
}

/// The filters of a search to save (checked by the caller as the listing
/// checks them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSearch {
    pub query: Option<String>,
    pub status: Option<AuctionStatus>,
    pub seller_id: Option<Uuid>,
}

/// What saving a search came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    Created(SavedSearch),
    /// The account has a search with these filters already.
    Exists,
    /// The account has `limit` searches already.
    TooMany,
}

const UNIQUE: &str = "saved_searches_unique";

/// Saves `search` for `user` unless it has `limit` searches (or this one)
/// already. The account's row is locked while counting, so two saves at
/// once cannot both pass the limit.
pub async fn create(db: &PgPool, user: Uuid, search: &NewSearch, limit: i64) -> Result<Saved> {
    let mut tx = db.begin().await?;
    sqlx::query!("SELECT id FROM users WHERE id = $1 FOR UPDATE", user)
        .fetch_optional(&mut *tx)
        .await?;
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM saved_searches WHERE user_id = $1"#,
        user
    )
    .fetch_one(&mut *tx)
    .await?;
    if count >= limit {
        return Ok(Saved::TooMany);
    }
    let inserted = sqlx::query_as!(
        SavedSearch,
        r#"INSERT INTO saved_searches (id, user_id, query, status, seller_id)
           VALUES ($1, $2, $3, $4, $5)
           RETURNING id, user_id, query, status AS "status: AuctionStatus", seller_id,
               created_at, digested_until"#,
        Uuid::new_v4(),
        user,
        search.query,
        search.status.map(AuctionStatus::as_str),
        search.seller_id,
    )
    .fetch_one(&mut *tx)
    .await;
    match inserted {
        Ok(saved) => {
            tx.commit().await?;
            Ok(Saved::Created(saved))
        }
        Err(err) => match crate::StoreError::from(err) {
            err if err.constraint() == Some(UNIQUE) => Ok(Saved::Exists),
            err => Err(err),
        },
    }
}

/// `user`'s searches, oldest first.
pub async fn list(db: &PgPool, user: Uuid) -> Result<Vec<SavedSearch>> {
    let searches = sqlx::query_as!(
        SavedSearch,
        r#"SELECT id, user_id, query, status AS "status: AuctionStatus", seller_id, created_at,
               digested_until
           FROM saved_searches WHERE user_id = $1 ORDER BY created_at, id"#,
        user
    )
    .fetch_all(db)
    .await?;
    Ok(searches)
}

/// Removes `user`'s search `id`; `false` when it has none such.
pub async fn delete(db: &PgPool, user: Uuid, id: Uuid) -> Result<bool> {
    let deleted = sqlx::query!(
        "DELETE FROM saved_searches WHERE id = $1 AND user_id = $2",
        id,
        user
    )
    .execute(db)
    .await?
    .rows_affected();
    Ok(deleted == 1)
}

/// Up to `limit` accounts after `after` (by id) that have a saved search and
/// want the digest (no preference row means they do), at a verified address
/// (an address nobody confirmed gets no optional mail).
pub async fn digest_accounts(db: &PgPool, after: Option<Uuid>, limit: i64) -> Result<Vec<Uuid>> {
    let accounts = sqlx::query_scalar!(
        r#"SELECT DISTINCT s.user_id AS "user_id!" FROM saved_searches s
           JOIN users u ON u.id = s.user_id
           LEFT JOIN notice_preferences p ON p.user_id = s.user_id
           WHERE COALESCE(p.saved_search_digest, true)
             AND u.deleted_at IS NULL AND u.email_verified_at IS NOT NULL
             AND ($1::uuid IS NULL OR s.user_id > $1)
           ORDER BY s.user_id LIMIT $2"#,
        after,
        limit
    )
    .fetch_all(db)
    .await?;
    Ok(accounts)
}

/// `user`'s searches not yet digested up to `until`, locked until `tx` ends:
/// a second digest of the same account waits, then finds them advanced.
pub async fn lock_undigested(
    tx: &mut sqlx::PgConnection,
    user: Uuid,
    until: DateTime<Utc>,
) -> Result<Vec<SavedSearch>> {
    let searches = sqlx::query_as!(
        SavedSearch,
        r#"SELECT id, user_id, query, status AS "status: AuctionStatus", seller_id, created_at,
               digested_until
           FROM saved_searches WHERE user_id = $1 AND digested_until < $2
           ORDER BY created_at, id FOR UPDATE"#,
        user,
        until
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(searches)
}

/// Marks searches `ids` digested up to `until`.
pub async fn mark_digested(
    tx: &mut sqlx::PgConnection,
    ids: &[Uuid],
    until: DateTime<Utc>,
) -> Result<()> {
    sqlx::query!(
        "UPDATE saved_searches SET digested_until = $2
         WHERE id = ANY($1) AND digested_until < $2",
        ids,
        until
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}
