//! Temporal wiring: the client connection, search-attribute registration,
//! the saved-search digest's Schedule and the worker with every workflow and
//! activity Gavel runs.

use std::{collections::HashMap, str::FromStr, time::Duration};

use anyhow::Context;
use backon::{ExponentialBuilder, Retryable};
use gavel_activities::{
    alerts::Alerts,
    digest::Digest,
    mailer::Mailer,
    ping::PingActivitiesImpl,
    read_model::ReadModel,
    settlement::{Settlement, journey::Journey},
};
use gavel_workflows::{
    auction::AuctionWorkflow, contract::digest::DigestRequest, digest::SavedSearchDigestWorkflow,
    followup::PaymentFollowUpWorkflow, names, ping::PingWorkflow, sale::SaleWorkflow,
};
use sqlx::PgPool;
use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions,
    schedules::{
        CreateScheduleOptions, ScheduleAction, ScheduleDescriptionAction, ScheduleError,
        ScheduleOverlapPolicy, ScheduleSpec,
    },
};
use temporalio_common::{
    protos::temporal::api::operatorservice::v1::{
        AddSearchAttributesRequest, ListSearchAttributesRequest,
    },
    worker::WorkerDeploymentOptions,
};
use temporalio_sdk::{
    Runtime, Worker, WorkerOptions,
    runtime::{
        PollerBehavior,
        worker_tuner::{FixedSizeSlotSupplier, TunerHolder},
    },
};
use url::Url;

use crate::config::{SettlementArgs, TemporalArgs, WorkerTuning};

/// Connects to Temporal, retrying for up to `patience` (a server that is still
/// starting, or a rolling restart, should not crash a replica).
pub async fn connect(args: &TemporalArgs, patience: Duration) -> anyhow::Result<Client> {
    let target = if args.temporal_address.contains("://") {
        args.temporal_address.clone()
    } else {
        format!("http://{}", args.temporal_address)
    };
    let target = Url::from_str(&target).with_context(|| {
        format!(
            "TEMPORAL_ADDRESS {:?} is not an address",
            args.temporal_address
        )
    })?;
    let connect = || {
        let options = ConnectionOptions::new(target.clone())
            .identity(format!("gavel@{}", std::process::id()))
            .connect_timeout(Duration::from_secs(3))
            .build();
        Connection::connect(options)
    };
    let connection = connect
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(250))
                .with_max_delay(Duration::from_secs(2))
                .with_total_delay(Some(patience))
                .without_max_times(),
        )
        .notify(|err, _| tracing::warn!(address = %target, "Temporal not reachable yet: {err}"))
        .await
        .with_context(|| format!("cannot connect to Temporal at {target}"))?;
    Client::new(
        connection,
        ClientOptions::new(args.temporal_namespace.clone()).build(),
    )
    .context("cannot create the Temporal client")
}

/// How long a production namespace keeps a closed workflow's history.
const RETENTION: Duration = Duration::from_secs(30 * 24 * 3_600);

/// Registers the client's namespace unless it exists (a fresh Temporal
/// cluster has none; the dev server makes `default` itself).
pub async fn ensure_namespace(client: &Client) -> anyhow::Result<()> {
    use temporalio_common::protos::temporal::api::workflowservice::v1::{
        DescribeNamespaceRequest, RegisterNamespaceRequest,
    };
    let namespace = client.options().namespace.clone();
    let mut service = client.connection().workflow_service();
    let described = service
        .describe_namespace(tonic::Request::new(DescribeNamespaceRequest {
            namespace: namespace.clone(),
            ..Default::default()
        }))
        .await;
    match described {
        Ok(_) => return Ok(()),
        Err(status) if status.code() == tonic::Code::NotFound => {}
        Err(status) => return Err(status).context("cannot describe the namespace"),
    }
    let registered = service
        .register_namespace(tonic::Request::new(RegisterNamespaceRequest {
            namespace: namespace.clone(),
            description: "Gavel auctions".into(),
            workflow_execution_retention_period: Some(RETENTION.try_into()?),
            ..Default::default()
        }))
        .await;
    match registered {
        Ok(_) => tracing::info!(%namespace, "registered the namespace"),
        Err(status) if status.code() == tonic::Code::AlreadyExists => {}
        Err(status) => return Err(status).context("cannot register the namespace"),
    }
    // A new namespace takes a moment to reach every part of the cluster.
    let describe = || {
        let mut service = client.connection().workflow_service();
        let namespace = namespace.clone();
        async move {
            service
                .describe_namespace(tonic::Request::new(DescribeNamespaceRequest {
                    namespace,
                    ..Default::default()
                }))
                .await
        }
    };
    describe
        .retry(
            ExponentialBuilder::default()
                .with_max_delay(Duration::from_secs(2))
                .with_total_delay(Some(Duration::from_secs(60)))
                .without_max_times(),
        )
        .when(|status| status.code() == tonic::Code::NotFound)
        .await
        .context("the new namespace never became visible")?;
    Ok(())
}

