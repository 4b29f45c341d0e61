//! Account emails: the address verified by a link (sent at sign-up, sent
//! again on request, followed), and a forgotten password reset by a link.
//! Each link carries a random 32-byte token; only its SHA-256 is stored, it
//! works once and expires (24 h to verify, 1 h to reset). The email is
//! stored in `emails` within the request and handed to Brevo after the
//! answer, idempotently (one key per email, a retry is not sent twice).

use std::{collections::HashSet, net::IpAddr, sync::Mutex, time::Duration};

use chrono::Utc;
use gavel_activities::mailer::{AccountEmail, EmailLink, MailError, Mailer};
use gavel_paystack::provider::ProviderError;
use gavel_store::{account_tokens, users};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use super::accounts::AccountError;
use crate::{
    accounts::{self, User},
    auth::{AuthUser, Email, Password, password},
    error::ApiError,
    state::AppState,
};

/// How long a verification link works.
pub const VERIFY_FOR: chrono::Duration = chrono::Duration::hours(24);
/// How long a password-reset link works.
pub const RESET_FOR: chrono::Duration = chrono::Duration::hours(1);

const VERIFY_EMAIL: &str = "verify_email";
const PASSWORD_RESET: &str = "password_reset";

/// Attempts at handing one account email to Brevo (1 s, 4 s, 16 s, 64 s
/// apart, no wait after the last); after that it is marked failed and the
/// account asks again (resend, or a new reset).
const SEND_ATTEMPTS: u32 = 5;
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Account emails sent (or waiting to retry) at once, per process.
pub const CONCURRENT_SENDS: usize = 32;
/// How long a new email waits for a free sending slot before it is marked
/// failed.
const SLOT_WAIT: Duration = Duration::from_secs(2);

/// Accounts known to be verified. Verification is never undone, so a
/// positive answer may be kept for good and only an unverified account
/// costs a read per bid or listing: the state is read live, and a session
/// from before the link works as soon as it is followed.
#[derive(Debug, Default)]
pub struct VerifiedAccounts(Mutex<HashSet<Uuid>>);

/// Accounts remembered before the set starts over.
const REMEMBERED: usize = 100_000;

impl VerifiedAccounts {
    fn knows(&self, user: Uuid) -> bool {
        self.lock().contains(&user)
    }

