//! The system under test, started for the run: a Temporal dev server, a
//! fresh PostgreSQL database, `gavel api` and `gavel worker` as processes of
//! their own (so each one's memory can be read), and Paystack and Brevo
//! stand-ins. Users are made by the API's account code without a password
//! hash, their tokens signed with the API's secret: the benchmark measures
//! bidding, not sign-up.

use gavel_store::sessions;
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use gavel::{
    config::WorkerTuning,
    dev_server::{self, DevServer},
};
use gavel_api::{
    accounts::{self, NewUser},
    auth::{DisplayName, Email, JwtKeys, Password, Role},
};
use gavel_testkit::processes::GavelProcess;

use crate::trivial::TrivialWorker;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sqlx::{PgPool, migrate::MigrateDatabase};
use temporalio_client::Client;
use uuid::Uuid;
use wiremock::MockServer;

const JWT_SECRET: &str = "benchmark-secret-that-is-at-least-32-bytes";
pub const PAYSTACK_KEY: &str = "sk_test_benchmark";

/// A setting that differs from `gavel dev`'s default.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Difference {
    pub setting: String,
    pub value: String,
    pub why: String,
}

impl Difference {
    fn new(setting: &str, value: &str, why: &str) -> Self {
        Self {
            setting: setting.into(),
            value: value.into(),
            why: why.into(),
        }
    }
}

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
    pub brevo: MockServer,
    pub workflow_cache: usize,
    /// Settings that differ from `gavel dev`'s, and why.
    pub differences: Vec<Difference>,
    /// The PostgreSQL server (no database) the baselines connect to.
    pub base_url: String,
    metrics_token: String,
    _trivial: TrivialWorker,
    api: GavelProcess,
    worker: GavelProcess,
    jwt: JwtKeys,
    db_url: String,
    dir: PathBuf,
    _server: DevServer,
}

