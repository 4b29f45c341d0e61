//! Running the parts: the API built from its settings ([`Application`]), the
//! worker loop, and the shutdown signal they share.

use std::{future::Future, net::SocketAddr, time::Duration};

use anyhow::Context;
use chrono::Duration as ChronoDuration;
use gavel_api::{
    ApiConfig, AppState, StrikePolicy,
    auth::{JwtKeys, LoginLimits},
    limits::TrustedProxies,
    web::images::UploadLimits,
};
use gavel_workflows::contract::auction::AuctionSettings;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use temporalio_client::Client;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use temporalio_sdk::Worker;

use crate::{
    config::{HttpArgs, SettlementArgs},
    temporal::Workers,
};

/// The HTTP API wired from its settings and bound to its address: built the
/// same way by `gavel api`, `gavel dev` and the end-to-end tests, so what
/// the tests run is what ships.
pub struct Application {
    listener: TcpListener,
    /// `GAVEL_METRICS_ADDR`'s listener, when set.
    metrics: Option<TcpListener>,
    state: AppState,
}

/// What the API is built from.
pub struct ApiParts<'a> {
    pub db: PgPool,
    pub temporal: Client,
    pub http: &'a HttpArgs,
    pub settlement: &'a SettlementArgs,
    pub task_queue: &'a str,
    pub jwt_secret: &'a SecretString,
}

impl Application {
    /// Checks the settings, builds the shared state and binds
    /// `GAVEL_HTTP_ADDR` (port 0 picks a free one).
    pub async fn build(parts: ApiParts<'_>) -> anyhow::Result<Self> {
        check_jwt_secret(parts.jwt_secret)?;
        let address = parts.http.http_addr;
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address} (set GAVEL_HTTP_ADDR)"))?;
        let metrics =
            match parts.http.api_metrics_addr {
                Some(address) => Some(TcpListener::bind(address).await.with_context(|| {
                    format!("cannot listen on {address} (set GAVEL_METRICS_ADDR)")
                })?),
                None => None,
            };
        let state = api_state(
            parts.db,
            parts.temporal,
            parts.http,
            parts.settlement,
            parts.task_queue,
            parts.jwt_secret,
        )?;
        Ok(Self {
            listener,
            metrics,
            state,
        })
    }

    pub fn address(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where `/metrics` is served without a token, if anywhere.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Cancel it to shut the server down gracefully (see [`gavel_api::serve`]).
    pub fn closing(&self) -> CancellationToken {
        self.state.closing()
    }

    /// Serves until [`Self::closing`] is cancelled and the drain is over.
    pub async fn run(self) -> std::io::Result<()> {
        let closing = self.state.closing();
        if let Some(listener) = self.metrics {
            let closing = closing.clone();
            tokio::spawn(async move {
                let metrics = gavel_api::metrics::open_router();
                if let Err(err) = gavel_api::serve(listener, metrics, closing).await {
                    tracing::error!("the metrics listener failed: {err}");
                }
            });
        }
        gavel_api::serve(self.listener, gavel_api::router(self.state), closing).await
    }
}

/// Shortest accepted `GAVEL_JWT_SECRET`, in bytes (HS256 wants ≥ 256 bits).
pub const MIN_JWT_SECRET_LEN: usize = 32;

/// Checks the signing secret is long enough to be one.
pub fn check_jwt_secret(secret: &SecretString) -> anyhow::Result<()> {
    anyhow::ensure!(
        secret.expose_secret().len() >= MIN_JWT_SECRET_LEN,
        "GAVEL_JWT_SECRET must be at least {MIN_JWT_SECRET_LEN} bytes"
    );
    Ok(())
}

/// The API's shared state from the process settings.
fn api_state(
    db: PgPool,
    temporal: Client,
    http: &HttpArgs,
    settlement: &SettlementArgs,
    task_queue: &str,
    jwt_secret: &SecretString,
) -> anyhow::Result<AppState> {
    let jwt = JwtKeys::new(jwt_secret, ChronoDuration::seconds(http.jwt_ttl_secs));
    if http.verified_email_required(false) && !settlement.brevo_configured() {
        // Said at start-up: otherwise it shows only as accounts that can
        // never bid or sell.
        tracing::warn!(
            "GAVEL_REQUIRE_VERIFIED_EMAIL is on but BREVO_API_KEY is not set: verification \
             emails are only recorded in the `emails` table, never sent, so new accounts \
             cannot bid or sell"
        );
    }
    let mailer = gavel_activities::mailer::Mailer::new(
        db.clone(),
        settlement.brevo(),
        settlement.sender()?,
        settlement.public_url.clone(),
    );
    Ok(AppState::new(
        db,
        temporal,
        jwt,
        mailer,
        api_config(http, settlement, task_queue),
    ))
}

