//! Users in PostgreSQL: creation (shared by registration and the admin CLI) and
//! look-ups. Plain functions with SQL checked at compile time.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::{Acquire, PgPool, Postgres, Transaction};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    auth::{DisplayName, Email, Password, Role, password},
    error::{ApiError, violated_constraint},
};

/// A user as the API shows it to that user (never the password hash).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    /// Public handle shown next to this user's bids.
    pub handle: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// The fields of a new account, already parsed.
#[derive(Debug)]
pub struct NewUser {
    pub email: Email,
    pub password: Password,
    pub name: DisplayName,
    pub role: Role,
}

/// Creates a user; 409 `email_taken` when the email exists in any letter case.
pub async fn create(
    db: &PgPool,
    hashing: &password::Hashing,
    new: NewUser,
) -> Result<User, ApiError> {
    let hash = password::hash(hashing, &new.password).await?;
    let mut tx = db.begin().await?;
    let user = insert(&mut tx, &new, &hash).await?;
    tx.commit().await?;
    Ok(user)
}

/// Inserts a user whose password hashes to `hash` within `tx` (each attempt
/// under a savepoint, so a handle collision leaves the transaction usable);
/// 409 `email_taken` when the email exists in any letter case.
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    new: &NewUser,
    hash: &str,
) -> Result<User, ApiError> {
    // A handle collision is astronomically rare but cheap to retry.
    for _ in 0..3 {
        let mut attempt = tx.begin().await?;
        let row = sqlx::query_as!(
            User,
            r#"INSERT INTO users (id, email, name, handle, password_hash, role)
               VALUES ($1, $2, $3, $4, $5, $6)
               RETURNING id, email, name, handle, role AS "role: Role", created_at"#,
            Uuid::now_v7(),
            new.email.as_str(),
            new.name.as_str(),
            handle_for(&new.name),
            hash,
            new.role.as_str(),
        )
        .fetch_one(&mut *attempt)
        .await;
        match row {
            Ok(user) => {
                attempt.commit().await?;
                return Ok(user);
            }
            Err(err) => match violated_constraint(&err) {
                Some("users_email_lower_key") => {
                    return Err(ApiError::conflict(
                        "email_taken",
                        "an account with this email already exists",
                    ));
                }
                Some("users_handle_key") => continue,
                _ => return Err(err.into()),
            },
        }
    }
    Err(ApiError::internal(anyhow::anyhow!(
        "could not find a free handle"
    )))
}

/// Longest slug of a handle, before its suffix.
const SLUG_MAX: usize = 20;

/// A public handle: a slug of the name plus a random suffix, e.g.
/// `ada-lovelace-3f9c2a`.
fn handle_for(name: &DisplayName) -> String {
    let suffix: u32 = rand::thread_rng().gen_range(0..0x100_0000);
    format!("{}-{suffix:06x}", slug(name.as_str()))
}

/// The name's words in ASCII (`José` → `jose`, `李小龍` → `li-xiao-long`),
/// lower case, joined by `-`: whole words only, as many as fit in
/// [`SLUG_MAX`] (a first word longer than that is cut).
fn slug(name: &str) -> String {
    let ascii = deunicode::deunicode(name);
    let words = ascii
        .split(|c: char| c.is_whitespace() || c == '-')
        .map(|word| {
            word.chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase())
                .collect::<String>()
        })
        .filter(|word| !word.is_empty());
    let mut slug = String::new();
    for word in words {
        if slug.is_empty() {
            slug = word.chars().take(SLUG_MAX).collect();
        } else if slug.len() + 1 + word.len() <= SLUG_MAX {
            slug.push('-');
            slug.push_str(&word);
        } else {
            break;
        }
    }
    if slug.is_empty() {
        "user".to_owned()
    } else {
        slug
    }
}

/// What a login checks: the user, their password hash and token version.
#[derive(Debug)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
    pub token_version: i32,
}

/// The user's credentials for a login, by email in any letter case.
pub async fn find_for_login(db: &PgPool, email: &Email) -> Result<Option<Credentials>, ApiError> {
    let row = sqlx::query!(
        r#"SELECT id, email, name, handle, role AS "role: Role", created_at, password_hash,
               token_version
           FROM users WHERE lower(email) = lower($1)"#,
        email.as_str(),
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| Credentials {
        user: User {
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

/// A user's password hash by id (to check the current password).
pub async fn password_hash(db: &PgPool, id: Uuid) -> Result<Option<String>, ApiError> {
    Ok(
        sqlx::query_scalar!("SELECT password_hash FROM users WHERE id = $1", id)
            .fetch_optional(db)
            .await?,
    )
}

/// Stores a new password hash (from [`password::hash`]) in `tx`.
pub async fn set_password_hash(
    tx: &mut sqlx::PgConnection,
    id: Uuid,
    hash: &str,
) -> Result<(), ApiError> {
    sqlx::query!(
        "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
        id,
        hash,
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Changes a user's role in `tx`; the user as now, `None` if there is none.
pub async fn set_role(
    tx: &mut sqlx::PgConnection,
    id: Uuid,
    role: Role,
) -> Result<Option<User>, ApiError> {
    Ok(sqlx::query_as!(
        User,
        r#"UPDATE users SET role = $2, updated_at = now() WHERE id = $1
           RETURNING id, email, name, handle, role AS "role: Role", created_at"#,
        id,
        role.as_str(),
    )
    .fetch_optional(tx)
    .await?)
}

pub async fn find_by_id(db: &PgPool, id: Uuid) -> Result<Option<User>, ApiError> {
    Ok(sqlx::query_as!(
        User,
        r#"SELECT id, email, name, handle, role AS "role: Role", created_at
           FROM users WHERE id = $1"#,
        id,
    )
    .fetch_optional(db)
    .await?)
}

/// A strike: a won auction the user did not pay for in time.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Strike {
    pub invoice_id: Uuid,
    pub auction_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// The user's strikes that still count (younger than `ttl`, not cleared),
/// newest first.
pub async fn strikes(
    db: &PgPool,
    user_id: Uuid,
    ttl: chrono::Duration,
) -> Result<Vec<Strike>, ApiError> {
    Ok(sqlx::query_as!(
        Strike,
        "SELECT invoice_id, auction_id, created_at FROM strikes
         WHERE user_id = $1 AND cleared_at IS NULL AND created_at > $2
         ORDER BY created_at DESC",
        user_id,
        Utc::now() - ttl,
    )
    .fetch_all(db)
    .await?)
}

/// Clears every strike of `user_id` (an admin's decision); returns how many.
pub async fn clear_strikes(db: &PgPool, user_id: Uuid, admin_id: Uuid) -> Result<u64, ApiError> {
    Ok(sqlx::query!(
        "UPDATE strikes SET cleared_at = now(), cleared_by = $2
         WHERE user_id = $1 AND cleared_at IS NULL",
        user_id,
        admin_id,
    )
    .execute(db)
    .await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn handles_keep_whole_words() {
        assert_eq!(slug("Ada Lovelace"), "ada-lovelace");
        assert_eq!(slug("Alexandria Ocasio Cortez"), "alexandria-ocasio");
        assert_eq!(slug("Ngozi Okonjo-Iweala"), "ngozi-okonjo-iweala");
        assert_eq!(slug("Chukwuemekaobiamakanwosu Eze"), "chukwuemekaobiamakan");
        assert_eq!(slug("José  Núñez"), "jose-nunez");
        assert_eq!(slug("李小龍"), "li-xiao-long");
        assert_eq!(slug("🦀"), "crab");
        assert_eq!(slug("…"), "user");
    }
}
