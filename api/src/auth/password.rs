//! Argon2id password hashing, run on the blocking pool so a login never stalls
//! the async runtime.

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};

use super::Password;
use crate::error::ApiError;

/// Hashes a password with Argon2id and a random salt (PHC string format).
pub async fn hash(password: &Password) -> Result<String, ApiError> {
    let password = password.expose().to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| anyhow::anyhow!("argon2 hashing failed: {err}"))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}

/// A syntactically valid hash that matches no password, verified when the account
/// does not exist so a login costs the same whether or not the email is known.
const UNKNOWN_USER_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Zb1/Wr5GNtmxyhMx2mGsrJ6nXsuw1pskB6ftnaeYlf8";

/// Checks `candidate` against a stored hash (or against nothing, in equal time).
pub async fn verify(candidate: String, stored: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| UNKNOWN_USER_HASH.to_owned());
        let parsed = PasswordHash::new(&stored)
            .map_err(|err| anyhow::anyhow!("stored password hash is unreadable: {err}"))?;
        let matches = Argon2::default()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok();
        Ok::<_, anyhow::Error>(known && matches)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Email;

    #[tokio::test]
    async fn a_hash_verifies_only_its_password() {
        let email = Email::parse("ada@example.com").unwrap();
        let password = Password::parse("correct horse battery", &email).unwrap();
        let stored = hash(&password).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(
            verify("correct horse battery".into(), Some(stored.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify("wrong horse battery".into(), Some(stored))
                .await
                .unwrap()
        );
        assert!(!verify("correct horse battery".into(), None).await.unwrap());
    }
}