    fn remember(&self, user: Uuid) {
        let mut known = self.lock();
        if known.len() >= REMEMBERED {
            known.clear();
        }
        known.insert(user);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<Uuid>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether `user` may bid and sell: their address is verified, or the
/// deployment does not ask for it (`GAVEL_REQUIRE_VERIFIED_EMAIL=false`).
pub async fn may_trade(state: &AppState, user: Uuid) -> Result<bool, gavel_store::StoreError> {
    if !state.config.require_verified_email || state.verified.knows(user) {
        return Ok(true);
    }
    let verified = users::email_verified(&state.db, user).await? == Some(true);
    if verified {
        state.verified.remember(user);
    }
    Ok(verified)
}

/// Whether `user`'s address is verified, whatever the deployment asks.
pub async fn email_verified(state: &AppState, user: Uuid) -> Result<bool, gavel_store::StoreError> {
    if state.verified.knows(user) {
        return Ok(true);
    }
    Ok(users::email_verified(&state.db, user).await? == Some(true))
}

/// A link's token as sent, and the hash that is stored.
struct LinkToken {
    token: String,
    hash: [u8; 32],
}

fn new_token() -> LinkToken {
    let bytes: [u8; 32] = rand::random();
    LinkToken {
        token: hex::encode(bytes),
        hash: Sha256::digest(bytes).into(),
    }
}

/// The stored hash of a token as sent; `None` for text no link carries.
fn hash_of(token: &str) -> Option<[u8; 32]> {
    let bytes: [u8; 32] = hex::decode(token.trim()).ok()?.try_into().ok()?;
    Some(Sha256::digest(bytes).into())
}

/// The email key: one per token (its hash's first bytes name it, not the
/// token).
fn email_key(kind: &str, user: Uuid, link: &LinkToken) -> String {
    format!("{kind}:{user}:{}", hex::encode(&link.hash[..12]))
}

fn mail_error(err: MailError) -> AccountError {
    match err {
        MailError::Database(err) => AccountError::Database(err),
        other => AccountError::Auth(ApiError::internal(other)),
    }
}

/// Stores `email` now and sends it after the answer, retrying a failed send
/// a few times (each send is idempotent: one Brevo key per email). At most
/// [`CONCURRENT_SENDS`] are in flight; past a short wait for a free slot the
/// email is marked failed rather than queued without bound (the person can
/// ask again). A send lost when the process stops mid-retry stays pending.
async fn store_and_send(state: &AppState, email: AccountEmail) -> Result<(), AccountError> {
    state
        .mailer
        .store_account_email(&email)
        .await
        .map_err(mail_error)?;
    if !state.mailer.brevo_configured() {
        return Ok(());
    }
    let permit =
        match tokio::time::timeout(SLOT_WAIT, state.account_sends.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            // Closed (never, the state owns it) or timed out: too many in flight.
            _ => {
                tracing::warn!(kind = email.kind, user_id = %email.recipient_id,
                "too many account emails in flight; this one is not sent");
                state
                    .mailer
                    .fail_account_email(&email)
                    .await
                    .map_err(mail_error)?;
                return Ok(());
            }
        };
    let mailer = state.mailer.clone();
    tokio::spawn(async move {
        let _permit = permit;
        send_with_retries(&mailer, &email).await;
    });
    Ok(())
}

/// Hands `email` to Brevo, up to [`SEND_ATTEMPTS`] times; marks it failed
/// when Brevo refuses it for good or the last attempt fails too.
async fn send_with_retries(mailer: &Mailer, email: &AccountEmail) {
    let mut wait = FIRST_RETRY;
    for attempt in 1..=SEND_ATTEMPTS {
        match mailer.send_account_email(email).await {
            Ok(()) => return,
            Err(MailError::Brevo(err)) if !err.is_retryable() => {
                tracing::error!(kind = email.kind, user_id = %email.recipient_id,
                    error = %err, "Brevo refused an account email");
                break;
            }
            Err(err) if attempt == SEND_ATTEMPTS => {
                tracing::error!(kind = email.kind, user_id = %email.recipient_id, attempt,
                    error = %err, "an account email was not sent; giving up");
            }
            Err(err) => {
                tracing::warn!(kind = email.kind, user_id = %email.recipient_id, attempt,
                    error = %err, "an account email was not sent yet");
                tokio::time::sleep(wait).await;
                wait *= 4;
            }
        }
    }
    if let Err(err) = mailer.fail_account_email(email).await {
        tracing::error!(kind = email.kind, user_id = %email.recipient_id,
            error = %err, "an unsent account email could not be marked failed");
    }
}

/// A verification link for `user`, recorded in `conn`'s transaction; the
/// email to send (with [`send`]) once that commits.
pub async fn verification(
    state: &AppState,
    conn: &mut PgConnection,
    user: &User,
) -> Result<AccountEmail, AccountError> {
    let link = new_token();
    account_tokens::insert(
        conn,
        &link.hash,
        user.id,
        VERIFY_EMAIL,
        Utc::now() + VERIFY_FOR,
    )
    .await?;
    let url = format!(
        "{}/verify-email?token={}",
        state.mailer.public_url(),
        link.token
    );
    let first = "Welcome to Gavel. Confirm this is your email address to bid and sell \
        (until then you can browse and follow lots)."
        .to_owned();
    let last = "If you did not sign up, ignore this email.".to_owned();
    Ok(AccountEmail {
        kind: VERIFY_EMAIL,
        recipient_id: user.id,
        to: user.email.clone(),
        // Whoever signed up typed the name, perhaps for someone else's
        // address: an unverified address is not greeted with it.
        name: String::new(),
        subject: "Confirm your email address for Gavel".into(),
        lines: vec![first.clone(), last.clone()],
        link: EmailLink {
            text: "Confirm it here (the link works once, for 24 hours)".into(),
            url,
        },
        stored_lines: vec![
            first,
            "(The confirmation link is in the recipient's mailbox only.)".into(),
            last,
        ],
        idempotency_key: email_key(VERIFY_EMAIL, user.id, &link),
    })
}

/// Stores `email` and sends it after the answer.
pub async fn send(state: &AppState, email: AccountEmail) -> Result<(), AccountError> {
    store_and_send(state, email).await
}

/// Follows a verification link: the account's address is verified (at once
/// for every session it has). A token unknown, used or expired is refused.
pub async fn verify_email(state: &AppState, token: &str) -> Result<(), AccountError> {
    let hash = hash_of(token).ok_or(AccountError::InvalidLink)?;
    let mut tx = state.db.begin().await?;
    let user = account_tokens::consume(&mut tx, &hash, VERIFY_EMAIL)
        .await?
        .ok_or(AccountError::InvalidLink)?;
    users::mark_email_verified(&mut tx, user).await?;
    tx.commit().await?;
    state.verified.remember(user);
    tracing::info!(user_id = %user, "email address verified");
    // Lots watched before the address was verified planned no alert for
    // this person: their workflows hear of it now, after the answer (up to
    // 400 signals; the link is used up, so its page must not wait on them).
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(err) = super::watchlist::tell_workflows_if_sooner(&state, user).await {
            tracing::warn!(user_id = %user, error = %err, "could not tell watched lots of a verified address");
        }
    });
    Ok(())
}

/// Sends `auth`'s account another verification link (a few an hour).
pub async fn resend_verification(state: &AppState, auth: AuthUser) -> Result<(), AccountError> {
    let user = accounts::find_by_id(&state.db, auth.id)
        .await?
        .ok_or(AccountError::AccountGone)?;
    if users::email_verified(&state.db, auth.id).await? == Some(true) {
        state.verified.remember(auth.id);
        return Err(AccountError::AlreadyVerified);
    }
    state
        .login_limiter
        .verification_resend(auth.id)
        .await
        .map_err(|err| match AccountError::from(err) {
            AccountError::TooManyAttempts { retry_after_secs } => {
                AccountError::TooManyResends { retry_after_secs }
            }
            other => other,
        })?;
    let mut tx = state.db.begin().await?;
    let email = verification(state, &mut tx, &user).await?;
    tx.commit().await?;
    send(state, email).await
}

