//! Users as the API sees them: creation (shared by registration and the
//! admin CLI) and look-ups, over the store's `users` table.

use chrono::{DateTime, Utc};
use gavel_store::users::{self, NewUserRow, StrikeRow, UserRow};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    auth::{DisplayName, Email, Password, Role, password},
    error::ApiError,
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

impl TryFrom<UserRow> for User {
    type Error = ApiError;

    /// A role the API does not know is a bug: 500, as when it was decoded
    /// with the row.
    fn try_from(row: UserRow) -> Result<Self, ApiError> {
        let role = Role::parse(&row.role).ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("user {} has role {:?}", row.id, row.role))
        })?;
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

fn user(row: Option<UserRow>) -> Result<Option<User>, ApiError> {
    row.map(User::try_from).transpose()
}

/// The fields of a new account, already parsed.
#[derive(Debug)]
pub struct NewUser {
    pub email: Email,
    pub password: Password,
    pub name: DisplayName,
    pub role: Role,
    /// Verified from the start (an account an admin makes); a sign-up's
    /// address waits for its link.
    pub email_verified: bool,
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
        let handle = handle_for(&new.name);
        let row = NewUserRow {
            email: new.email.as_str(),
            name: new.name.as_str(),
            handle: &handle,
            password_hash: hash,
            role: new.role.as_str(),
            email_verified: new.email_verified,
        };
        match users::insert(tx, row).await {
            Ok(user) => return user.try_into(),
            Err(err) => match err.constraint() {
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
    let Some(row) = users::find_for_login(db, email.as_str()).await? else {
        return Ok(None);
    };
    Ok(Some(Credentials {
        user: row.user.try_into()?,
        password_hash: row.password_hash,
        token_version: row.token_version,
    }))
}

/// A user's password hash by id (to check the current password).
pub async fn password_hash(db: &PgPool, id: Uuid) -> Result<Option<String>, ApiError> {
    Ok(users::password_hash(db, id).await?)
}

/// Stores a new password hash (from [`password::hash`]) in `tx`.
pub async fn set_password_hash(
    tx: &mut sqlx::PgConnection,
    id: Uuid,
    hash: &str,
) -> Result<(), ApiError> {
    Ok(users::set_password_hash(tx, id, hash).await?)
}

/// Changes a user's role in `tx`; the user as now, `None` if there is none.
pub async fn set_role(
    tx: &mut sqlx::PgConnection,
    id: Uuid,
    role: Role,
) -> Result<Option<User>, ApiError> {
    user(users::set_role(tx, id, role.as_str()).await?)
}

pub async fn find_by_id(db: &PgPool, id: Uuid) -> Result<Option<User>, ApiError> {
    user(users::find_by_id(db, id).await?)
}

/// A strike: a won auction the user did not pay for in time.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Strike {
    pub invoice_id: Uuid,
    pub auction_id: Uuid,
    pub created_at: DateTime<Utc>,
}

impl From<StrikeRow> for Strike {
    fn from(row: StrikeRow) -> Self {
        Strike {
            invoice_id: row.invoice_id,
            auction_id: row.auction_id,
            created_at: row.created_at,
        }
    }
}

/// The user's strikes that still count (younger than `ttl`, not cleared),
/// newest first.
pub async fn strikes(
    db: &PgPool,
    user_id: Uuid,
    ttl: chrono::Duration,
) -> Result<Vec<Strike>, ApiError> {
    let rows = users::strikes(db, user_id, Utc::now() - ttl).await?;
    Ok(rows.into_iter().map(Strike::from).collect())
}

/// Clears every strike of `user_id` (an admin's decision); returns how many.
pub async fn clear_strikes(db: &PgPool, user_id: Uuid, admin_id: Uuid) -> Result<u64, ApiError> {
    Ok(users::clear_strikes(db, user_id, admin_id).await?)
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
