//! The services' settings (database, Temporal, HTTP, limits, settlement,
//! worker tuning) as clap flag groups. Every option has an env-var twin;
//! secrets are held as [`SecretString`] and their env values are hidden from
//! `--help`. The commands that use them are in [`crate::cli`].

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, FromArgMatches};
use secrecy::{ExposeSecret, SecretString};

use gavel_api::commission::{BasisPoints, Commission};
use gavel_workflows::contract::sale::JourneyTerms;

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL; the database is created if missing.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/gavel",
        hide_env_values = true
    )]
    pub database_url: SecretString,
}

#[derive(Debug, Clone, Args)]
pub struct TemporalArgs {
    /// Temporal frontend address (host:port).
    #[arg(long, env = "TEMPORAL_ADDRESS", default_value = "127.0.0.1:7233")]
    pub temporal_address: String,
    #[arg(long, env = "TEMPORAL_NAMESPACE", default_value = "default")]
    pub temporal_namespace: String,
    /// Task queue shared by the API (starter) and the worker.
    #[arg(long, env = "GAVEL_TASK_QUEUE", default_value = gavel_workflows::names::DEFAULT_TASK_QUEUE)]
    pub task_queue: String,
}

#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Address the HTTP API listens on.
    #[arg(long, env = "GAVEL_HTTP_ADDR", default_value = "127.0.0.1:3000")]
    pub http_addr: SocketAddr,
    /// Secret that signs access tokens (HS256); at least 32 bytes.
    #[arg(long, env = "GAVEL_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,
    /// A file holding GAVEL_JWT_SECRET (kept out of `ps` and shell history).
    #[arg(long, env = "GAVEL_JWT_SECRET_FILE", conflicts_with = "jwt_secret")]
    pub jwt_secret_file: Option<PathBuf>,
    /// Lifetime of an access token, in seconds (60 to 2,592,000: a minute to
    /// 30 days). Tokens are accepted up to 5 s past expiry (clock skew).
    #[arg(long, env = "GAVEL_JWT_TTL_SECS", default_value_t = 86_400,
        value_parser = clap::value_parser!(i64).range(60..=2_592_000))]
    pub jwt_ttl_secs: i64,
    /// Origins allowed by CORS, comma-separated; `*` for any.
    #[arg(long, env = "GAVEL_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Longest a request may take before it is answered 503, in seconds.
    #[arg(long, env = "GAVEL_REQUEST_TIMEOUT_SECS", default_value_t = 15)]
    pub request_timeout_secs: u64,
    /// New auctions continue-as-new after this many bids in one workflow run
    /// (Temporal allows 2,000 updates per run).
    #[arg(long, env = "GAVEL_BIDS_PER_RUN", default_value_t = 500,
        value_parser = clap::value_parser!(u32).range(1..=1_500))]
    pub bids_per_run: u32,
    /// A new auction's run continues as new only after it has lived this
    /// long, in milliseconds (up to four times GAVEL_BIDS_PER_RUN bids):
    /// Temporal delays the next run by up to a second when a run lasted less
    /// than `history.workflowIdReuseMinimalInterval` (1 s). 0 turns it off.
    #[arg(long, env = "GAVEL_MIN_RUN_MS", default_value_t = 1_500,
        value_parser = clap::value_parser!(u32).range(0..=60_000))]
    pub min_run_ms: u32,
    /// How often a quiet live stream re-reads its auction's events anyway (in
    /// case a PostgreSQL notification was lost), in seconds.
    #[arg(long, env = "GAVEL_SSE_POLL_SECS", default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub sse_poll_secs: u64,
    /// Won auctions left unpaid (strikes) that suspend bidding; 0 never suspends.
    #[arg(long, env = "GAVEL_STRIKE_LIMIT", default_value_t = 2)]
    pub strike_limit: u32,
    /// How long a strike counts, in days.
    #[arg(long, env = "GAVEL_STRIKE_TTL_DAYS", default_value_t = 365,
        value_parser = clap::value_parser!(u32).range(1..=3_650))]
    pub strike_ttl_days: u32,
    /// A bearer token `/metrics` requires on the API's address. Without it
    /// (and without GAVEL_METRICS_ADDR) `/metrics` is not served.
    #[arg(long, env = "GAVEL_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<SecretString>,
    /// A file holding GAVEL_METRICS_TOKEN.
    #[arg(
        long,
        env = "GAVEL_METRICS_TOKEN_FILE",
        conflicts_with = "metrics_token"
    )]
    pub metrics_token_file: Option<PathBuf>,
    /// A separate address serving `/metrics` without a token (bind it where
    /// only Prometheus reaches, e.g. a private interface).
    #[arg(long, env = "GAVEL_METRICS_ADDR")]
    pub api_metrics_addr: Option<SocketAddr>,
    /// Bidding and selling wait until the account's email address is
    /// verified (the link emailed at sign-up); `false` for a private
    /// deployment whose accounts are trusted as they are. Unset: true,
    /// except under `gavel dev` without BREVO_API_KEY (nobody could verify).
    #[arg(long, env = "GAVEL_REQUIRE_VERIFIED_EMAIL", action = clap::ArgAction::Set)]
    pub require_verified_email: Option<bool>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// What one client may take: each limit answers 429 (or 503 when the whole