/// Registers Gavel's custom search attributes that the namespace lacks.
pub async fn ensure_search_attributes(client: &Client) -> anyhow::Result<()> {
    let namespace = client.options().namespace.clone();
    let mut operator = client.connection().operator_service();
    // A namespace registered a moment ago may not have reached the operator
    // service's cache yet: wait for it rather than fail the first start.
    let list = || {
        let mut operator = client.connection().operator_service();
        let namespace = namespace.clone();
        async move {
            operator
                .list_search_attributes(tonic::Request::new(ListSearchAttributesRequest {
                    namespace,
                }))
                .await
        }
    };
    let listed = list
        .retry(
            ExponentialBuilder::default()
                .with_max_delay(Duration::from_secs(2))
                .with_total_delay(Some(Duration::from_secs(60)))
                .without_max_times(),
        )
        .when(|status| status.code() == tonic::Code::NotFound)
        .await;
    let existing = match listed {
        Ok(listed) => listed.into_inner().custom_attributes,
        // A server that cannot list them (Temporal's time-skipping test
        // server) is given them all; those it has answer AlreadyExists.
        Err(status) if status.code() == tonic::Code::Unimplemented => HashMap::new(),
        Err(status) => return Err(status).context("cannot list search attributes"),
    };
    let missing: HashMap<String, i32> = names::search_attributes()
        .into_iter()
        .filter(|(name, _)| !existing.contains_key(*name))
        .map(|(name, kind)| (name.to_owned(), kind as i32))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let added: Vec<String> = missing.keys().cloned().collect();
    match operator
        .add_search_attributes(tonic::Request::new(AddSearchAttributesRequest {
            search_attributes: missing,
            namespace,
        }))
        .await
    {
        Ok(_) => tracing::info!(?added, "registered search attributes"),
        // Another replica won the race; that is the state we want.
        Err(status) if status.code() == tonic::Code::AlreadyExists => {}
        Err(status) => return Err(status).context("cannot register search attributes"),
    }
    Ok(())
}

/// How often the saved-search digest runs: daily, at 00:00 UTC (an
/// interval counts from the Unix epoch).
pub const DIGEST_EVERY: Duration = Duration::from_secs(24 * 3_600);

/// Creates the deployment's one Schedule for the saved-search digest
/// ([`names::DIGEST_SCHEDULE_ID`]) unless it exists: every worker calls this
/// at start, and the first wins. It starts `saved_search_digest` on
/// `task_queue` daily; a run still going at the next is not doubled (skip).
pub async fn ensure_digest_schedule(client: &Client, task_queue: &str) -> anyhow::Result<()> {
    let action = ScheduleAction::start_workflow(
        SavedSearchDigestWorkflow::run,
        DigestRequest::default(),
        task_queue,
        names::DIGEST_SCHEDULE_ID,
    );
    let options = CreateScheduleOptions::builder()
        .action(action)
        .spec(ScheduleSpec::from_interval(DIGEST_EVERY))
        .overlap_policy(ScheduleOverlapPolicy::Skip)
        .note("Gavel: the daily digest of new lots matching saved searches")
        .build();
    match client
        .create_schedule(names::DIGEST_SCHEDULE_ID, options)
        .await
    {
        Ok(_) => {
            tracing::info!(schedule_id = names::DIGEST_SCHEDULE_ID, %task_queue,
                "created the saved-search digest's Schedule");
            Ok(())
        }
        Err(ScheduleError::Rpc(status)) if status.code() == tonic::Code::AlreadyExists => {
            warn_if_elsewhere(client, task_queue).await;
            Ok(())
        }
        // Temporal's time-skipping test server has no Schedules.
        Err(ScheduleError::Rpc(status)) if status.code() == tonic::Code::Unimplemented => {
            tracing::warn!("this Temporal server has no Schedules: no saved-search digest");
            Ok(())
        }
        Err(err) => Err(err).context("cannot create the saved-search digest's Schedule"),
    }
}

