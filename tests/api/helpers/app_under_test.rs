//! The application under test: the API (built as `gavel api` builds it) and
//! a worker on a fresh database, and the settings they get.

use super::*;

pub const PASSWORD: &str = "correct horse battery";
/// The whole application (API + worker) against the shared Temporal server
/// and a fresh database.
pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub db: PgPool,
    pub db_url: SecretString,
    pub temporal: Client,
    pub task_queue: String,
    pub(super) temporal_address: SocketAddr,
    api_stop: CancellationToken,
    api_served: std::sync::Mutex<Option<tokio::task::JoinHandle<std::io::Result<()>>>>,
    worker: Option<WorkerThread>,
}

pub(super) fn temporal_args(address: SocketAddr, task_queue: &str) -> TemporalArgs {
    TemporalArgs {
        temporal_address: address.to_string(),
        temporal_namespace: "default".into(),
        task_queue: task_queue.to_owned(),
    }
}

/// The flags' defaults (see `gavel::config`), but what tests need.
pub fn http_args() -> HttpArgs {
    HttpArgs {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        jwt_ttl_secs: 3600,
        cors_origins: vec!["http://shop.example".into()],
        // Long: live events must arrive by NOTIFY, not by the re-read.
        sse_poll_secs: 60,
        metrics_token: Some(SecretString::from(METRICS_TOKEN)),
        // Every test client is 127.0.0.1: the per-address sign-up limit and
        // the bid rate are raised so tests are not limited by one another;
        // the limits' own tests set them back.
        limits: LimitArgs {
            signups_per_ip_hour: 100_000,
            bid_rate: BidRate {
                per_sec: 10_000,
                burst: 10_000,
            },
            bids_queued_per_bidder: 1_024,
            ..LimitArgs::default()
        },
        ..HttpArgs::default()
    }
}

pub const METRICS_TOKEN: &str = "test-metrics-token";

pub const JWT_SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