/// server is full) with `Retry-After`, and counts in `gavel_limited_total`.
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Accounts created from one client address per hour.
    #[arg(long, env = "GAVEL_SIGNUPS_PER_IP_HOUR", default_value_t = 20)]
    pub signups_per_ip_hour: u32,
    /// Passwords hashed at once (19 MiB each); 0 means one per core.
    #[arg(long, env = "GAVEL_PASSWORD_HASHES", default_value_t = 0,
        value_parser = clap::value_parser!(u32).range(0..=64))]
    pub password_hashes: u32,
    /// Photos decoded at once in one API process (each at most 256 MiB from
    /// decode to its two JPEGs).
    #[arg(long, env = "GAVEL_PHOTO_DECODES", default_value_t = 2,
        value_parser = clap::value_parser!(u32).range(1..=16))]
    pub photo_decodes: u32,
    /// MiB that photo uploads may hold at once in one API process (files
    /// being read or decoded, and their JPEGs until stored); past it an
    /// upload is told to come back (503 `busy`).
    #[arg(long, env = "GAVEL_UPLOAD_MEMORY_MIB", default_value_t = 96,
        value_parser = clap::value_parser!(u32).range(8..=4_096))]
    pub upload_memory_mib: u32,
    /// Login attempts on one account from one address per login window.
    #[arg(long, env = "GAVEL_LOGINS_PER_ACCOUNT_IP", default_value_t = 5)]
    pub logins_per_account_ip: u32,
    /// Login attempts on one account from all addresses per login window.
    #[arg(long, env = "GAVEL_LOGINS_PER_ACCOUNT", default_value_t = 50)]
    pub logins_per_account: u32,
    /// Login attempts from one address, any accounts, per login window.
    #[arg(long, env = "GAVEL_LOGINS_PER_IP", default_value_t = 30)]
    pub logins_per_ip: u32,
    /// The login window, in seconds.
    #[arg(long, env = "GAVEL_LOGIN_WINDOW_SECS", default_value_t = 900,
        value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub login_window_secs: u64,
    /// Seconds a replica trusts a session's standing before re-reading it:
    /// how late a sign-out or password change made on another replica is
    /// seen there (at once on the replica that made it).
    #[arg(long, env = "GAVEL_REVOCATION_SECS", default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=300))]
    pub revocation_secs: u64,
    // Open live streams per client address and in all
    // (`GAVEL_SSE_PER_IP`, `GAVEL_SSE_MAX`).
    #[command(flatten)]
    pub streams: gavel_api::limits::StreamLimits,
    /// One bidder's bids waiting for one auction at a time (in one process).
    #[arg(long, env = "GAVEL_BIDS_QUEUED_PER_BIDDER", default_value_t = 4,
        value_parser = clap::value_parser!(u32).range(1..=1_024))]
    pub bids_queued_per_bidder: u32,
    /// How long a contended lot's next batch of bids may wait, once the last
    /// batch is written, for that batch's bidders to bid again: they then
    /// travel in one batch rather than in two taking turns (like
    /// PostgreSQL's `commit_delay`). It ends as soon as they have; 0 sends at
    /// once.
    #[arg(long, env = "GAVEL_BID_GATHER_MS", default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(0..=1_000))]
    pub bid_gather_ms: u64,
    // One bidder's bid rate (`GAVEL_BIDS_PER_SEC`, `GAVEL_BIDS_BURST`).
    #[command(flatten)]
    pub bid_rate: gavel_api::limits::bidders::BidRate,
    /// Reverse proxies (addresses or blocks like `10.0.0.0/8`, comma-
    /// separated) whose `X-Forwarded-For` names the client. Without any, the
    /// TCP peer is the client and the header is ignored.
    #[arg(long, env = "GAVEL_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<gavel_api::limits::client_ip::Cidr>,
}