/// [`ensure_digest_schedule`], a failure logged rather than returned: the
/// digest is not worth a worker that runs no auctions (the next worker to
/// start tries again).
pub async fn ensure_digest_schedule_or_warn(client: &Client, task_queue: &str) {
    if let Err(err) = ensure_digest_schedule(client, task_queue).await {
        tracing::error!(
            schedule_id = names::DIGEST_SCHEDULE_ID,
            "no saved-search digest until a worker starts that can make its Schedule: {err:#}"
        );
    }
}

/// Says so when the existing Schedule starts its runs on another task queue
/// (`GAVEL_TASK_QUEUE` changed since it was made): no worker of this one
/// would run them.
async fn warn_if_elsewhere(client: &Client, task_queue: &str) {
    let handle = client.get_schedule_handle(names::DIGEST_SCHEDULE_ID);
    if let Ok(described) = handle.describe(Default::default()).await
        && let ScheduleDescriptionAction::StartWorkflow(start) = described.action()
        && start.task_queue() != task_queue
    {
        tracing::warn!(
            schedule_id = names::DIGEST_SCHEDULE_ID,
            scheduled_on = start.task_queue(),
            %task_queue,
            "the saved-search digest's Schedule starts its runs on another task queue; \
             delete it (`temporal schedule delete --schedule-id saved-search-digest`) and \
             restart a worker to make it again"
        );
    }
}

/// The SDK runtime a worker runs on, serving the SDK's Prometheus metrics
/// at `metrics` when given; returns where they are served.
pub fn worker_runtime(
    metrics: Option<std::net::SocketAddr>,
) -> anyhow::Result<(Runtime, Option<std::net::SocketAddr>)> {
    use temporalio_common::telemetry::{
        PrometheusExporterOptions, TelemetryOptions, start_prometheus_metric_exporter,
    };
    let (telemetry, bound) = match metrics {
        Some(addr) => {
            // The SDK serves its own registry; ours (Paystack and Brevo
            // calls, finished auctions) is added to it at one address.
            // Installed now, so what activities count from the start is kept.
            let _ = gavel_api::metrics::recorder();
            let sdk = start_prometheus_metric_exporter(
                PrometheusExporterOptions::builder()
                    .socket_addr(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
                    .counters_total_suffix(true)
                    .build(),
            )
            .context("cannot start the SDK's metrics exporter")?;
            let listener = std::net::TcpListener::bind(addr)
                .with_context(|| format!("cannot serve worker metrics on {addr}"))?;
            let bound = listener.local_addr()?;
            listener.set_nonblocking(true)?;
            let sdk_url = format!("http://{}/metrics", sdk.bound_addr);
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let sdk_url = sdk_url.clone();
                    async move {
                        let mut text = gavel_api::metrics::recorder().render();
                        if let Ok(response) = reqwest::get(&sdk_url).await
                            && let Ok(sdk) = response.text().await
                        {
                            text.push('\n');
                            text.push_str(&sdk);
                        }
                        text
                    }
                }),
            );
            let listener = tokio::net::TcpListener::from_std(listener)?;
            tokio::spawn(async move {
                if let Err(err) = axum::serve(listener, app).await {
                    tracing::warn!("worker metrics stopped: {err}");
                }
            });
            let meter: std::sync::Arc<dyn temporalio_common::telemetry::metrics::CoreMeter> =
                sdk.meter;
            (
                TelemetryOptions::builder().metrics(meter).build(),
                Some(bound),
            )
        }
        None => (TelemetryOptions::default(), None),
    };
    let options = temporalio_sdk::runtime::RuntimeOptions::builder()
        .telemetry_options(telemetry)
        .build()
        .map_err(anyhow::Error::msg)?;
    Ok((Runtime::from_current_tokio(options)?, bound))
}

