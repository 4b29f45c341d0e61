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
    config::{HttpArgs, TemporalArgs},
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
fn shared_temporal() -> SocketAddr {
    static SERVER: OnceLock<SharedTemporal> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            init_logs();
            let cli = dev_server::find_cli().expect("temporal CLI");
            let port = dev_server::free_port().expect("free port");
            let extra_args = gavel_workflows::names::search_attributes()
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
                .collect();
            let options = DevServerOptions {
                port,
                ui_port: None,
                db_file: None,
                namespace: "default".into(),
                log_file: Some(
                    std::env::temp_dir().join(format!("gavel-test-temporal-{port}.log")),
                ),
                extra_args,
            };
            let mut server = DevServer::start(&cli, &options).expect("start temporal");
            server
                .wait_ready(Duration::from_secs(60))
                .expect("temporal ready");
            SharedTemporal {
                address: server.address,
                _server: server,
            }
        })
        .address
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
    api_stop: CancellationToken,
    worker: Option<WorkerThread>,
}

pub fn temporal_args(task_queue: &str) -> TemporalArgs {
    TemporalArgs {
        temporal_address: shared_temporal().to_string(),
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
    }
}

pub const JWT_SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

pub async fn spawn_app() -> TestApp {
    let task_queue = format!("gavel-test-{}", uuid::Uuid::new_v4());
    let targs = temporal_args(&task_queue);
    let (db_url, db) = fresh_database().await;
    let temporal = temporal::connect(&targs, Duration::from_secs(10))
        .await
        .expect("connect to Temporal");
    let state = app::api_state(
        db.clone(),
        temporal.clone(),
        &http_args(),
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
    TestApp {
        address,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        db,
        db_url,
        temporal,
        worker: Some(WorkerThread::spawn(targs)),
        task_queue,
        api_stop,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.api_stop.cancel();
        drop(self.worker.take());
    }
}

/// A worker on its own thread and runtime (its run loop is not `Send`).
struct WorkerThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WorkerThread {
    fn spawn(args: TemporalArgs) -> Self {
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
                let runtime =
                    temporalio_sdk::Runtime::from_current_tokio(Default::default()).unwrap();
                let worker = temporal::build_worker(&runtime, client, &args.task_queue).unwrap();
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
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A registered user and their token.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
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
            email,
            token: body["token"].as_str().unwrap().to_owned(),
        }
    }
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