/// The defaults declared on `T`'s flags, as an empty command line gives
/// them (the environment not read): the one place a default is written, so
/// tests start from these and override a field or two.
fn flag_defaults<T: Args + FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults")).mut_args(|arg| arg.env(None));
    let matches = command
        .try_get_matches_from(["defaults"])
        .expect("every flag of these settings has a default or is optional");
    T::from_arg_matches(&matches)
        .expect("every flag of these settings has a default or is optional")
}

/// `T` as an empty command line and the environment give it (what a
/// `gavel` process started with that environment would read).
pub fn from_env<T: Args + FromArgMatches>() -> anyhow::Result<T> {
    let matches = T::augment_args(clap::Command::new("gavel")).try_get_matches_from(["gavel"])?;
    Ok(T::from_arg_matches(&matches)?)
}

/// `Default` as the flags' own defaults (see [`flag_defaults`]).
macro_rules! default_from_flags {
    ($($settings:ty),* $(,)?) => {$(
        impl Default for $settings {
            fn default() -> Self {
                flag_defaults()
            }
        }
    )*};
}

default_from_flags!(
    DatabaseArgs,
    TemporalArgs,
    HttpArgs,
    LimitArgs,
    SettlementArgs,
    WorkerTuning,
);

#[derive(Debug, Clone, Args)]
pub struct SettlementArgs {
    /// Paystack secret key (`sk_test_…` in test mode); also verifies webhooks.
    #[arg(long, env = "PAYSTACK_SECRET_KEY", hide_env_values = true)]
    pub paystack_secret_key: Option<SecretString>,
    /// A file holding PAYSTACK_SECRET_KEY.
    #[arg(
        long,
        env = "PAYSTACK_SECRET_KEY_FILE",
        conflicts_with = "paystack_secret_key"
    )]
    pub paystack_secret_key_file: Option<PathBuf>,
    #[arg(
        long,
        env = "PAYSTACK_BASE_URL",
        default_value = "https://api.paystack.co"
    )]
    pub paystack_base_url: String,
    /// Brevo API key; without one, email is recorded in the `emails` table and the log.
    #[arg(long, env = "BREVO_API_KEY", hide_env_values = true)]
    pub brevo_api_key: Option<SecretString>,
    /// A file holding BREVO_API_KEY.
    #[arg(long, env = "BREVO_API_KEY_FILE", conflicts_with = "brevo_api_key")]
    pub brevo_api_key_file: Option<PathBuf>,
    #[arg(long, env = "BREVO_BASE_URL", default_value = "https://api.brevo.com")]
    pub brevo_base_url: String,
    /// Sender of every email, `Name <address>` or a bare address.
    #[arg(
        long,
        env = "GAVEL_MAIL_FROM",
        default_value = "Gavel <no-reply@gavel.local>"
    )]
    pub mail_from: String,
    /// How long a winner has to pay, in seconds.
    #[arg(long, env = "GAVEL_PAYMENT_WINDOW_SECS", default_value_t = 172_800,
        value_parser = clap::value_parser!(u64).range(2..=gavel_workflows::contract::auction::MAX_WINDOW_SECS))]
    pub payment_window_secs: u64,
    /// Offers per sale: the winner's, then second-chance offers to the next
    /// bidders when a buyer does not pay.
    #[arg(long, env = "GAVEL_OFFER_ROUNDS", default_value_t = 3,
        value_parser = clap::value_parser!(u32).range(1..=10))]
    pub offer_rounds: u32,
    /// How long a runner-up has to accept a second-chance offer, in seconds.
    #[arg(long, env = "GAVEL_OFFER_WINDOW_SECS", default_value_t = 86_400,
        value_parser = clap::value_parser!(u64).range(2..=gavel_workflows::contract::auction::MAX_WINDOW_SECS))]
    pub offer_window_secs: u64,
    /// Gavel's commission: a percent of what the buyer pays (0 to 100, at
    /// most two decimals, e.g. `12.5`). Fixed on each auction when it is
    /// listed: a change applies to new auctions only.
    #[arg(
        long = "commission-percent",
        env = "GAVEL_COMMISSION_PERCENT",
        default_value = "10"
    )]
    pub commission: BasisPoints,
    /// The least commission on a sale, in minor units of its currency (never
    /// more than the sale); fixed per auction like the percent.
    #[arg(long, env = "GAVEL_COMMISSION_MIN", default_value_t = 0,
        value_parser = clap::value_parser!(i64).range(0..))]
    pub commission_min: i64,
    /// How long a seller has to mark a paid lot shipped, in seconds (else the
    /// buyer is refunded and the seller gets a strike).
    #[arg(long, env = "GAVEL_SHIP_WITHIN_SECS", default_value_t = 259_200,
        value_parser = clap::value_parser!(u64).range(2..=gavel_workflows::contract::auction::MAX_WINDOW_SECS))]
    pub ship_within_secs: u64,
    /// After shipping, when receipt is assumed if the buyer says nothing, in seconds.
    #[arg(long, env = "GAVEL_DELIVERY_WINDOW_SECS", default_value_t = 1_209_600,
        value_parser = clap::value_parser!(u64).range(2..=gavel_workflows::contract::auction::MAX_WINDOW_SECS))]
    pub delivery_window_secs: u64,
    /// After receipt, how long the buyer may open a claim, in seconds.
    #[arg(long, env = "GAVEL_CLAIM_WINDOW_SECS", default_value_t = 259_200,
        value_parser = clap::value_parser!(u64).range(2..=gavel_workflows::contract::auction::MAX_WINDOW_SECS))]
    pub claim_window_secs: u64,
    /// How long a seller has to answer a claim, in seconds (else an admin decides).
    #[arg(long, env = "GAVEL_CLAIM_ANSWER_SECS", default_value_t = 259_200,
        value_parser = clap::value_parser!(u64).range(2..=gavel_workflows::contract::auction::MAX_WINDOW_SECS))]
    pub claim_answer_secs: u64,
    /// Payout transfers tried at most per sale.
    #[arg(long, env = "GAVEL_PAYOUT_ATTEMPTS", default_value_t = 5,
        value_parser = clap::value_parser!(u32).range(1..=20))]
    pub payout_attempts: u32,
    /// The first wait after a failed payout transfer, in seconds (doubling,
    /// at most an hour).
    #[arg(long, env = "GAVEL_PAYOUT_BACKOFF_SECS", default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub payout_backoff_secs: u64,
    /// Where people reach Gavel (links in emails).
    #[arg(
        long,
        env = "GAVEL_PUBLIC_URL",
        default_value = "http://127.0.0.1:3000"
    )]
    pub public_url: String,
    /// Longest a call to Paystack or Brevo may take before it is retried.
    #[arg(long, env = "GAVEL_PROVIDER_TIMEOUT_SECS", default_value_t = 20,
        value_parser = clap::value_parser!(u64).range(1..=120))]
    pub provider_timeout_secs: u64,
}