/// What a `gavel worker` runs: one worker on the auctions' task queue and
/// one on the settlement queue beside it, with few slots (see
/// [`names::settlement_task_queue`]).
pub struct Workers {
    pub auctions: Worker,
    pub settlement: Worker,
}

/// Builds the workers for `task_queue` and its settlement queue, each with
/// every workflow and activity (a run started before the settlement queue
/// keeps its sale on the auctions' queue).
pub fn build_worker(
    runtime: &Runtime,
    client: Client,
    task_queue: &str,
    db: PgPool,
    settlement: &SettlementArgs,
    tuning: &WorkerTuning,
) -> anyhow::Result<Workers> {
    let auctions = WorkerOptions::new(task_queue)
        .deployment_options(deployment())
        .max_cached_workflows(tuning.workflow_cache)
        .workflow_task_poller_behavior(PollerBehavior::SimpleMaximum(
            usize::try_from(tuning.workflow_pollers).unwrap_or(10),
        ))
        .nonsticky_to_sticky_poll_ratio(0.5)
        .activity_task_poller_behavior(PollerBehavior::SimpleMaximum(
            usize::try_from(tuning.activity_pollers).unwrap_or(10),
        ))
        .build();
    let slots = usize::try_from(tuning.settlement_slots).unwrap_or(2);
    let settlement_queue = names::settlement_task_queue(task_queue);
    let off_path = WorkerOptions::new(&settlement_queue)
        .deployment_options(deployment())
        // A sale waits days between its steps: caching it saves little.
        .max_cached_workflows(SETTLEMENT_CACHE)
        .tuner(
            TunerHolder::builder()
                .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(slots))
                .activity_task_slot_supplier(FixedSizeSlotSupplier::new(slots))
                .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(slots))
                .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(1))
                .build(),
        )
        .workflow_task_poller_behavior(PollerBehavior::SimpleMaximum(2))
        .activity_task_poller_behavior(PollerBehavior::SimpleMaximum(slots.min(2)))
        .build();
    Ok(Workers {
        auctions: everything(runtime, client.clone(), auctions, &db, settlement)?,
        settlement: everything(runtime, client, off_path, &db, settlement)?,
    })
}

/// Workflows a settlement worker keeps in memory between their tasks.
const SETTLEMENT_CACHE: usize = 100;

/// A worker with `options` and every workflow and activity registered.
fn everything(
    runtime: &Runtime,
    client: Client,
    mut options: WorkerOptions,
    db: &PgPool,
    settlement: &SettlementArgs,
) -> anyhow::Result<Worker> {
    let mailer = Mailer::new(
        db.clone(),
        settlement.brevo(),
        settlement.sender()?,
        settlement.public_url.clone(),
    );
    options
        .register_workflow::<PingWorkflow>()?
        .register_workflow::<AuctionWorkflow>()?
        .register_workflow::<PaymentFollowUpWorkflow>()?
        .register_workflow::<SaleWorkflow>()?
        .register_workflow::<SavedSearchDigestWorkflow>()?
        .register_activities(PingActivitiesImpl)
        .register_activities(Digest::new(db.clone(), mailer.clone()))
        .register_activities(ReadModel::new(db.clone()))
        .register_activities(Journey::new(db.clone(), settlement.paystack()))
        .register_activities(Alerts::new(db.clone(), mailer.clone()))
        .register_activities(Settlement::new(db.clone(), settlement.paystack(), mailer));
    Worker::new(runtime, client, options).context("cannot create the Temporal worker")
}

/// Every worker's build id: the release it runs.
fn deployment() -> WorkerDeploymentOptions {
    WorkerDeploymentOptions::from_build_id(format!("gavel-{}", env!("CARGO_PKG_VERSION")))
}
