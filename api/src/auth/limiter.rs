//! Login and sign-up limits, counted in PostgreSQL so every replica sees the
//! same counts. An attempt is counted before the password is checked, in one
//! statement, so a concurrent burst is limited as exactly as a slow one.
//!
//! A login is limited three ways: per account and client address (a
//! stranger's guesses lock only the stranger out), per account in all (a much
//! higher ceiling against guesses from many addresses), and per address
//! across accounts. A successful login clears its account's counts.

use gavel_store::login_windows::{RateWindows, over};
use std::{net::IpAddr, sync::Arc, time::Duration};

use super::Email;
use crate::{error::ApiError, limits};

/// How many attempts are tolerated, and for how long a limit holds.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Attempts on one account from one address per `window`.
    pub per_account_ip: u32,
    /// Attempts on one account from anywhere per `window`.
    pub per_account: u32,
    /// Attempts from one address on any accounts per `window`.
    pub per_ip: u32,
    pub window: Duration,
    /// Accounts created from one address per hour (`GAVEL_SIGNUPS_PER_IP_HOUR`).
    pub signups_per_ip_hour: u32,
}

const HOUR: Duration = Duration::from_secs(3_600);
/// Verification emails one account may ask for again per hour.
pub const RESENDS_PER_HOUR: u32 = 3;
/// Signals one account's watches and preference changes may send auction
/// workflows in an hour ("an alert of mine falls sooner"); past it the
/// alerts go at the checks the workflows planned anyway.
pub const ALERT_SIGNALS_PER_HOUR: u32 = 300;
/// Password-reset emails asked for one address per hour.
pub const RESETS_PER_EMAIL_HOUR: u32 = 3;
/// Password-reset requests from one client address per hour (any emails).
pub const RESETS_PER_IP_HOUR: u32 = 10;

/// Decides whether a login or sign-up may proceed.
#[derive(Debug)]
pub struct LoginLimiter {
    limits: LoginLimits,
    windows: Arc<RateWindows>,
}

/// Why a login or sign-up may not proceed.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Over a limit: retry after this many seconds.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    TooMany { retry_after_secs: u64 },
    /// The counts could not be read.
    #[error(transparent)]
    Database(#[from] gavel_store::StoreError),
}

impl From<LimitError> for ApiError {
    fn from(err: LimitError) -> Self {
        match err {
            LimitError::TooMany { retry_after_secs } => {
                ApiError::too_many_requests("too_many_attempts", retry_after_secs)
            }
            LimitError::Database(err) => err.into(),
        }
    }
}

fn too_many(limit: &'static str, secs: u64) -> LimitError {
    limits::refused(limit);
    LimitError::TooMany {
        retry_after_secs: secs,
    }
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits, windows: Arc<RateWindows>) -> Self {
        Self { limits, windows }
    }

    fn account_keys(account: &Email, ip: IpAddr) -> [String; 2] {
        let account = account.as_str().to_lowercase();
        [
            format!("login:account-ip:{account}:{ip}"),
            format!("login:account:{account}"),
        ]
    }

    /// Counts a login attempt from `ip` on `account` (`None`: not an email,
    /// so only the address is counted); 429 `too_many_attempts` when over.
    /// The account's overall count only sees attempts the narrower limits
    /// let through: a stranger's refused flood does not lock the owner out.
    pub async fn begin(&self, ip: IpAddr, account: Option<&Email>) -> Result<(), LimitError> {
        let l = self.limits;
        let mut keys = vec![format!("login:ip:{ip}")];
        let mut ceilings = vec![l.per_ip];
        let [account_ip, account_total] = match account {
            Some(account) => Self::account_keys(account, ip).map(Some),
            None => [None, None],
        };
        if let Some(key) = account_ip {
            keys.push(key);
            ceilings.push(l.per_account_ip);
        }
        let hits = self.windows.hit(&keys, l.window).await?;
        if let Some(secs) = over(&hits, &ceilings) {
            return Err(too_many("login", secs));
        }
        if let Some(key) = account_total {
            let hits = self.windows.hit(&[key], l.window).await?;
            if let Some(secs) = over(&hits, &[l.per_account]) {
                return Err(too_many("login", secs));
            }
        }
        Ok(())
    }

    /// A correct password: the account's counts start again.
    pub async fn succeeded(&self, ip: IpAddr, account: &Email) -> Result<(), LimitError> {
        for key in Self::account_keys(account, ip) {
            self.windows.clear(&key).await?;
        }
        Ok(())
    }

    /// Counts a request for another verification email by `user`; 429
    /// `too_many_resends` (through the caller) when over
    /// [`RESENDS_PER_HOUR`].
    pub async fn verification_resend(&self, user: uuid::Uuid) -> Result<(), LimitError> {
        let hits = self
            .windows
            .hit(&[format!("verify-resend:user:{user}")], HOUR)
            .await?;
        match over(&hits, &[RESENDS_PER_HOUR]) {
            Some(secs) => Err(too_many("verification_resend", secs)),
            None => Ok(()),
        }
    }

    /// Counts a signal `user`'s watch or preferences would send an auction's
    /// workflow; false when over [`ALERT_SIGNALS_PER_HOUR`] (then none is
    /// sent: nobody may make the API signal workflows without bound).
    pub async fn alert_signal(&self, user: uuid::Uuid) -> Result<bool, gavel_store::StoreError> {
        let hits = self
            .windows
            .hit(&[format!("alert-signal:user:{user}")], HOUR)
            .await?;
        Ok(over(&hits, &[ALERT_SIGNALS_PER_HOUR]).is_none())
    }

    /// Counts a password-reset request from `ip` for `email` (the text as
    /// sent, lower-cased: the same count whether or not an account has it);
    /// false when over a limit, and then nothing is sent. The email's count
    /// only sees requests the address's limit let through.
    pub async fn password_reset(
        &self,
        ip: IpAddr,
        email: &str,
    ) -> Result<bool, gavel_store::StoreError> {
        // The address is counted first and alone: a request its limit refuses
        // must not add to the email's count, or one address could use up
        // anyone's resets with a flood of requests naming them.
        let hits = self.windows.hit(&[format!("reset:ip:{ip}")], HOUR).await?;
        if over(&hits, &[RESETS_PER_IP_HOUR]).is_some() {
            limits::refused("password_reset");
            return Ok(false);
        }
        let key = format!(
            "reset:email:{}",
            email
                .trim()
                .to_lowercase()
                .chars()
                .take(Email::MAX_LEN)
                .collect::<String>()
        );
        let hits = self.windows.hit(&[key], HOUR).await?;
        let allowed = over(&hits, &[RESETS_PER_EMAIL_HOUR]).is_none();
        if !allowed {
            limits::refused("password_reset");
        }
        Ok(allowed)
    }

    /// Counts a sign-up from `ip`; 429 `too_many_attempts` when over.
    pub async fn sign_up(&self, ip: IpAddr) -> Result<(), LimitError> {
        let hits = self
            .windows
            .hit(&[format!("signup:ip:{ip}")], Duration::from_secs(3_600))
            .await?;
        match over(&hits, &[self.limits.signups_per_ip_hour]) {
            Some(secs) => Err(too_many("signup", secs)),
            None => Ok(()),
        }
    }
}
