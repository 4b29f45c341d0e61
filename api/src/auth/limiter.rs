//! Login rate limiting per account and per client IP, in fixed windows held in
//! memory (each API replica limits on its own; a shared store can come later).

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// How many login attempts are tolerated, and for how long a limit holds.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failed attempts on one account before it is locked for `window`.
    pub failures_per_account: u32,
    /// Attempts (failed or not) from one IP address per `window`.
    pub attempts_per_ip: u32,
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            failures_per_account: 5,
            attempts_per_ip: 30,
            window: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

/// Fixed-window counters keyed by something; bounded by pruning expired windows.
#[derive(Debug)]
struct Counters<K> {
    windows: Mutex<HashMap<K, Window>>,
}

const PRUNE_ABOVE: usize = 10_000;

impl<K: Eq + Hash + Clone> Counters<K> {
    fn new() -> Self {
        Self {
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `key` may try again, if it is over `limit`.
    fn blocked_for(&self, key: &K, limit: u32, window: Duration, now: Instant) -> Option<u64> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let w = windows.get(key)?;
        let elapsed = now.duration_since(w.started);
        (elapsed < window && w.count >= limit).then(|| (window - elapsed).as_secs().max(1))
    }

    fn record(&self, key: &K, window: Duration, now: Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, w| now.duration_since(w.started) < window);
        }
        let w = windows.entry(key.clone()).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.duration_since(w.started) >= window {
            *w = Window {
                started: now,
                count: 0,
            };
        }
        w.count += 1;
    }

    fn clear(&self, key: &K) {
        self.windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// Decides whether a login attempt may proceed, and learns from its outcome.
#[derive(Debug)]
pub struct LoginLimiter {
    limits: LoginLimits,
    accounts: Counters<String>,
    ips: Counters<IpAddr>,
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            limits,
            accounts: Counters::new(),
            ips: Counters::new(),
        }
    }

    /// Counts an attempt from `ip` on `account`; `Err(secs)` when it must wait.
    pub fn begin(&self, ip: IpAddr, account: &str) -> Result<(), u64> {
        let now = Instant::now();
        let l = self.limits;
        let account = account.to_owned();
        let wait = [
            self.ips.blocked_for(&ip, l.attempts_per_ip, l.window, now),
            self.accounts
                .blocked_for(&account, l.failures_per_account, l.window, now),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(secs) = wait {
            return Err(secs);
        }
        self.ips.record(&ip, l.window, now);
        Ok(())
    }

    pub fn failed(&self, account: &str) {
        self.accounts
            .record(&account.to_owned(), self.limits.window, Instant::now());
    }

    pub fn succeeded(&self, account: &str) {
        self.accounts.clear(&account.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn an_account_locks_after_its_failures_and_a_success_resets_it() {
        let limiter = LoginLimiter::new(LoginLimits {
            failures_per_account: 2,
            attempts_per_ip: 100,
            window: Duration::from_secs(60),
        });
        limiter.begin(IP, "a").unwrap();
        limiter.failed("a");
        limiter.begin(IP, "a").unwrap();
        limiter.succeeded("a");
        for _ in 0..2 {
            limiter.begin(IP, "a").unwrap();
            limiter.failed("a");
        }
        let wait = limiter.begin(IP, "a").unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(
            limiter.begin(IP, "b").is_ok(),
            "other accounts are unaffected"
        );
    }

    #[test]
    fn an_ip_is_limited_across_accounts() {
        let limiter = LoginLimiter::new(LoginLimits {
            failures_per_account: 100,
            attempts_per_ip: 3,
            window: Duration::from_secs(60),
        });
        for account in ["a", "b", "c"] {
            limiter.begin(IP, account).unwrap();
        }
        assert!(limiter.begin(IP, "d").is_err());
    }
}
