//! Temporal wiring: the client connection, search-attribute registration and
//! the worker with every workflow and activity Gavel runs.

use std::{collections::HashMap, str::FromStr, time::Duration};

use anyhow::Context;
use gavel_activities::{
    mailer::Mailer, ping::PingActivitiesImpl, read_model::ReadModel, settlement::Settlement,
};
use gavel_workflows::{
    auction::AuctionWorkflow, followup::PaymentFollowUpWorkflow, names, ping::PingWorkflow,
};
use sqlx::PgPool;
use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions};
use temporalio_common::{
    protos::temporal::api::operatorservice::v1::{
        AddSearchAttributesRequest, ListSearchAttributesRequest,
    },
    worker::WorkerDeploymentOptions,
};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};
use url::Url;

use crate::config::{SettlementArgs, TemporalArgs};

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
    let started = std::time::Instant::now();
    loop {
        let options = ConnectionOptions::new(target.clone())
            .identity(format!("gavel@{}", std::process::id()))
            .connect_timeout(Duration::from_secs(3))
            .build();
        match Connection::connect(options).await {
            Ok(connection) => {
                return Client::new(
                    connection,
                    ClientOptions::new(args.temporal_namespace.clone()).build(),
                )
                .context("cannot create the Temporal client");
            }
            Err(err) if started.elapsed() < patience => {
                tracing::warn!(address = %target, "Temporal not reachable yet: {err}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(err) => {
                return Err(err).with_context(|| format!("cannot connect to Temporal at {target}"));
            }
        }
    }
}

/// Registers Gavel's custom search attributes that the namespace lacks.
pub async fn ensure_search_attributes(client: &Client) -> anyhow::Result<()> {
    let namespace = client.options().namespace.clone();
    let mut operator = client.connection().operator_service();
    let existing = operator
        .list_search_attributes(tonic::Request::new(ListSearchAttributesRequest {
            namespace: namespace.clone(),
        }))
        .await
        .context("cannot list search attributes")?
        .into_inner()
        .custom_attributes;
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

/// Builds the worker for `task_queue` with every workflow and activity.
pub fn build_worker(
    runtime: &Runtime,
    client: Client,
    task_queue: &str,
    db: PgPool,
    settlement: &SettlementArgs,
) -> anyhow::Result<Worker> {
    let mailer = Mailer::new(
        db.clone(),
        settlement.brevo(),
        settlement.sender()?,
        settlement.public_url.clone(),
    );
    let options = WorkerOptions::new(task_queue)
        .deployment_options(WorkerDeploymentOptions::from_build_id(format!(
            "gavel-{}",
            env!("CARGO_PKG_VERSION")
        )))
        .register_workflow::<PingWorkflow>()?
        .register_workflow::<AuctionWorkflow>()?
        .register_workflow::<PaymentFollowUpWorkflow>()?
        .register_activities(PingActivitiesImpl)
        .register_activities(ReadModel::new(db.clone()))
        .register_activities(Settlement::new(db, settlement.paystack(), mailer))
        .build();
    Worker::new(runtime, client, options).context("cannot create the Temporal worker")
}
