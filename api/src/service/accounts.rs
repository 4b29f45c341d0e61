//! Accounts: signing up (the account and its first session at once),
//! signing in, changing the password, becoming a seller, and ending a
//! session. Each hands back the token of the session it leaves signed in.

use gavel_store::sessions;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::account_email;
use crate::{
    accounts::{self, NewUser, User},
    auth::{AuthUser, DisplayName, Email, LimitError, Password, Role, password},
    error::ApiError,
    input_error::InputError,
    state::AppState,
};

/// Why an account operation did not go through.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A field the checks refuse (`invalid_email`, `weak_password`, …).
    #[error(transparent)]
    Invalid(#[from] InputError),
    /// What the auth layer below still answers as the API does:
    /// `email_taken`, the password hasher being busy, or a token not made.
    #[error(transparent)]
    Auth(#[from] ApiError),
    #[error("role must be `bidder` or `seller`")]
    InvalidRole,
    #[error("too many attempts; retry in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    /// Signing in: no account has this email and password.
    #[error("email or password is wrong")]
    InvalidCredentials,
    /// Changing the password: the current one is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    /// A verification or reset link's token that is unknown, used or expired.
    #[error("this link is unknown, already used or expired")]
    InvalidLink,
    /// Asking for a verification email again: the address is verified.
    #[error("this email address is already verified")]
    AlreadyVerified,
    #[error("too many verification emails asked for; retry in {retry_after_secs} s")]
    TooManyResends { retry_after_secs: u64 },
    /// The signed-in account no longer exists.
    #[error("this account no longer exists")]
    AccountGone,
    #[error(transparent)]
    Database(#[from] gavel_store::StoreError),
}

/// The transactions this service opens itself fail as the store's calls do.
impl From<sqlx::Error> for AccountError {
    fn from(err: sqlx::Error) -> Self {
        AccountError::Database(err.into())
    }
}

impl From<LimitError> for AccountError {
    fn from(err: LimitError) -> Self {
        match err {
            LimitError::TooMany { retry_after_secs } => {
                AccountError::TooManyAttempts { retry_after_secs }
            }
            LimitError::Database(err) => AccountError::Database(err),
        }
    }
}

/// A signed-in account and the token of its session.
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// A sign-up as sent.
#[derive(Debug, Clone)]
pub struct Registration {
    pub email: String,
    pub password: String,
    pub name: String,
    pub role: String,
}

/// Creates an account from `from`, signed in.
pub async fn register(
    state: &AppState,
    from: IpAddr,
    form: Registration,
) -> Result<SignedIn, AccountError> {
    let role = match Role::parse(&form.role) {
        Some(role @ (Role::Bidder | Role::Seller)) => role,
        _ => return Err(AccountError::InvalidRole),
    };
    let email = Email::parse(&form.email)?;
    let new = NewUser {
        password: Password::parse(&form.password, &email)?,
        name: DisplayName::parse(&form.name)?,
        email,
        role,
        // A deployment that does not ask for the link trusts its accounts'
        // addresses as they are (no link is sent), as admin-made ones are.
        email_verified: !state.config.require_verified_email,
    };
    // Counted after the fields are checked (a typo costs no sign-up) and
    // before the password is hashed (the expensive part).
    state.login_limiter.sign_up(from).await?;
    let hash = password::hash(&state.hashing, &new.password).await?;
    // The account and its first session are one decision: an account left
    // without its session would turn the retry into `email_taken`.
    let mut tx = state.db.begin().await?;
    let user = accounts::insert(&mut tx, &new, &hash).await?;
    let session = Uuid::new_v4();
    let (token, expires_at) = state
        .jwt
        .issue(user.id, user.role, 0, session, Utc::now())?;
    sessions::record(&mut *tx, session, user.id, expires_at).await?;
    // A deployment that does not ask for verified addresses sends no link.
    let verification = match state.config.require_verified_email {
        true => Some(account_email::verification(state, &mut tx, &user).await?),
        false => None,
    };
    tx.commit().await?;
    tracing::info!(user_id = %user.id, role = user.role.as_str(), "user registered");
    // The account stands without its email: the person can ask again.
    if let Some(verification) = verification
        && let Err(err) = account_email::send(state, verification).await
    {
        let code = ApiError::from(err).code;
        tracing::error!(user_id = %user.id, code, "the verification email was not stored");
    }
    sessions::prune(&state.db).await;
    Ok(SignedIn {
        user,
        token,
        expires_at,
    })
}

/// Signs in with `email` and `password` from `from`: a new session.
pub async fn login(
    state: &AppState,
    from: IpAddr,
    email: &str,
    password: String,
) -> Result<SignedIn, AccountError> {
    let email = Email::parse(email).ok();
    state.login_limiter.begin(from, email.as_ref()).await?;
    let found = match &email {
        Some(email) => accounts::find_for_login(&state.db, email).await?,
        None => None,
    };
    let hash = found.as_ref().map(|c| c.password_hash.clone());
    if !password::verify(&state.hashing, password, hash).await? {
        return Err(AccountError::InvalidCredentials);
    }
    let (Some(found), Some(email)) = (found, email) else {
        return Err(AccountError::InvalidCredentials);
    };
    state.login_limiter.succeeded(from, &email).await?;
    let user = found.user;
    let (token, expires_at) = new_session(state, &user, found.token_version).await?;
    Ok(SignedIn {
        user,
        token,
        expires_at,
    })
}

/// Changes `auth`'s password: every older token and password-reset link
/// stops working; the new one keeps this session.
pub async fn change_password(
    state: &AppState,
    from: IpAddr,
    auth: AuthUser,
    current: String,
    new_password: &str,
) -> Result<SignedIn, AccountError> {
    let user = accounts::find_by_id(&state.db, auth.id)
        .await?
        .ok_or(AccountError::AccountGone)?;
    let email = Email::parse(&user.email)?;
    // Guessing the current password through here is a login attempt too.
    state.login_limiter.begin(from, Some(&email)).await?;
    let stored = accounts::password_hash(&state.db, auth.id).await?;
    if !password::verify(&state.hashing, current, stored).await? {
        return Err(AccountError::WrongPassword);
    }
    let new = Password::parse(new_password, &email)?;
    let hash = password::hash(&state.hashing, &new).await?;
    let mut tx = state.db.begin().await?;
    accounts::set_password_hash(&mut tx, auth.id, &hash).await?;
    account_email::revoke_reset_links(&mut tx, auth.id).await?;
    let version = state.token_versions.bump_and_commit(tx, auth.id).await?;
    state.login_limiter.succeeded(from, &email).await?;
    tracing::info!(user_id = %auth.id, "password changed; older tokens and reset links revoked");
    let (token, expires_at) = same_session(state, auth, &user, version).await?;
    Ok(SignedIn {
        user,
        token,
        expires_at,
    })
}

/// `auth`'s account sells too (it bids as before); older tokens are
/// revoked. A seller or admin gets a fresh token and no change.
pub async fn become_seller(state: &AppState, auth: AuthUser) -> Result<SignedIn, AccountError> {
    let (user, version) = match auth.role {
        Role::Bidder => {
            let mut tx = state.db.begin().await?;
            let user = accounts::set_role(&mut tx, auth.id, Role::Seller)
                .await?
                .ok_or(AccountError::AccountGone)?;
            let version = state.token_versions.bump_and_commit(tx, auth.id).await?;
            tracing::info!(user_id = %auth.id, "a bidder became a seller");
            (user, version)
        }
        Role::Seller | Role::Admin => {
            let user = accounts::find_by_id(&state.db, auth.id)
                .await?
                .ok_or(AccountError::AccountGone)?;
            let version = state
                .token_versions
                .current(auth.id, auth.session)
                .await?
                .ok_or(AccountError::AccountGone)?
                .version;
            (user, version)
        }
    };
    let (token, expires_at) = same_session(state, auth, &user, version).await?;
    Ok(SignedIn {
        user,
        token,
        expires_at,
    })
}

/// Ends `auth`'s session (API logout and the page's sign-out).
pub async fn end_session(state: &AppState, auth: AuthUser) -> Result<(), AccountError> {
    state
        .token_versions
        .end_session(auth.id, auth.session)
        .await?;
    tracing::info!(user_id = %auth.id, "signed out; the session is ended");
    Ok(())
}

/// A new session for `user` and its first token.
async fn new_session(
    state: &AppState,
    user: &User,
    version: i32,
) -> Result<(String, DateTime<Utc>), AccountError> {
    let session = Uuid::new_v4();
    let (token, expires_at) = state
        .jwt
        .issue(user.id, user.role, version, session, Utc::now())?;
    sessions::record(&state.db, session, user.id, expires_at).await?;
    sessions::prune(&state.db).await;
    Ok((token, expires_at))
}

/// A fresh token for `auth`'s session (after a password or role change),
/// the session kept alive as long as the token.
async fn same_session(
    state: &AppState,
    auth: AuthUser,
    user: &User,
    version: i32,
) -> Result<(String, DateTime<Utc>), AccountError> {
    let (token, expires_at) =
        state
            .jwt
            .issue(user.id, user.role, version, auth.session, Utc::now())?;
    sessions::extend(&state.db, auth.session, user.id, expires_at).await?;
    Ok((token, expires_at))
}
