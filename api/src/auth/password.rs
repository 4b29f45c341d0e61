//! Argon2id password hashing, run on the blocking pool so a login never stalls
//! the async runtime, at most one hash per core at a time: each takes 19 MiB,
//! so a burst of sign-ups waits its turn instead of taking the memory.
//!
//! The 19 MiB of working memory is kept and reused between hashes. Freed, a
//! block that large stays with the allocator (glibc raises its mmap threshold
//! after the first free), and 300 concurrent sign-ups grew the process by
//! 800 MiB; reused, it is one block per hash running at once. Hand-written
//! because the `argon2` crate's own hashing allocates afresh every time.

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::{Output, ParamsString, Salt, SaltString, rand_core::OsRng},
};

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Password;
use crate::error::ApiError;

/// Turns at hashing, shared by everything in one process that hashes
/// (`GAVEL_PASSWORD_HASHES`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Hashing(Arc<Semaphore>);

impl Hashing {
    /// `hashes` at once; 0 means one per core, since more concurrent hashes
    /// only queue for the CPU while holding their memory.
    pub fn new(hashes: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let hashes = if hashes > 0 { hashes } else { cores };
        Self(Arc::new(Semaphore::new(hashes)))
    }
}

/// Longest a request waits for a turn before it is told to come back (well
/// inside the request timeout).
const LONGEST_WAIT: Duration = Duration::from_secs(10);

/// A turn at hashing, or 503 `busy` when the queue is too long to wait out.
async fn turn(hashing: &Hashing) -> Result<OwnedSemaphorePermit, ApiError> {
    let asked = Instant::now();
    metrics::gauge!("gavel_password_hash_waiting").increment(1.0);
    let permit = tokio::time::timeout(LONGEST_WAIT, hashing.0.clone().acquire_owned()).await;
    metrics::gauge!("gavel_password_hash_waiting").decrement(1.0);
    metrics::histogram!("gavel_password_hash_wait_seconds").record(asked.elapsed().as_secs_f64());
    match permit {
        Ok(Ok(permit)) => Ok(permit),
        _ => {
            crate::limits::refused("password_hashing");
            Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many sign-ins and sign-ups at once; retry shortly",
            )
            .with_retry_after(5))
        }
    }
}

/// Working memory left by finished hashes, for the next ones.
static MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// Runs `work` with `blocks` blocks of Argon2 memory, reused when it can be.
fn with_memory<T>(blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
    let spare = MEMORY.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let mut memory = spare
        .filter(|m| m.len() == blocks)
        .unwrap_or_else(|| vec![Block::default(); blocks]);
    let done = work(&mut memory);
    MEMORY
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(memory);
    done
}

/// Argon2 of `password` with `salt` under `params`, in reused memory.
fn argon2_output(
    password: &[u8],
    salt: Salt<'_>,
    algorithm: Algorithm,
    version: Version,
    params: Params,
) -> anyhow::Result<Output> {
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|err| anyhow::anyhow!("unreadable salt: {err}"))?;
    let length = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    with_memory(blocks, |memory| {
        Output::init_with(length, |out| {
            argon2
                .hash_password_into_with_memory(password, salt_bytes, out, &mut *memory)
                .map_err(|_| argon2::password_hash::Error::Crypto)
        })
    })
    .map_err(|err| anyhow::anyhow!("argon2 hashing failed: {err}"))
}

/// Hashes a password with Argon2id and a random salt (PHC string format).
pub async fn hash(hashing: &Hashing, password: &Password) -> Result<String, ApiError> {
    let password = password.expose().to_owned();
    // Held by the hashing itself, which runs on even if the caller leaves.
    let turn = turn(hashing).await?;
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let salt = SaltString::generate(&mut OsRng);
        let params = Params::default();
        let output = argon2_output(
            password.as_bytes(),
            salt.as_salt(),
            Algorithm::Argon2id,
            Version::V0x13,
            params.clone(),
        )?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params)
                .map_err(|err| anyhow::anyhow!("argon2 parameters: {err}"))?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok::<_, anyhow::Error>(hash.to_string())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}

/// A syntactically valid hash that matches no password, verified when the account
/// does not exist so a login costs the same whether or not the email is known.
const UNKNOWN_USER_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Zb1/Wr5GNtmxyhMx2mGsrJ6nXsuw1pskB6ftnaeYlf8";

/// Whether `candidate` hashes to the stored PHC string `stored`.
fn matches(candidate: &[u8], stored: &str) -> anyhow::Result<bool> {
    let unreadable = |err: argon2::password_hash::Error| {
        anyhow::anyhow!("stored password hash is unreadable: {err}")
    };
    let parsed = PasswordHash::new(stored).map_err(unreadable)?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(unreadable)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|err| anyhow::anyhow!("stored password hash is unreadable: {err}"))?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(unreadable)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        anyhow::bail!("stored password hash has no salt or no hash");
    };
    let computed = argon2_output(candidate, salt, algorithm, version, params)?;
    // `Output`'s equality is constant-time.
    Ok(computed == expected)
}

/// Checks `candidate` against a stored hash (or against nothing, in equal time).
pub async fn verify(
    hashing: &Hashing,
    candidate: String,
    stored: Option<String>,
) -> Result<bool, ApiError> {
    let turn = turn(hashing).await?;
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| UNKNOWN_USER_HASH.to_owned());
        Ok::<_, anyhow::Error>(matches(candidate.as_bytes(), &stored)? && known)
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
        let stored = hash(&Hashing::new(0), &password).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(
            verify(
                &Hashing::new(0),
                "correct horse battery".into(),
                Some(stored.clone())
            )
            .await
            .unwrap()
        );
        assert!(
            !verify(&Hashing::new(0), "wrong horse battery".into(), Some(stored))
                .await
                .unwrap()
        );
        assert!(
            !verify(&Hashing::new(0), "correct horse battery".into(), None)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn hashes_agree_with_the_argon2_crates_own() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"an older stored password", &salt)
            .unwrap()
            .to_string();
        assert!(
            verify(
                &Hashing::new(0),
                "an older stored password".into(),
                Some(theirs)
            )
            .await
            .unwrap(),
            "hashes stored before keep working"
        );
        let email = Email::parse("ada@example.com").unwrap();
        let ours = hash(
            &Hashing::new(0),
            &Password::parse("a newer stored password", &email).unwrap(),
        )
        .await
        .unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"a newer stored password", &parsed)
                .is_ok()
        );
    }
}
