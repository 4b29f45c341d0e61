//! The `users` and `strikes` tables: accounts (created and changed by the
//! API: sign-up, passwords, roles, token versions), what the worker reads of
//! them (where to write to a user, whether one is an admin), and strikes.
//! Roles are stored as text; the API owns their meaning.

use chrono::{DateTime, Utc};
use sqlx::{Acquire, PgConnection, PgPool};
use uuid::Uuid;

use crate::Result;

/// Where to write to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAddress {
    pub email: String,
    pub name: String,
    /// The account was deleted: its address is a placeholder, and nothing
    /// is sent to it.
    pub deleted: bool,
}

pub async fn mail_address(db: &PgPool, id: Uuid) -> Result<Option<MailAddress>> {
    sqlx::query_as!(
        MailAddress,
        r#"SELECT email, name, deleted_at IS NOT NULL AS "deleted!" FROM users WHERE id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
    .map_err(Into::into)
}

pub async fn is_admin(db: &PgPool, id: Uuid) -> Result<bool> {
    let found = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND role = 'admin') AS "found!""#,
        id
    )
    .fetch_one(db)
    .await?;
    Ok(found)
}

/// Every admin, oldest account first.
pub async fn admins(db: &PgPool) -> Result<Vec<Uuid>> {
    sqlx::query_scalar!("SELECT id FROM users WHERE role = 'admin' ORDER BY created_at, id")
        .fetch_all(db)
        .await
        .map_err(Into::into)
}

/// A user as stored, without the password hash.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub handle: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
}

/// The fields of a new account, checked by the caller.
#[derive(Debug, Clone, Copy)]
pub struct NewUserRow<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub handle: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    /// The address counts as verified from the start (an admin's account).
    pub email_verified: bool,
}

/// Inserts a user under a savepoint of `conn`'s transaction, so a refused
/// insert (an email or handle taken: [`StoreError::Conflict`] naming
/// `users_email_lower_key` or `users_handle_key`) leaves it usable.
///
/// [`StoreError::Conflict`]: crate::StoreError::Conflict
pub async fn insert(conn: &mut PgConnection, new: NewUserRow<'_>) -> Result<UserRow> {
    let mut attempt = conn.begin().await?;
    let user = sqlx::query_as!(
        UserRow,
        r#"INSERT INTO users (id, email, name, handle, password_hash, role, email_verified_at)
           VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7 THEN now() END)
           RETURNING id, email, name, handle, role, created_at"#,
        Uuid::now_v7(),
        new.email,
        new.name,
        new.handle,
        new.password_hash,
        new.role,
        new.email_verified,
    )
    .fetch_one(&mut *attempt)
    .await?;
    attempt.commit().await?;
    Ok(user)
}

/// What a login checks: the user, their password hash and token version.
#[derive(Debug, Clone)]
pub struct LoginRow {
    pub user: UserRow,
    pub password_hash: String,
    pub token_version: i32,
}

/// The user's credentials for a login, by email in any letter case.
pub async fn find_for_login(db: &PgPool, email: &str) -> Result<Option<LoginRow>> {
    let row = sqlx::query!(
        r#"SELECT id, email, name, handle, role, created_at, password_hash, token_version
           FROM users WHERE lower(email) = lower($1) AND deleted_at IS NULL"#,
        email,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| LoginRow {
        user: UserRow {
            id: r.id,
            email: r.email,
            name: r.name,
            handle: r.handle,
            role: r.role,
            created_at: r.created_at,
        },
        password_hash: r.password_hash,
        token_version: r.token_version,
    }))
}

/// A user's password hash by id.
pub async fn password_hash(db: &PgPool, id: Uuid) -> Result<Option<String>> {
    let hash = sqlx::query_scalar!("SELECT password_hash FROM users WHERE id = $1", id)
        .fetch_optional(db)
        .await?;
    Ok(hash)
}

