//! Users in PostgreSQL: creation (shared by registration and the admin CLI) and
//! look-ups. Plain functions with inline SQL.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    auth::{DisplayName, Email, Password, Role, password},
    error::{ApiError, violated_constraint},
};

/// A user as the API shows it to that user (never the password hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    /// Public handle shown next to this user's bids.
    pub handle: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    email: String,
    name: String,
    handle: String,
    role: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = ApiError;

    fn try_from(row: UserRow) -> Result<Self, ApiError> {
        let role = Role::parse(&row.role)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown role {:?}", row.role)))?;
        Ok(User {
            id: row.id,
            email: row.email,
            name: row.name,
            handle: row.handle,
            role,
            created_at: row.created_at,
        })
    }
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
pub async fn create(db: &PgPool, new: NewUser) -> Result<User, ApiError> {
    let hash = password::hash(&new.password).await?;
    // A handle collision is astronomically rare but cheap to retry.
    for _ in 0..3 {
        let row = sqlx::query_as::<_, UserRow>(
            "INSERT INTO users (id, email, name, handle, password_hash, role)
             VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING id, email, name, handle, role, created_at",
        )
        .bind(Uuid::now_v7())
        .bind(new.email.as_str())
        .bind(new.name.as_str())
        .bind(handle_for(&new.name))
        .bind(&hash)
        .bind(new.role.as_str())
        .fetch_one(db)
        .await;
        match row {
            Ok(row) => return row.try_into(),
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

#[derive(sqlx::FromRow)]
struct LoginRow {
    #[sqlx(flatten)]
    user: UserRow,
    password_hash: String,
}

/// The user and password hash for a login, by email in any letter case.
pub async fn find_for_login(
    db: &PgPool,
    email: &Email,
) -> Result<Option<(User, String)>, ApiError> {
    let row = sqlx::query_as::<_, LoginRow>(
        "SELECT id, email, name, handle, role, created_at, password_hash
         FROM users WHERE lower(email) = lower($1)",
    )
    .bind(email.as_str())
    .fetch_optional(db)
    .await?;
    row.map(|r| Ok((r.user.try_into()?, r.password_hash)))
        .transpose()
}

pub async fn find_by_id(db: &PgPool, id: Uuid) -> Result<Option<User>, ApiError> {
    sqlx::query_as::<_, UserRow>(
        "SELECT id, email, name, handle, role, created_at FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?
    .map(User::try_from)
    .transpose()
}

/// A strike: a won auction the user did not pay for in time.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
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
    Ok(sqlx::query_as(
        "SELECT invoice_id, auction_id, created_at FROM strikes
         WHERE user_id = $1 AND cleared_at IS NULL AND created_at > $2
         ORDER BY created_at DESC",
    )
    .bind(user_id)
    .bind(Utc::now() - ttl)
    .fetch_all(db)
    .await?)
}

/// Clears every strike of `user_id` (an admin's decision); returns how many.
pub async fn clear_strikes(db: &PgPool, user_id: Uuid, admin_id: Uuid) -> Result<u64, ApiError> {
    Ok(sqlx::query(
        "UPDATE strikes SET cleared_at = now(), cleared_by = $2
         WHERE user_id = $1 AND cleared_at IS NULL",
    )
    .bind(user_id)
    .bind(admin_id)
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
