//! The system under test, started for the run: a Temporal dev server, a
//! fresh PostgreSQL database, `gavel api` and `gavel worker` as processes of
//! their own (so each one's memory can be read), and Paystack and Brevo
//! stand-ins. Users are written straight into the database and their tokens
//! signed with the API's secret: the benchmark measures bidding, not sign-up.

use std::{
    path::PathBuf,
    process::{Child, Command},
    time::{Duration, Instant},
};

use gavel::dev_server::{self, DevServer, DevServerOptions};
use gavel_api::auth::{JwtKeys, Role};
use gavel_store::users;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sqlx::{PgPool, migrate::MigrateDatabase};
use temporalio_client::Client;
use temporalio_common::protos::temporal::api::enums::v1::IndexedValueType;
use uuid::Uuid;
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{method, path, path_regex},
};

const JWT_SECRET: &str = "benchmark-secret-that-is-at-least-32-bytes";
pub const PAYSTACK_KEY: &str = "sk_test_benchmark";

/// A user the benchmark acts as.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub token: String,
}

pub struct Stack {
    pub api_url: String,
    pub http: reqwest::Client,
    pub db: PgPool,
    pub temporal: Client,
    pub paystack: MockServer,
    /// Kept alive for the worker's email.
    _brevo: MockServer,
    pub workflow_cache: usize,
    api: Child,
    worker: Child,
    jwt: JwtKeys,
    db_url: String,
    dir: PathBuf,
    _server: DevServer,
}

fn search_attribute_args() -> Vec<String> {
    gavel_workflows::names::search_attributes()
        .iter()
        .flat_map(|(name, kind)| {
            let kind = match kind {
                IndexedValueType::Keyword => "Keyword",
                IndexedValueType::Int => "Int",
                _ => "Datetime",
            };
            ["--search-attribute".to_owned(), format!("{name}={kind}")]
        })
        .collect()
}

/// Paystack charges every stored card and confirms what it charged.
async fn paystack() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/transaction/charge_authorization"))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            ResponseTemplate::new(200).set_body_json(json!({
                "status": true, "message": "Charge attempted",
                "data": { "id": 4_099_490_251_u64, "status": "success", "reference": body["reference"],
                          "amount": body["amount"], "currency": body["currency"], "metadata": "" }
            }))
        })
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            ResponseTemplate::new(200).set_body_json(json!({
                "status": true, "message": "Authorization URL created",
                "data": { "authorization_url": "https://checkout.paystack.com/bench",
                          "reference": body["reference"] }
            }))
        })
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("^/transaction/verify/.*"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({ "status": false, "message": "Transaction reference not found" }),
        ))
        .mount(&server)
        .await;
    server
}

async fn brevo() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/smtp/email"))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            let key = body["headers"]["idempotencyKey"]
                .as_str()
                .unwrap_or("x")
                .to_owned();
            ResponseTemplate::new(201)
                .set_body_json(json!({ "messageId": format!("<{key}@bench>") }))
        })
        .mount(&server)
        .await;
    server
}