/// Stores a new password hash in `conn`'s transaction.
pub async fn set_password_hash(conn: &mut PgConnection, id: Uuid, hash: &str) -> Result<()> {
    sqlx::query!(
        "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
        id,
        hash,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Changes a user's role in `conn`'s transaction; the user as now, `None`
/// if there is none.
pub async fn set_role(conn: &mut PgConnection, id: Uuid, role: &str) -> Result<Option<UserRow>> {
    let user = sqlx::query_as!(
        UserRow,
        r#"UPDATE users SET role = $2, updated_at = now() WHERE id = $1
           RETURNING id, email, name, handle, role, created_at"#,
        id,
        role,
    )
    .fetch_optional(conn)
    .await?;
    Ok(user)
}

/// Bumps the user's token version in `conn`'s transaction (their older
/// tokens stop working); the new version.
pub async fn bump_token_version(conn: &mut PgConnection, id: Uuid) -> Result<i32> {
    let version = sqlx::query_scalar!(
        "UPDATE users SET token_version = token_version + 1, updated_at = now()
         WHERE id = $1 RETURNING token_version",
        id,
    )
    .fetch_one(conn)
    .await?;
    Ok(version)
}

/// Whether `id`'s email address is verified; `None` when there is no such
/// user. Invariant: `email_verified_at` is never cleared once set; the API
/// caches a positive answer per process for good (`VerifiedAccounts`), so
/// whatever cleared it would have to clear every replica's cache too.
pub async fn email_verified(db: &PgPool, id: Uuid) -> Result<Option<bool>> {
    let verified = sqlx::query_scalar!(
        r#"SELECT (email_verified_at IS NOT NULL) AS "verified!" FROM users WHERE id = $1"#,
        id,
    )
    .fetch_optional(db)
    .await?;
    Ok(verified)
}

/// Marks `id`'s address verified in `conn`'s transaction (an address
/// verified before keeps its first time); false when there is no such user.
pub async fn mark_email_verified(conn: &mut PgConnection, id: Uuid) -> Result<bool> {
    let marked = sqlx::query!(
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, now()), updated_at = now()
         WHERE id = $1",
        id,
    )
    .execute(conn)
    .await?;
    Ok(marked.rows_affected() == 1)
}

pub async fn find_by_id(db: &PgPool, id: Uuid) -> Result<Option<UserRow>> {
    let user = sqlx::query_as!(
        UserRow,
        "SELECT id, email, name, handle, role, created_at FROM users WHERE id = $1",
        id,
    )
    .fetch_optional(db)
    .await?;
    Ok(user)
}

/// A strike: a won auction the user did not pay for in time.
#[derive(Debug, Clone)]
pub struct StrikeRow {
    pub invoice_id: Uuid,
    pub auction_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// The user's strikes given after `since` and not cleared, newest first.
pub async fn strikes(db: &PgPool, user_id: Uuid, since: DateTime<Utc>) -> Result<Vec<StrikeRow>> {
    let strikes = sqlx::query_as!(
        StrikeRow,
        "SELECT invoice_id, auction_id, created_at FROM strikes
         WHERE user_id = $1 AND cleared_at IS NULL AND created_at > $2
         ORDER BY created_at DESC",
        user_id,
        since,
    )
    .fetch_all(db)
    .await?;
    Ok(strikes)
}

/// Clears every strike of `user_id`, as a bidder (unpaid wins) and as a
/// seller (paid lots left unshipped), in one statement (an admin's
/// decision); returns how many.
pub async fn clear_strikes(db: &PgPool, user_id: Uuid, admin_id: Uuid) -> Result<u64> {
    let cleared = sqlx::query_scalar!(
        r#"WITH bidder AS (
               UPDATE strikes SET cleared_at = now(), cleared_by = $2
               WHERE user_id = $1 AND cleared_at IS NULL
               RETURNING 1
           ), seller AS (
               UPDATE seller_strikes SET cleared_at = now(), cleared_by = $2
               WHERE user_id = $1 AND cleared_at IS NULL
               RETURNING 1
           )
           SELECT (SELECT count(*) FROM bidder) + (SELECT count(*) FROM seller) AS "cleared!""#,
        user_id,
        admin_id,
    )
    .fetch_one(db)
    .await?;
    // A count of rows: never negative.
    Ok(u64::try_from(cleared).unwrap_or_default())
}