/// A secret that is given and not empty (`KEY=` in `.env` means unset).
fn set(secret: &Option<SecretString>) -> Option<&SecretString> {
    secret.as_ref().filter(|s| !s.expose_secret().is_empty())
}

/// Reads a secret from `file` (a trailing newline dropped) into `secret`.
fn read_secret(file: &Option<PathBuf>, secret: &mut Option<SecretString>) -> anyhow::Result<()> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|err| {
            anyhow::anyhow!("cannot read the secret file {}: {err}", path.display())
        })?;
        *secret = Some(SecretString::from(
            text.trim_end_matches(['\n', '\r']).to_owned(),
        ));
    }
    Ok(())
}

impl SettlementArgs {
    /// Fills the keys given as files (`PAYSTACK_SECRET_KEY_FILE`, …).
    pub fn load_secret_files(&mut self) -> anyhow::Result<()> {
        read_secret(
            &self.paystack_secret_key_file,
            &mut self.paystack_secret_key,
        )?;
        read_secret(&self.brevo_api_key_file, &mut self.brevo_api_key)
    }

    /// The Paystack client, when a secret key is configured.
    pub fn paystack(&self) -> Option<gavel_paystack::Paystack> {
        use gavel_paystack::{Paystack, PaystackConfig};
        let key = set(&self.paystack_secret_key)?;
        Some(Paystack::new(PaystackConfig {
            base_url: self.paystack_base_url.clone(),
            secret_key: key.clone(),
            timeout: Duration::from_secs(self.provider_timeout_secs),
            callback_url: Some(format!(
                "{}/payments/return",
                self.public_url.trim_end_matches('/')
            )),
        }))
    }

    pub fn paystack_configured(&self) -> bool {
        set(&self.paystack_secret_key).is_some()
    }

