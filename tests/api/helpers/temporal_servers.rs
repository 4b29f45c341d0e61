//! Temporal for the tests: the shared dev server, the time-skipping server,
//! workers (in-process and as `gavel worker` processes) and recorded histories.

use gavel_testkit::processes::GavelProcess;
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
    let port = dev_server::free_port().expect("free port");
    let log = std::env::temp_dir().join(format!("gavel-test-temporal-{port}.log"));
    gavel_testkit::temporal::start_dev_server(&gavel_testkit::temporal::options(port, log))
}

/// A Temporal dev server that keeps its state in a file of its own, so a test
/// can stop it and start it again on the same port without losing history.
pub struct RestartableTemporal {
    dir: std::path::PathBuf,
    port: u16,
}

impl RestartableTemporal {
    /// A fresh directory under the temp dir named after `prefix`, and a free port.
    pub fn new(prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = dev_server::free_port().unwrap();
        Self { dir, port }
    }

    /// Starts (or starts again) the server on its port and database file.
    pub fn start(&self) -> DevServer {
        let options = dev_server::DevServerOptions {
            port: self.port,
            ui_port: None,
            db_file: Some(self.dir.join("temporal.sqlite")),
            namespace: "default".into(),
            log_file: Some(self.dir.join("temporal.log")),
            extra_args: Vec::new(),
        };
        gavel_testkit::temporal::start_dev_server(&options)
    }

    /// The directory holding the server's database file and log.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
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
    process: GavelProcess,
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
        let log =
            std::env::temp_dir().join(format!("gavel-test-worker-{}.log", uuid::Uuid::new_v4()));
        let mut vars = vec![
            (
                "DATABASE_URL".to_owned(),
                app.db_url.expose_secret().to_owned(),
            ),
            ("TEMPORAL_ADDRESS".to_owned(), app.temporal_address()),
            ("GAVEL_TASK_QUEUE".to_owned(), app.task_queue.clone()),
        ];
        vars.extend(
            settlement_env(settlement)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v)),
        );
        vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        let process = GavelProcess::spawn(gavel_exe(), "worker", vars, log.clone());
        Self { process, log }
    }

    /// SIGKILL: the process gets no chance to finish anything.
    pub fn kill(mut self) {
        self.process.kill();
    }
}

/// A `gavel api` process on the same database, Temporal and task queue as a
/// [`TestApp`]: another replica behind the same load balancer.
pub struct ApiProcess {
    process: GavelProcess,
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
        let mut vars = vec![
            (
                "DATABASE_URL".to_owned(),
                app.db_url.expose_secret().to_owned(),
            ),
            ("TEMPORAL_ADDRESS".to_owned(), app.temporal_address()),
            ("GAVEL_TASK_QUEUE".to_owned(), app.task_queue.clone()),
            ("GAVEL_HTTP_ADDR".to_owned(), format!("127.0.0.1:{port}")),
            ("GAVEL_JWT_SECRET".to_owned(), JWT_SECRET.to_owned()),
            // Live events must come by NOTIFY here too, not by the re-read.
            ("GAVEL_SSE_POLL_SECS".to_owned(), "60".to_owned()),
            ("GAVEL_SIGNUPS_PER_IP_HOUR".to_owned(), "100000".to_owned()),
        ];
        vars.extend(
            settlement_env(settlement)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v)),
        );
        vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let process = GavelProcess::spawn(gavel_exe(), "api", vars, log);
        let address = format!("http://127.0.0.1:{port}");
        let ready = format!("{address}/api/v1/ready");
        eventually(30, || async {
            match app.http.get(&ready).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                other => Err(format!("not ready: {other:?}")),
            }
        })
        .await;
        Self { process, address }
    }

    /// The process id (to read its memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// SIGTERM, as an orchestrator stops a replica; waits until it exits.
    pub fn stop(self) -> std::process::ExitStatus {
        self.process.terminate()
    }
}

/// This build's `gavel` executable.
fn gavel_exe() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_gavel"))
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
                app::run_workers_until(worker, async {
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

impl TestApp {
    /// Registers Gavel's search attributes on a server started without them.
    pub async fn add_search_attributes(&self) {
        temporal::ensure_search_attributes(&self.temporal)
            .await
            .expect("registering the search attributes");
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