impl Stack {
    pub async fn start() -> Stack {
        let dir = std::env::temp_dir().join(format!("gavel-bench-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let cli = dev_server::find_cli().expect("the temporal CLI (scripts/setup installs it)");
        let port = dev_server::free_port().unwrap();
        let mut server = DevServer::start(
            &cli,
            &DevServerOptions {
                port,
                ui_port: None,
                db_file: None,
                namespace: "default".into(),
                log_file: Some(dir.join("temporal.log")),
                extra_args: search_attribute_args(),
            },
        )
        .unwrap();
        server.wait_ready(Duration::from_secs(60)).unwrap();
        let temporal_address = server.address.to_string();

        let base = std::env::var("BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
        let db_url = SecretString::from(format!("{base}/gavel_bench_{}", std::process::id()));
        let db = gavel::database::prepare(&db_url).await.unwrap();

        let (paystack, brevo) = (paystack().await, brevo().await);
        let http_port = dev_server::free_port().unwrap();
        let workflow_cache: usize = std::env::var("GAVEL_WORKFLOW_CACHE")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(1_000);
        let spawn = |command: &str| {
            let log = std::fs::File::create(dir.join(format!("{command}.log"))).unwrap();
            Command::new(env!("CARGO_BIN_EXE_gavel"))
                .arg(command)
                .env("DATABASE_URL", db_url.expose_secret())
                .env("TEMPORAL_ADDRESS", &temporal_address)
                .env("GAVEL_TASK_QUEUE", "gavel-bench")
                .env("GAVEL_HTTP_ADDR", format!("127.0.0.1:{http_port}"))
                .env("GAVEL_JWT_SECRET", JWT_SECRET)
                .env("GAVEL_WORKFLOW_CACHE", workflow_cache.to_string())
                .env("PAYSTACK_SECRET_KEY", PAYSTACK_KEY)
                .env("PAYSTACK_BASE_URL", paystack.uri())
                .env("BREVO_API_KEY", "xkeysib-bench")
                .env("BREVO_BASE_URL", brevo.uri())
                .env("GAVEL_BIDS_PER_RUN", "1500")
                // Every simulated client comes from 127.0.0.1 and bids flat
                // out: the per-client limits would measure themselves.
                .env("GAVEL_SIGNUPS_PER_IP_HOUR", "1000000")
                .env("GAVEL_LOGINS_PER_IP", "1000000")
                .env("GAVEL_SSE_PER_IP", "100000")
                .env("GAVEL_SSE_MAX", "100000")
                .env("GAVEL_BIDS_PER_SEC", "100000")
                .env("GAVEL_BIDS_BURST", "100000")
                .env("GAVEL_BIDS_QUEUED_PER_BIDDER", "1024")
                .env("RUST_LOG", "warn")
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap()
        };
        let worker = spawn("worker");
        let api = spawn("api");
        let api_url = format!("http://127.0.0.1:{http_port}/api/v1");
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{api_url}/ready")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the API did not get ready (see {})",
                dir.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let args = gavel::config::TemporalArgs {
            temporal_address: temporal_address.clone(),
            temporal_namespace: "default".into(),
            task_queue: "gavel-bench".into(),
        };
        let temporal = gavel::temporal::connect(&args, Duration::from_secs(10))
            .await
            .unwrap();
        Stack {
            api_url,
            http,
            db,
            temporal,
            paystack,
            _brevo: brevo,
            workflow_cache,
            api,
            worker,
            db_url: db_url.expose_secret().to_owned(),
            jwt: JwtKeys::new(&SecretString::from(JWT_SECRET), chrono::Duration::hours(6)),
            dir,
            _server: server,
        }
    }

    /// `n` users of `role`, written straight into the database.
    pub async fn users(&self, role: Role, n: usize) -> Vec<User> {
        let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
        let rows: Vec<users::BulkUser> = ids
            .iter()
            .map(|id| {
                let handle = format!("bench-{}", id.simple());
                users::BulkUser {
                    id: *id,
                    email: format!("{handle}@bench.example"),
                    handle,
                }
            })
            .collect();
        users::insert_many(&self.db, &rows, "Bench User", "not-a-hash", role.as_str())
            .await
            .unwrap();
        // Each user signed in once: a session row and its token.
        let sessions: Vec<Uuid> = ids.iter().map(|_| Uuid::new_v4()).collect();
        let tokens: Vec<(String, chrono::DateTime<chrono::Utc>)> = ids
            .iter()
            .zip(&sessions)
            .map(|(id, sid)| {
                self.jwt
                    .issue(*id, role, 0, *sid, chrono::Utc::now())
                    .unwrap()
            })
            .collect();
        let expiries: Vec<chrono::DateTime<chrono::Utc>> = tokens.iter().map(|t| t.1).collect();
        gavel_store::sessions::record_many(&self.db, &sessions, &ids, &expiries)
            .await
            .unwrap();
        ids.into_iter()
            .zip(tokens)
            .map(|(id, (token, _))| User { id, token })
            .collect()
    }

    /// Gives each user a stored card (so a win is charged at once).
    pub async fn cards(&self, users: &[User]) {
        let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
        gavel_store::cards::insert_placeholders(&self.db, &ids, "card@bench.example")
            .await
            .unwrap();
    }

    /// Creates an auction as `seller`; returns its id.
    pub async fn auction(&self, seller: &User, ends_in: chrono::Duration) -> Uuid {
        self.auction_until(seller, chrono::Utc::now() + ends_in)
            .await
    }

    pub async fn auction_until(
        &self,
        seller: &User,
        ends_at: chrono::DateTime<chrono::Utc>,
    ) -> Uuid {
        let body: Value = self
            .http
            .post(format!("{}/auctions", self.api_url))
            .bearer_auth(&seller.token)
            .json(&json!({
                "title": "Benchmark lot", "currency": "NGN", "starting_price": 100,
                "min_increment": 1, "ends_at": ends_at.to_rfc3339(),
                "anti_sniping": { "window_secs": 0, "extension_secs": 1 }
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("auction not created: {body}"))
            .parse()
            .unwrap()
    }

    /// One bid through the API: (latency, status, body).
    pub async fn bid(&self, bidder: &User, auction: Uuid, amount: i64) -> (Duration, u16, Value) {
        let started = Instant::now();
        let response = self
            .http
            .post(format!("{}/auctions/{auction}/bids", self.api_url))
            .bearer_auth(&bidder.token)
            .header("Idempotency-Key", Uuid::new_v4().to_string())
            .json(&json!({ "amount": amount }))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        assert!(status < 500, "a 5xx under load: {status} {body}");
        (started.elapsed(), status, body)
    }

    /// Resident memory of the API and the worker processes, in MiB.
    pub fn rss_mib(&self) -> (f64, f64) {
        (rss_mib(self.api.id()), rss_mib(self.worker.id()))
    }

    pub fn logs(&self) -> PathBuf {
        self.dir.clone()
    }

    /// Stops the processes and drops the run's database.
    pub async fn finish(mut self) {
        self.stop_processes();
        self.db.close().await;
        let url = SecretString::from(self.db_url.clone());
        if let Err(err) = sqlx::Postgres::drop_database(url.expose_secret()).await {
            eprintln!("could not drop the benchmark database: {err}");
        }
    }

    fn stop_processes(&mut self) {
        for child in [&mut self.api, &mut self.worker] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop_processes();
    }
}