/// Settlement without Paystack or Brevo: offline payment only, emails
/// recorded in the `emails` table (the flags' defaults otherwise).
pub fn settlement_args() -> SettlementArgs {
    SettlementArgs {
        // Nothing answers here: a test that needs them sets its mocks.
        paystack_base_url: "http://127.0.0.1:9".into(),
        brevo_base_url: "http://127.0.0.1:9".into(),
        mail_from: "Gavel <no-reply@gavel.test>".into(),
        public_url: "http://gavel.test".into(),
        ..SettlementArgs::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(http_args()).await
}

/// [`spawn_app`] with other HTTP-side settings (e.g. a small `bids_per_run`).
pub async fn spawn_app_with(http: HttpArgs) -> TestApp {
    spawn_app_on(shared_temporal(), http, settlement_args()).await
}

/// [`spawn_app`] with other settlement settings (Paystack and Brevo mocks).
pub async fn spawn_app_with_settlement(settlement: SettlementArgs) -> TestApp {
    spawn_app_on(shared_temporal(), http_args(), settlement).await
}

/// The app against the Temporal server at `temporal`.
pub async fn spawn_app_on(
    temporal_address: SocketAddr,
    http: HttpArgs,
    settlement: SettlementArgs,
) -> TestApp {
    spawn_parts(temporal_address, http, settlement, true).await
}

/// The API alone (its workers run elsewhere, e.g. as `gavel worker`
/// processes a test can kill).
pub async fn spawn_api_only(temporal_address: SocketAddr, settlement: SettlementArgs) -> TestApp {
    spawn_parts(temporal_address, http_args(), settlement, false).await
}

/// The whole app with its database on the PostgreSQL server at `server`
/// (e.g. a [`PrivatePostgres`] the test stops and starts).
pub async fn spawn_app_on_database_server(server: &str) -> TestApp {
    let database = fresh_database_at(server).await;
    spawn_parts_with(
        shared_temporal(),
        http_args(),
        settlement_args(),
        true,
        database,
    )
    .await
}

async fn spawn_parts(
    temporal_address: SocketAddr,
    http: HttpArgs,
    settlement: SettlementArgs,
    with_worker: bool,
) -> TestApp {
    let database = fresh_database().await;
    spawn_parts_with(temporal_address, http, settlement, with_worker, database).await
}

async fn spawn_parts_with(
    temporal_address: SocketAddr,
    http: HttpArgs,
    settlement: SettlementArgs,
    with_worker: bool,
    (db_url, db): (SecretString, PgPool),
) -> TestApp {
    let task_queue = format!("gavel-test-{}", uuid::Uuid::new_v4());
    let targs = temporal_args(temporal_address, &task_queue);
    let temporal = temporal::connect(&targs, Duration::from_secs(10))
        .await
        .expect("connect to Temporal");
    let api = Application::build(ApiParts {
        db: db.clone(),
        temporal: temporal.clone(),
        http: &http,
        settlement: &settlement,
        task_queue: &task_queue,
        jwt_secret: &SecretString::from(JWT_SECRET),
    })
    .await
    .expect("build the API");
    let address = format!("http://{}", api.address().unwrap());
    let api_stop = api.closing();
    let api_served = tokio::spawn(api.run());
    let worker = with_worker.then(|| WorkerThread::spawn(targs, db_url.clone(), settlement));
    TestApp {
        address,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        db,
        db_url,
        temporal,
        worker,
        task_queue,
        temporal_address,
        api_stop,
        api_served: std::sync::Mutex::new(Some(api_served)),
    }
}

impl TestApp {
    /// Shuts the API down as SIGTERM does; resolves when it has stopped.
    pub async fn shut_down_api(&self) {
        self.api_stop.cancel();
        let served = self.api_served.lock().unwrap().take();
        if let Some(served) = served {
            served.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.api_stop.cancel();
        if !std::thread::panicking() {
            // A test passes only if no workflow task failed along the way
            // (a failing task retries forever and looks like a slow test).
            let failed = no_failed_workflow_tasks(self.temporal_address, self.db_url.clone());
            if let Err(failure) = failed {
                drop(self.worker.take());
                panic!("{failure}");
            }
        }
        drop(self.worker.take());
    }
}
/// The environment a `gavel` process needs for these settlement settings.
pub fn settlement_env(settlement: &SettlementArgs) -> Vec<(&'static str, String)> {
    use secrecy::ExposeSecret;
    let secret = |s: &Option<SecretString>| {
        s.as_ref()
            .map(|s| s.expose_secret().to_owned())
            .unwrap_or_default()
    };
    vec![
        (
            "PAYSTACK_SECRET_KEY",
            secret(&settlement.paystack_secret_key),
        ),
        ("PAYSTACK_BASE_URL", settlement.paystack_base_url.clone()),
        ("BREVO_API_KEY", secret(&settlement.brevo_api_key)),
        ("BREVO_BASE_URL", settlement.brevo_base_url.clone()),
        ("GAVEL_MAIL_FROM", settlement.mail_from.clone()),
        (
            "GAVEL_PAYMENT_WINDOW_SECS",
            settlement.payment_window_secs.to_string(),
        ),
        ("GAVEL_OFFER_ROUNDS", settlement.offer_rounds.to_string()),
        (
            "GAVEL_OFFER_WINDOW_SECS",
            settlement.offer_window_secs.to_string(),
        ),
        (
            "GAVEL_COMMISSION_PERCENT",
            settlement.commission.to_string(),
        ),
        (
            "GAVEL_COMMISSION_MIN",
            settlement.commission_min.to_string(),
        ),
        (
            "GAVEL_SHIP_WITHIN_SECS",
            settlement.ship_within_secs.to_string(),
        ),
        (
            "GAVEL_DELIVERY_WINDOW_SECS",
            settlement.delivery_window_secs.to_string(),
        ),
        (
            "GAVEL_CLAIM_WINDOW_SECS",
            settlement.claim_window_secs.to_string(),
        ),
        (
            "GAVEL_CLAIM_ANSWER_SECS",
            settlement.claim_answer_secs.to_string(),
        ),
        (
            "GAVEL_PAYOUT_ATTEMPTS",
            settlement.payout_attempts.to_string(),
        ),
        (
            "GAVEL_PAYOUT_BACKOFF_SECS",
            settlement.payout_backoff_secs.to_string(),
        ),
        ("GAVEL_PUBLIC_URL", settlement.public_url.clone()),
        (
            "GAVEL_PROVIDER_TIMEOUT_SECS",
            settlement.provider_timeout_secs.to_string(),
        ),
    ]
}