/// Asks for a password-reset link for `email` from `from`. Answered the same
/// whether or not an account has this address, and when a limit is
/// reached (then nothing is sent): the same limit count, look-up and token
/// hashing either way; the writes for a real account happen after the
/// answer.
pub async fn request_password_reset(
    state: &AppState,
    from: IpAddr,
    email: &str,
) -> Result<(), AccountError> {
    let email = Email::parse(email)?;
    let allowed = state
        .login_limiter
        .password_reset(from, email.as_str())
        .await?;
    let link = new_token();
    let found = accounts::find_for_login(&state.db, &email).await?;
    let (true, Some(found)) = (allowed, found) else {
        return Ok(());
    };
    let state = state.clone();
    tokio::spawn(async move {
        let user = found.user.id;
        if let Err(err) = issue_reset(&state, found.user, link).await {
            let code = ApiError::from(err).code;
            tracing::error!(user_id = %user, code, "a password-reset email was not stored");
        }
    });
    Ok(())
}

async fn issue_reset(state: &AppState, user: User, link: LinkToken) -> Result<(), AccountError> {
    let mut tx = state.db.begin().await?;
    account_tokens::insert(
        &mut tx,
        &link.hash,
        user.id,
        PASSWORD_RESET,
        Utc::now() + RESET_FOR,
    )
    .await?;
    tx.commit().await?;
    let url = format!(
        "{}/reset-password?token={}",
        state.mailer.public_url(),
        link.token
    );
    let first =
        "Someone (we hope you) asked to reset the password of your Gavel account.".to_owned();
    let last = "If it was not you, ignore this email: your password stays as it is.".to_owned();
    // The name was typed by whoever signed up, perhaps for someone else's
    // address: only a verified address is greeted with it.
    let name = if users::email_verified(&state.db, user.id).await? == Some(true) {
        user.name.clone()
    } else {
        String::new()
    };
    let email = AccountEmail {
        kind: PASSWORD_RESET,
        recipient_id: user.id,
        to: user.email.clone(),
        name,
        subject: "Reset your Gavel password".into(),
        lines: vec![first.clone(), last.clone()],
        link: EmailLink {
            text: "Choose a new password here (the link works once, for 1 hour)".into(),
            url,
        },
        stored_lines: vec![
            first,
            "(The reset link is in the recipient's mailbox only.)".into(),
            last,
        ],
        idempotency_key: email_key(PASSWORD_RESET, user.id, &link),
    };
    store_and_send(state, email).await
}

/// Revokes `user`'s outstanding password-reset links in `conn`'s
/// transaction: a password changed another way must not leave a link that
/// sets it again.
pub async fn revoke_reset_links(
    conn: &mut PgConnection,
    user: Uuid,
) -> Result<(), gavel_store::StoreError> {
    account_tokens::revoke_all(conn, user, PASSWORD_RESET).await?;
    Ok(())
}

/// Sets a new password with a reset link's token: every older reset link
/// and every token and session of the account stop working (the password
/// change's revocation). The address is verified too: the link reached it;
/// and the account's failed logins from `from` are forgotten.
pub async fn confirm_password_reset(
    state: &AppState,
    from: IpAddr,
    token: &str,
    new_password: &str,
) -> Result<(), AccountError> {
    let hash = hash_of(token).ok_or(AccountError::InvalidLink)?;
    // A refused password rolls back: the link still works for a better one.
    let mut tx = state.db.begin().await?;
    let user_id = account_tokens::consume(&mut tx, &hash, PASSWORD_RESET)
        .await?
        .ok_or(AccountError::InvalidLink)?;
    let user = accounts::find_by_id(&state.db, user_id)
        .await?
        .ok_or(AccountError::InvalidLink)?;
    let email = Email::parse(&user.email)?;
    let new = Password::parse(new_password, &email)?;
    let stored = password::hash(&state.hashing, &new).await?;
    accounts::set_password_hash(&mut tx, user_id, &stored).await?;
    revoke_reset_links(&mut tx, user_id).await?;
    users::mark_email_verified(&mut tx, user_id).await?;
    state.token_versions.bump_and_commit(tx, user_id).await?;
    state.verified.remember(user_id);
    // Who forgot a password has often been locked out guessing it: the new
    // one signs in at once from here.
    state.login_limiter.succeeded(from, &email).await?;
    tracing::info!(user_id = %user_id, "password reset; older tokens and links revoked");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_token_as_sent_has_a_hash() {
        let link = new_token();
        assert_eq!(link.token.len(), 64);
        assert_eq!(hash_of(&link.token), Some(link.hash));
        assert_eq!(hash_of(&link.token.to_uppercase()), Some(link.hash));
        assert_eq!(hash_of(&link.token[..63]), None);
        assert_eq!(hash_of("not a token"), None);
        assert_eq!(hash_of(""), None);
        assert_ne!(new_token().hash, link.hash);
    }
}