    pub fn brevo_configured(&self) -> bool {
        set(&self.brevo_api_key).is_some()
    }

    /// The Brevo client, when an API key is configured.
    pub fn brevo(&self) -> Option<gavel_activities::brevo::Brevo> {
        use gavel_activities::brevo::{Brevo, BrevoConfig};
        let key = set(&self.brevo_api_key)?;
        Some(Brevo::new(BrevoConfig {
            base_url: self.brevo_base_url.clone(),
            api_key: key.clone(),
            timeout: Duration::from_secs(self.provider_timeout_secs),
        }))
    }

    /// What auctions listed now are listed under.
    pub fn commission(&self) -> Commission {
        Commission {
            rate: self.commission,
            minimum: self.commission_min,
        }
    }

    /// The journey terms auctions listed now get (each keeps its own).
    pub fn journey(&self) -> JourneyTerms {
        JourneyTerms {
            ship_within_secs: self.ship_within_secs,
            delivery_window_secs: self.delivery_window_secs,
            claim_window_secs: self.claim_window_secs,
            claim_answer_secs: self.claim_answer_secs,
            payout_attempts: self.payout_attempts,
            payout_backoff_secs: self.payout_backoff_secs,
        }
    }

    /// The sender every email comes from.
    pub fn sender(&self) -> anyhow::Result<gavel_activities::brevo::Mailbox> {
        gavel_activities::brevo::Mailbox::parse(&self.mail_from).ok_or_else(|| {
            anyhow::anyhow!("GAVEL_MAIL_FROM {:?} is not an address", self.mail_from)
        })
    }
}

/// How much a worker holds and asks for at once.
#[derive(Debug, Clone, Copy, Args)]
pub struct WorkerTuning {
    /// Workflows kept in memory between their tasks (sticky cache); bounds
    /// the worker's memory: about 50 KB each. At least 1: a workflow stays
    /// cached while its local activities run.
    #[arg(long, env = "GAVEL_WORKFLOW_CACHE", default_value_t = 1_000,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub workflow_cache: usize,
    /// Concurrent polls for workflow tasks (at least 2).
    #[arg(long, env = "GAVEL_WORKFLOW_POLLERS", default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(2..=100))]
    pub workflow_pollers: u32,
    /// Concurrent polls for activity tasks.
    #[arg(long, env = "GAVEL_ACTIVITY_POLLERS", default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..=100))]
    pub activity_pollers: u32,
    /// Workflow and activity tasks a worker runs at once on the settlement
    /// queue (emails after a close, the sale's journey). Few, so that when
    /// many lots end together their closes, invoices and charges go first.
    #[arg(long, env = "GAVEL_SETTLEMENT_SLOTS", default_value_t = 2,
        value_parser = clap::value_parser!(u32).range(2..=100))]
    pub settlement_slots: u32,
    /// Where the worker serves its Prometheus metrics (the SDK's: workflow
    /// task latency, schedule-to-start, sticky cache…); none when unset.
    #[arg(long, env = "GAVEL_WORKER_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

impl HttpArgs {
    /// Fills the secret given as a file (`GAVEL_JWT_SECRET_FILE`).
    pub fn load_secret_files(&mut self) -> anyhow::Result<()> {
        read_secret(&self.jwt_secret_file, &mut self.jwt_secret)?;
        read_secret(&self.metrics_token_file, &mut self.metrics_token)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }

    /// Whether bidding and selling wait for a verified address: as given
    /// (flag or environment), else yes, except for `gavel dev` with no
    /// Brevo (`dev_without_brevo`), where no link could reach anyone.
    pub fn verified_email_required(&self, dev_without_brevo: bool) -> bool {
        self.require_verified_email.unwrap_or(!dev_without_brevo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HTTP settings from these flags alone (the environment not read).
    fn http(flags: &[&str]) -> HttpArgs {
        let command =
            HttpArgs::augment_args(clap::Command::new("gavel")).mut_args(|arg| arg.env(None));
        let matches = command
            .try_get_matches_from(std::iter::once("gavel").chain(flags.iter().copied()))
            .expect("valid flags");
        HttpArgs::from_arg_matches(&matches).expect("valid flags")
    }

    #[test]
    fn a_given_verified_email_requirement_holds_with_or_without_brevo() {
        let unset = http(&[]);
        assert!(
            unset.verified_email_required(false),
            "gavel api, or dev with Brevo"
        );
        assert!(
            !unset.verified_email_required(true),
            "gavel dev without Brevo"
        );
        let asked = http(&["--require-verified-email", "true"]);
        assert!(asked.verified_email_required(true));
        assert!(asked.verified_email_required(false));
        let off = http(&["--require-verified-email", "false"]);
        assert!(!off.verified_email_required(false));
        assert!(!off.verified_email_required(true));
    }

    /// Settlement settings from these flags alone (the environment not read).
    fn settlement(flags: &[&str]) -> Result<SettlementArgs, clap::Error> {
        let command =
            SettlementArgs::augment_args(clap::Command::new("gavel")).mut_args(|arg| arg.env(None));
        let matches =
            command.try_get_matches_from(std::iter::once("gavel").chain(flags.iter().copied()))?;
        SettlementArgs::from_arg_matches(&matches)
    }

    #[test]
    fn commission_and_journey_default_to_the_documented_terms() {
        let s = SettlementArgs::default();
        assert_eq!(s.commission.get(), 1000);
        assert_eq!(s.commission_min, 0);
        assert_eq!(
            s.commission(),
            Commission {
                rate: BasisPoints::new(1000).unwrap(),
                minimum: 0
            }
        );
        // The flags' defaults are the contract's (what runs listed before
        // these settings existed get).
        assert_eq!(s.journey(), JourneyTerms::default());
        assert_eq!(
            (s.ship_within_secs, s.delivery_window_secs),
            (259_200, 1_209_600)
        );
        assert_eq!(
            (s.claim_window_secs, s.claim_answer_secs),
            (259_200, 259_200)
        );
        assert_eq!((s.payout_attempts, s.payout_backoff_secs), (5, 60));
    }

    #[test]
    fn commission_percent_is_read_as_basis_points() {
        let s = settlement(&["--commission-percent", "12.5", "--commission-min", "500"]).unwrap();
        assert_eq!(s.commission.get(), 1250);
        assert_eq!(s.commission_min, 500);
        assert_eq!(
            settlement(&["--commission-percent", "0"])
                .unwrap()
                .commission
                .get(),
            0
        );
        assert_eq!(
            settlement(&["--commission-percent", "100"])
                .unwrap()
                .commission
                .get(),
            10_000
        );
        for bad in ["100.001", "-1", "abc", "100.5", "12.345", ""] {
            assert!(
                settlement(&["--commission-percent", bad]).is_err(),
                "{bad:?} was accepted"
            );
        }
        assert!(settlement(&["--commission-min", "-1"]).is_err());
    }

    #[test]
    fn journey_windows_are_bounded_like_the_payment_window() {
        let s = settlement(&[
            "--ship-within-secs",
            "2",
            "--delivery-window-secs",
            "3",
            "--claim-window-secs",
            "4",
            "--claim-answer-secs",
            "5",
            "--payout-attempts",
            "20",
            "--payout-backoff-secs",
            "3600",
        ])
        .unwrap();
        assert_eq!(
            s.journey(),
            JourneyTerms {
                ship_within_secs: 2,
                delivery_window_secs: 3,
                claim_window_secs: 4,
                claim_answer_secs: 5,
                payout_attempts: 20,
                payout_backoff_secs: 3_600,
            }
        );
        let too_long = (gavel_workflows::contract::auction::MAX_WINDOW_SECS + 1).to_string();
        for flag in [
            "--ship-within-secs",
            "--delivery-window-secs",
            "--claim-window-secs",
            "--claim-answer-secs",
        ] {
            assert!(settlement(&[flag, "1"]).is_err(), "{flag} 1");
            assert!(settlement(&[flag, &too_long]).is_err(), "{flag} {too_long}");
        }
        for (flag, bad) in [
            ("--payout-attempts", "0"),
            ("--payout-attempts", "21"),
            ("--payout-backoff-secs", "0"),
            ("--payout-backoff-secs", "3601"),
        ] {
            assert!(settlement(&[flag, bad]).is_err(), "{flag} {bad}");
        }
    }

    #[test]
    fn commission_is_read_from_its_environment_variable() {
        // The env twin is wired (the compose file and `.env` set it so).
        let arg = SettlementArgs::augment_args(clap::Command::new("gavel"))
            .get_arguments()
            .find(|a| a.get_id() == "commission")
            .and_then(|a| a.get_env().map(|e| e.to_owned()));
        assert_eq!(
            arg.as_deref(),
            Some(std::ffi::OsStr::new("GAVEL_COMMISSION_PERCENT"))
        );
    }
}
