//! What the worker reads about users: where to write to them and whether
//! one is an admin. Accounts are created and changed by the API alone.

use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

/// Where to write to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAddress {
    pub email: String,
    pub name: String,
}

pub async fn mail_address(db: &PgPool, id: Uuid) -> Result<Option<MailAddress>> {
    sqlx::query_as!(
        MailAddress,
        "SELECT email, name FROM users WHERE id = $1",
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
