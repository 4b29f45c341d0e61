//! Shared state handed to every handler: pools, clients, keys and settings.

use gavel_store::login_windows::RateWindows;
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

use sqlx::PgPool;
use temporalio_client::Client;

use gavel_activities::mailer::Mailer;
use gavel_paystack::Paystack;
use gavel_store::read_model::ReadModel;
use gavel_workflows::contract::auction::AuctionSettings;

use crate::{
    auctions::{batcher::BidBatcher, hub::EventHub},
    auth::{JwtKeys, LoginLimiter, LoginLimits, TokenVersions, password::Hashing},
    commission::Commission,
    limits::{BidderRates, StreamLimits, StreamSlots, TrustedProxies, bidders::BidRate},
    service::{account_email::VerifiedAccounts, payout_accounts::BankCache},
    web::images::{UploadLimits, Uploads},
};

/// Settings of the HTTP layer, made from the process's flags (their defaults
/// live there, in `gavel`'s `config`).
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Task queue the API starts workflows on.
    pub task_queue: String,
    /// Origins allowed by CORS; `*` allows any; empty sends no CORS headers.
    pub cors_origins: Vec<String>,
    /// Longest time a request may take to produce its response head.
    pub request_timeout: Duration,
    /// How often a quiet live stream re-reads anyway (a lost notification
    /// is found this late at worst).
    pub sse_poll: Duration,
    /// Passwords hashed at once (`GAVEL_PASSWORD_HASHES`; 0: one per core).
    pub password_hashes: usize,
    /// What photo uploads may take of this process.
    pub upload_limits: UploadLimits,
    pub login_limits: LoginLimits,
    pub stream_limits: StreamLimits,
    pub bid_rate: BidRate,
    /// One bidder's bids waiting for one auction at a time.
    pub bids_queued_per_bidder: u32,
    /// How long a contended lot's next batch waits for the last batch's
    /// bidders to bid again.
    pub bid_gather: std::time::Duration,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// The bearer token `/metrics` requires; `None`: not served on this
    /// address (see `GAVEL_METRICS_ADDR`).
    pub metrics_token: Option<secrecy::SecretString>,
    /// Workflow knobs given to every new auction (continue-as-new threshold).
    pub auction_settings: AuctionSettings,
    /// Paystack, for webhook signatures; `None` without a key.
    pub paystack: Option<Paystack>,
    /// Strikes that suspend bidding (and the same count of a seller's
    /// strikes, listing).
    pub strikes: StrikePolicy,
    /// What new auctions are listed under (each keeps its own after).
    pub commission: Commission,
    /// Session cookies are `Secure` (Gavel is served over https).
    pub cookie_secure: bool,
    /// Where Gavel is served (`GAVEL_PUBLIC_URL`): redirects stay on it.
    pub public_url: String,
    /// How long a replica trusts a session's standing before re-reading it
    /// (how late a sign-out or password change made elsewhere is seen).
    pub revocation_delay: Duration,
    /// Bidding and selling wait for a verified email address
    /// (`GAVEL_REQUIRE_VERIFIED_EMAIL`).
    pub require_verified_email: bool,
}

/// How many unpaid wins suspend a bidder, and for how long each counts.
#[derive(Debug, Clone, Copy)]
pub struct StrikePolicy {
    /// 0 turns suspension off.
    pub limit: u32,
    pub ttl: chrono::Duration,
}

/// Cheap to clone: everything sits behind one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: PgPool,
    /// One connection to Temporal shared by every request.
    pub temporal: Client,
    pub jwt: JwtKeys,
    pub login_limiter: LoginLimiter,
    /// Turns at password hashing, shared by every request of this process.
    pub hashing: Hashing,
    /// Each session's standing (token version, live), re-read at most every
    /// revocation delay.
    pub token_versions: TokenVersions,
    pub streams: StreamSlots,
    pub bidder_rates: BidderRates,
    /// Live auction events from PostgreSQL, for SSE.
    pub events: EventHub,
    /// Turns at decoding photos and the bytes uploads hold, shared by every
    /// request of this process.
    pub uploads: Uploads,
    /// Group commit for bids, per auction.
    pub bids: Arc<BidBatcher>,
    /// Account emails (verify the address, reset the password), through
    /// the worker's mailer: stored in `emails`, sent through Brevo.
    pub mailer: Mailer,
    /// Accounts seen verified (a verified address stays verified).
    pub verified: VerifiedAccounts,
    /// Account emails being sent (or retried) at once, at most: a flood of
    /// sign-ups cannot start unbounded background sends.
    pub account_sends: Arc<tokio::sync::Semaphore>,
    /// The banks sellers may be paid into, per currency (refreshed daily).
    pub banks: BankCache,
    pub config: ApiConfig,
    /// Cancelled when the server begins to shut down: live streams end (their
    /// clients resume elsewhere with `Last-Event-ID`) so the drain can finish.
    pub closing: CancellationToken,
}

impl AppState {
    pub fn new(
        db: PgPool,
        temporal: Client,
        jwt: JwtKeys,
        mailer: Mailer,
        config: ApiConfig,
    ) -> Self {
        Self(Arc::new(Inner {
            mailer,
            verified: VerifiedAccounts::default(),
            account_sends: Arc::new(tokio::sync::Semaphore::new(
                crate::service::account_email::CONCURRENT_SENDS,
            )),
            events: EventHub::new(db.clone(), config.sse_poll),
            bids: Arc::new(BidBatcher::new(
                temporal.clone(),
                ReadModel::new(db.clone()),
                config.bids_queued_per_bidder,
                config.bid_gather,
            )),
            login_limiter: LoginLimiter::new(
                config.login_limits,
                Arc::new(RateWindows::new(db.clone())),
            ),
            hashing: Hashing::new(config.password_hashes),
            banks: BankCache::new(),
            uploads: Uploads::new(config.upload_limits),
            token_versions: TokenVersions::new(db.clone(), config.revocation_delay),
            streams: StreamSlots::new(config.stream_limits),
            bidder_rates: BidderRates::new(config.bid_rate),
            db,
            temporal,
            jwt,
            config,
            closing: CancellationToken::new(),
        }))
    }

    /// The token that shuts this server down (see [`crate::serve`]).
    pub fn closing(&self) -> CancellationToken {
        self.closing.clone()
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