/// The HTTP layer's settings, from the flags (where their defaults live).
pub fn api_config(http: &HttpArgs, settlement: &SettlementArgs, task_queue: &str) -> ApiConfig {
    let l = &http.limits;
    ApiConfig {
        task_queue: task_queue.to_owned(),
        cors_origins: http.cors_origins.clone(),
        // Bounded by its flag's range: far inside usize.
        password_hashes: l.password_hashes as usize,
        upload_limits: UploadLimits {
            // Both bounded by their flags' ranges: far inside usize.
            decodes: l.photo_decodes as usize,
            in_flight_bytes: l.upload_memory_mib as usize * 1024 * 1024,
        },
        request_timeout: http.request_timeout(),
        sse_poll: std::time::Duration::from_secs(http.sse_poll_secs),
        auction_settings: AuctionSettings {
            bids_per_run: http.bids_per_run,
            min_run_ms: http.min_run_ms,
            payment_window_secs: settlement.payment_window_secs,
            offer_rounds: settlement.offer_rounds,
            offer_window_secs: settlement.offer_window_secs,
            journey: settlement.journey(),
        },
        paystack: settlement.paystack(),
        commission: settlement.commission(),
        strikes: StrikePolicy {
            limit: http.strike_limit,
            ttl: ChronoDuration::days(i64::from(http.strike_ttl_days)),
        },
        login_limits: LoginLimits {
            per_account_ip: l.logins_per_account_ip,
            per_account: l.logins_per_account,
            per_ip: l.logins_per_ip,
            window: Duration::from_secs(l.login_window_secs),
            signups_per_ip_hour: l.signups_per_ip_hour,
        },
        stream_limits: l.streams,
        bid_rate: l.bid_rate,
        bids_queued_per_bidder: l.bids_queued_per_bidder,
        bid_gather: Duration::from_millis(l.bid_gather_ms),
        trusted_proxies: TrustedProxies::new(l.trusted_proxies.clone()),
        cookie_secure: settlement.public_url.starts_with("https://"),
        public_url: settlement.public_url.clone(),
        revocation_delay: Duration::from_secs(l.revocation_secs),
        require_verified_email: http.verified_email_required(false),
        metrics_token: http
            .metrics_token
            .clone()
            .filter(|t| !t.expose_secret().is_empty()),
    }
}

/// Runs `worker` until `shutdown` resolves, then lets its tasks in flight
/// finish (a benchmark's trivial worker; Gavel's own run [`run_workers_until`]).
pub async fn run_worker_until(
    mut worker: Worker,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let stop = worker.shutdown_handle();
    let run = worker.run();
    tokio::pin!(run);
    tokio::select! {
        result = &mut run => return result.context("the Temporal worker stopped unexpectedly"),
        () = shutdown => stop(),
    }
    run.await
        .context("the Temporal worker failed while shutting down")
}

/// Runs `workers` (the auctions' and the settlement queue's) on the current
/// task until `shutdown` resolves, then lets both finish their tasks in
/// flight. If either stops on its own, the other is stopped too (a process
/// polling one queue only would leave the other's work waiting) and the
/// process ends with an error. (A worker's future is not `Send`.)
pub async fn run_workers_until(
    workers: Workers,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let Workers {
        auctions: mut main,
        settlement: mut off_path,
    } = workers;
    let stop_main = main.shutdown_handle();
    let stop_off_path = off_path.shutdown_handle();
    let main_run = main.run();
    let off_path_run = off_path.run();
    tokio::pin!(main_run, off_path_run);
    let stopped_alone = tokio::select! {
        result = &mut main_run => Some(("auctions", result)),
        result = &mut off_path_run => Some(("settlement", result)),
        () = shutdown => None,
    };
    stop_main();
    stop_off_path();
    match stopped_alone {
        None => {
            let (main_result, off_path_result) = tokio::join!(main_run, off_path_run);
            main_result.context("the auctions' worker failed while shutting down")?;
            off_path_result.context("the settlement worker failed while shutting down")?;
            Ok(())
        }
        Some((which, result)) => {
            let other = if which == "auctions" {
                off_path_run.await
            } else {
                main_run.await
            };
            if let Err(err) = other {
                tracing::error!("the other Temporal worker failed while stopping: {err:#}");
            }
            result.with_context(|| format!("the {which} worker stopped unexpectedly"))?;
            anyhow::bail!("the {which} worker stopped unexpectedly")
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