impl Stack {
    pub async fn start() -> Stack {
        let dir = std::env::temp_dir().join(format!("gavel-bench-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = dev_server::free_port().unwrap();
        // On disk, as `gavel dev` keeps it.
        let mut options = gavel_testkit::temporal::options(port, dir.join("temporal.log"));
        options.db_file = Some(dir.join("temporal.db"));
        let server = gavel_testkit::temporal::start_dev_server(&options);
        let temporal_address = server.address.to_string();

        let base = std::env::var("BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
        let db_url = SecretString::from(format!("{base}/gavel_bench_{}", std::process::id()));
        let db = gavel::database::prepare(&db_url).await.unwrap();

        let (paystack, brevo) = (
            gavel_testkit::paystack::charging_every_card().await,
            gavel_testkit::mail::brevo().await,
        );
        let http_port = dev_server::free_port().unwrap();
        // The worker's own flag, read as it reads it (default included).
        let workflow_cache = gavel::config::from_env::<WorkerTuning>()
            .expect("GAVEL_WORKFLOW_CACHE is a number")
            .workflow_cache;
        let task_queue = gavel::config::from_env::<gavel::config::TemporalArgs>()
            .expect("the Temporal settings")
            .task_queue;
        let metrics_token = Uuid::new_v4().simple().to_string();
        // Gavel runs as `gavel dev` runs it: every setting at its shipped
        // default but these, each printed beside the figures.
        let differences = vec![
            Difference::new(
                "DATABASE_URL, TEMPORAL_ADDRESS, GAVEL_HTTP_ADDR",
                "a fresh database, this run's dev server, a free port",
                "addresses only",
            ),
            Difference::new(
                "GAVEL_JWT_SECRET",
                "a fixed secret",
                "the benchmark signs its users' tokens (`gavel dev` keeps one in .gavel/jwt-secret)",
            ),
            Difference::new(
                "PAYSTACK_SECRET_KEY, PAYSTACK_BASE_URL",
                "a wiremock stand-in charging every card",
                "`gavel dev` starts its own stand-in; this one is counted",
            ),
            Difference::new(
                "BREVO_API_KEY, BREVO_BASE_URL",
                "a wiremock stand-in",
                "emails are sent over HTTP (more work than `gavel dev`, which only records them) and counted",
            ),
            Difference::new(
                "GAVEL_METRICS_TOKEN",
                "set",
                "`/metrics` is read for batch sizes (not served by default)",
            ),
            Difference::new(
                "GAVEL_BIDS_PER_SEC, GAVEL_BIDS_BURST",
                "100000 (default 5, 10)",
                "per-bidder limits: each simulated bidder bids flat out, which no person does",
            ),
            Difference::new(
                "GAVEL_SSE_PER_IP",
                "100000 (default 50)",
                "every simulated subscriber is 127.0.0.1",
            ),
        ];
        let env = [
            ("DATABASE_URL", db_url.expose_secret().to_owned()),
            ("TEMPORAL_ADDRESS", temporal_address.clone()),
            ("GAVEL_HTTP_ADDR", format!("127.0.0.1:{http_port}")),
            ("GAVEL_JWT_SECRET", JWT_SECRET.to_owned()),
            ("PAYSTACK_SECRET_KEY", PAYSTACK_KEY.to_owned()),
            ("PAYSTACK_BASE_URL", paystack.uri()),
            ("BREVO_API_KEY", "xkeysib-bench".to_owned()),
            ("BREVO_BASE_URL", brevo.uri()),
            ("GAVEL_METRICS_TOKEN", metrics_token.clone()),
            ("GAVEL_SSE_PER_IP", "100000".to_owned()),
            ("GAVEL_BIDS_PER_SEC", "100000".to_owned()),
            ("GAVEL_BIDS_BURST", "100000".to_owned()),
            // The shipped filter (src/telemetry.rs), spelled out so a
            // RUST_LOG in the caller's shell does not change what is logged.
            (
                "RUST_LOG",
                "info,temporalio_sdk_core=warn,temporalio_client=warn,sqlx=warn".to_owned(),
            ),
        ];
        let spawn = |command: &str| {
            GavelProcess::spawn(
                Path::new(env!("CARGO_BIN_EXE_gavel")),
                command,
                env.clone(),
                dir.join(format!("{command}.log")),
            )
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
            task_queue,
        };
        let temporal = gavel::temporal::connect(&args, Duration::from_secs(10))
            .await
            .unwrap();
        let trivial = TrivialWorker::start(temporal_address.clone());
        Stack {
            api_url,
            http,
            db,
            temporal,
            paystack,
            brevo,
            workflow_cache,
            differences,
            metrics_token,
            base_url: base,
            _trivial: trivial,
            api,
            worker,
            db_url: db_url.expose_secret().to_owned(),
            jwt: JwtKeys::new(&SecretString::from(JWT_SECRET), chrono::Duration::hours(6)),
            dir,
            _server: server,
        }
    }

    /// `n` users of `role`, made by the API's own account code (without
    /// hashing a password: they never sign in), each with a session.
    pub async fn users(&self, role: Role, n: usize) -> Vec<User> {
        let mut tx = self.db.begin().await.unwrap();
        let mut users = Vec::with_capacity(n);
        for _ in 0..n {
            let email =
                Email::parse(&format!("bench-{}@bench.example", Uuid::new_v4().simple())).unwrap();
            let new = NewUser {
                password: Password::parse("never used by the benchmark", &email).unwrap(),
                name: DisplayName::parse("Bench User").unwrap(),
                email,
                role,
                // Bench accounts bid at once (as an admin's accounts do).
                email_verified: true,
            };
            let user = accounts::insert(&mut tx, &new, "not-a-hash").await.unwrap();
            // Each user signed in once: a session row and its token.
            let session = Uuid::new_v4();
            let (token, expires_at) = self
                .jwt
                .issue(user.id, role, 0, session, chrono::Utc::now())
                .unwrap();
            sessions::record(&mut *tx, session, user.id, expires_at)
                .await
                .unwrap();
            users.push(User { id: user.id, token });
        }
        tx.commit().await.unwrap();
        users
    }

    /// Gives each user a stored card they agreed to keep (so a win is
    /// charged at once).
    pub async fn cards(&self, users: &[User]) {
        let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
        gavel_store::cards::insert_placeholders(&self.db, &ids, "card@bench.example")
            .await
            .unwrap();
        // Saved with the buyer's consent, as a card is after a checkout that
        // asked to keep it: only such cards are charged.
        sqlx::query(
            "UPDATE payment_authorizations SET consented_at = now() WHERE user_id = ANY($1)",
        )
        .bind(&ids)
        .execute(&self.db)
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

    /// One bid through the API: (latency, status, body); status 0 when no
    /// answer came (a connection error or time-out).
    pub async fn bid(&self, bidder: &User, auction: Uuid, amount: i64) -> (Duration, u16, Value) {
        let started = Instant::now();
        let response = self
            .http
            .post(format!("{}/auctions/{auction}/bids", self.api_url))
            .bearer_auth(&bidder.token)
            .header("Idempotency-Key", Uuid::new_v4().to_string())
            .json(&json!({ "amount": amount }))
            .send()
            .await;
        let Ok(response) = response else {
            return (started.elapsed(), 0, Value::Null);
        };
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (started.elapsed(), status, body)
    }

    /// The API's `/metrics` text.
    pub async fn metrics(&self) -> String {
        let root = self.api_url.trim_end_matches("/api/v1");
        match self
            .http
            .get(format!("{root}/metrics"))
            .bearer_auth(&self.metrics_token)
            .send()
            .await
        {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Emails the Brevo stand-in has taken so far.
    pub async fn emails_sent(&self) -> usize {
        self.brevo
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == gavel_testkit::mail::SEND_PATH)
            .count()
    }

    /// The API's token keys (for the baseline that checks tokens as it does).
    pub fn jwt(&self) -> JwtKeys {
        self.jwt.clone()
    }

    /// Resident memory of the API and the worker processes, in MiB.
    pub fn rss_mib(&self) -> (f64, f64) {
        (rss_mib(self.api.pid()), rss_mib(self.worker.pid()))
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
        self.api.kill();
        self.worker.kill();
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
