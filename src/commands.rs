//! The subcommands: what each starts, in which order, and how it stops.

use std::{
    io::Write,
    net::SocketAddr,
    path::Path,
    sync::{Arc, OnceLock},
    time::Duration,
};

use anyhow::Context;
use gavel_api::{
    accounts::{self, NewUser},
    auth::{DisplayName, Email, Password, Role},
};
use rand::{Rng, distributions::Alphanumeric};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    app::{self, ApiParts, Application},
    cli::{
        AdminCommand, ApiArgs, Command, CreateUserArgs, DevArgs, ExportHistoryArgs, HistoryCommand,
        PaystackCommand, ReplayArgs, WorkerArgs,
    },
    config::DatabaseArgs,
    database,
    dev_server::{self, DevServer, DevServerOptions},
    paystack_stand_in, temporal,
};

/// How long the API and worker wait for Temporal to answer at start.
const TEMPORAL_PATIENCE: Duration = Duration::from_secs(30);

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Dev(mut args) => {
            args.http.load_secret_files()?;
            args.settlement.load_secret_files()?;
            dev(args).await
        }
        Command::Api(mut args) => {
            args.http.load_secret_files()?;
            args.settlement.load_secret_files()?;
            api(args).await
        }
        Command::Worker(mut args) => {
            args.settlement.load_secret_files()?;
            worker(args).await
        }
        Command::Migrate(args) => {
            database::prepare(&args.database_url).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Admin(AdminCommand::CreateUser(args)) => create_user(args).await,
        Command::Admin(AdminCommand::Reconcile(args)) => reconcile(args).await,
        Command::Admin(AdminCommand::ExportHistory(args))
        | Command::History(HistoryCommand::Export(args)) => export_history(args).await,
        Command::Replay(args) => replay(args).await,
        Command::Admin(AdminCommand::SetupTemporal(args)) => {
            let client = temporal::connect(&args, Duration::from_secs(120)).await?;
            temporal::ensure_namespace(&client).await?;
            temporal::ensure_search_attributes(&client).await?;
            tracing::info!(namespace = %args.temporal_namespace, "Temporal is ready for Gavel");
            Ok(())
        }
        Command::Paystack(PaystackCommand::SendWebhook(args)) => crate::webhook::send(args).await,
    }
}

async fn api(args: ApiArgs) -> anyhow::Result<()> {
    let secret = args.http.jwt_secret.clone().context(
        "GAVEL_JWT_SECRET is required (at least 32 bytes; `openssl rand -hex 32` makes one)",
    )?;
    app::check_jwt_secret(&secret)?;
    let db = database::prepare(&args.database.database_url).await?;
    let client = temporal::connect(&args.temporal, TEMPORAL_PATIENCE).await?;
    let api = Application::build(ApiParts {
        db,
        temporal: client,
        http: &args.http,
        settlement: &args.settlement,
        task_queue: &args.temporal.task_queue,
        jwt_secret: &secret,
    })
    .await?;
    tracing::info!(address = %api.address()?, "API listening");
    if let Some(metrics) = api.metrics_address() {
        tracing::info!(address = %metrics, "API metrics at http://{metrics}/metrics");
    }
    let closing = api.closing();
    tokio::spawn(async move {
        app::shutdown_signal().await;
        closing.cancel();
    });
    api.run().await?;
    Ok(())
}

async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let db = database::prepare(&args.database.database_url).await?;
    let client = temporal::connect(&args.temporal, TEMPORAL_PATIENCE).await?;
    temporal::ensure_search_attributes(&client).await?;
    temporal::ensure_digest_schedule_or_warn(&client, &args.temporal.task_queue).await;
    let (runtime, metrics) = temporal::worker_runtime(args.tuning.metrics_addr)?;
    if let Some(metrics) = metrics {
        tracing::info!(address = %metrics, "worker metrics at http://{metrics}/metrics");
    }
    let worker = temporal::build_worker(
        &runtime,
        client,
        &args.temporal.task_queue,
        db,
        &args.settlement,
        &args.tuning,
    )?;
    tracing::info!(task_queue = %args.temporal.task_queue, "worker polling");
    app::run_workers_until(worker, app::shutdown_signal()).await
}

async fn dev(args: DevArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dev_dir)
        .with_context(|| format!("cannot create {}", args.dev_dir.display()))?;
    let mut server = start_temporal_if_needed(&args)?;
    let result = dev_services(&args, server.is_some()).await;
    if let Some(server) = server.take() {
        tracing::info!("stopping the Temporal dev server");
        tokio::task::spawn_blocking(move || server.stop(Duration::from_secs(10))).await?;
    }
    result
}

/// Starts `temporal server start-dev` unless something answers at TEMPORAL_ADDRESS.
fn start_temporal_if_needed(args: &DevArgs) -> anyhow::Result<Option<DevServer>> {
    let address: SocketAddr = args.temporal.temporal_address.parse().with_context(|| {
        format!(
            "`gavel dev` needs TEMPORAL_ADDRESS as ip:port, got {:?}",
            args.temporal.temporal_address
        )
    })?;
    let pid_file = args.dev_dir.join("temporal.pid");
    dev_server::wait_for_earlier(&pid_file, Duration::from_secs(20))?;
    if dev_server::answers(&address) {
        tracing::info!(%address, "using the Temporal server already running");
        return Ok(None);
    }
    let cli = dev_server::find_cli()?;
    let options = DevServerOptions {
        port: address.port(),
        ui_port: Some(args.temporal_ui_port),
        db_file: Some(args.dev_dir.join("temporal.sqlite")),
        namespace: args.temporal.temporal_namespace.clone(),
        log_file: Some(args.dev_dir.join("temporal.log")),
        extra_args: Vec::new(),
    };
    tracing::info!(cli = %cli.display(), "starting the Temporal dev server");
    let mut server = DevServer::start(&cli, &options)?;
    std::fs::write(&pid_file, server.pid().to_string())
        .with_context(|| format!("cannot write {}", pid_file.display()))?;
    server.wait_ready(Duration::from_secs(60))?;
    Ok(Some(server))
}

async fn dev_services(args: &DevArgs, started_temporal: bool) -> anyhow::Result<()> {
    let secret = match &args.http.jwt_secret {
        Some(secret) => secret.clone(),
        None => dev_jwt_secret(&args.dev_dir)?,
    };
    app::check_jwt_secret(&secret)?;
    let db = database::prepare(&args.database.database_url).await?;
    let client = temporal::connect(&args.temporal, TEMPORAL_PATIENCE).await?;
    temporal::ensure_search_attributes(&client).await?;
    temporal::ensure_digest_schedule_or_warn(&client, &args.temporal.task_queue).await;

    // Without a Paystack key, payments go to the local stand-in, so a whole
    // sale (checkout included) can be tried here.
    let api_url = Arc::new(OnceLock::new());
    let mut settlement = args.settlement.clone();
    let stand_in = if !settlement.paystack_configured() && args.paystack_stand_in {
        let stand_in = paystack_stand_in::start(api_url.clone()).await?;
        settlement.paystack_secret_key = Some(stand_in.secret_key());
        settlement.paystack_base_url = stand_in.base_url.clone();
        Some(stand_in.base_url)
    } else {
        None
    };
    // Without Brevo no verification email reaches anyone: on this machine
    // accounts bid and sell at once, unless asked otherwise (flag or env).
    let mut http = args.http.clone();
    http.require_verified_email =
        Some(http.verified_email_required(!settlement.brevo_configured()));
    let (runtime, _) = temporal::worker_runtime(args.tuning.metrics_addr)?;
    let worker = temporal::build_worker(
        &runtime,
        client.clone(),
        &args.temporal.task_queue,
        db.clone(),
        &settlement,
        &args.tuning,
    )?;
    let api = Application::build(ApiParts {
        db,
        temporal: client,
        http: &http,
        settlement: &settlement,
        task_queue: &args.temporal.task_queue,
        jwt_secret: &secret,
    })
    .await?;
    let api_addr = api.address()?;
    let _ = api_url.set(format!("http://{api_addr}"));
    let payments = match &stand_in {
        Some(url) => format!("payments go to the Paystack stand-in at {url}: no real money"),
        None if args.settlement.paystack_configured() => {
            "Paystack: point the dashboard's test webhook URL at a tunnel to this".to_owned()
        }
        None => "no PAYSTACK_SECRET_KEY: winners pay offline".to_owned(),
    };
    let metrics = match (api.metrics_address(), &args.http.metrics_token) {
        (Some(open), _) => format!("http://{open}/metrics"),
        (None, Some(_)) => format!("http://{api_addr}/metrics (Bearer GAVEL_METRICS_TOKEN)"),
        (None, None) => "not served (set GAVEL_METRICS_ADDR or GAVEL_METRICS_TOKEN)".to_owned(),
    };
    let shutdown = api.closing();
    let api = tokio::spawn(api.run());
    print_urls(args, api_addr, &metrics, &payments, started_temporal);

    let worker_stop = shutdown.clone();
    let worker_result = app::run_workers_until(worker, async move {
        tokio::select! {
            () = app::shutdown_signal() => {},
            () = worker_stop.cancelled() => {},
        }
    })
    .await;
    shutdown.cancel();
    api.await.context("the API task panicked")??;
    worker_result
}

#[allow(clippy::print_stdout)]
fn print_urls(
    args: &DevArgs,
    api: SocketAddr,
    metrics: &str,
    payments: &str,
    started_temporal: bool,
) {
    let ui = if started_temporal {
        format!("http://127.0.0.1:{}", args.temporal_ui_port)
    } else {
        "the UI of the Temporal server you run".to_owned()
    };
    println!(
        "\nGavel is running (Ctrl-C stops everything):\n  \
         Web          http://{api}/\n  \
         API          http://{api}/api/v1\n  \
         API docs     http://{api}/api/v1/docs\n  \
         Readiness    http://{api}/api/v1/ready\n  \
         Metrics      {metrics}\n  \
         Temporal UI  {ui}\n  \
         Temporal     {}\n  \
         Webhook      http://{api}/api/v1/webhooks/paystack ({payments})\n  \
         Email        {email}\n",
        args.temporal.temporal_address,
        email = if args.settlement.brevo_configured() {
            "sent through Brevo"
        } else if args.http.require_verified_email.is_none() {
            "no BREVO_API_KEY: recorded in the `emails` table, not sent; new accounts bid and \
             sell without confirming their address (GAVEL_REQUIRE_VERIFIED_EMAIL=true asks)"
        } else {
            "no BREVO_API_KEY: recorded in the `emails` table, not sent"
        },
    );
}

/// The dev signing secret: kept in `.gavel/jwt-secret` so tokens survive restarts.
fn dev_jwt_secret(dir: &Path) -> anyhow::Result<SecretString> {
    let path = dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_owned();
        if existing.len() >= app::MIN_JWT_SECRET_LEN {
            return Ok(SecretString::from(existing));
        }
    }
    let secret = random_string(48);
    std::fs::write(&path, &secret).with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    tracing::warn!(
        path = %path.display(),
        "GAVEL_JWT_SECRET is not set; generated a development secret (never use this in production)"
    );
    Ok(SecretString::from(secret))
}

fn random_string(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[allow(clippy::print_stdout)]
async fn create_user(args: CreateUserArgs) -> anyhow::Result<()> {
    let role = Role::parse(&args.role).context("--role must be bidder, seller or admin")?;
    let email = Email::parse(&args.email).map_err(|e| anyhow::anyhow!(e.message))?;
    let (password, generated) = match &args.password {
        Some(p) => (p.expose_secret().to_owned(), false),
        None => (random_string(24), true),
    };
    let new = NewUser {
        password: Password::parse(&password, &email).map_err(|e| anyhow::anyhow!(e.message))?,
        name: DisplayName::parse(&args.name).map_err(|e| anyhow::anyhow!(e.message))?,
        email,
        role,
        // An admin vouches for the address of an account they make.
        email_verified: true,
    };
    let db = database::prepare(&args.database.database_url).await?;
    // One hash: one turn is all this process needs.
    let hashing = gavel_api::auth::password::Hashing::new(1);
    let user = accounts::create(&db, &hashing, new)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    println!(
        "created {} {} ({})",
        user.role.as_str(),
        user.email,
        user.id
    );
    if generated {
        println!("password (shown once): {password}");
    }
    Ok(())
}

/// Prints the discrepancies of the sales' books; an error when there is one.
#[allow(clippy::print_stdout)]
async fn reconcile(args: DatabaseArgs) -> anyhow::Result<()> {
    let db = database::prepare(&args.database_url).await?;
    let found = gavel_store::sales::reconcile(&db).await?;
    let sales = gavel_store::sales::count(&db).await?;
    for discrepancy in &found {
        println!("{}: {}", discrepancy.invoice_id, discrepancy.problem);
    }
    if found.is_empty() {
        println!("{sales} sales reconciled: every naira accounted for");
        Ok(())
    } else {
        anyhow::bail!("{} of {sales} sales do not reconcile", found.len())
    }
}

/// Replays every history asked for and prints a verdict each; an error
/// (exit 1) when any would break or none was given.
#[allow(clippy::print_stdout)]
async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let mut recorded = Vec::new();
    for path in &args.paths {
        recorded.extend(crate::replay::read_histories(path)?);
    }
    if !args.workflow_ids.is_empty() || args.query.is_some() {
        let client = temporal::connect(&args.temporal, Duration::from_secs(5)).await?;
        let namespace = &args.temporal.temporal_namespace;
        for id in &args.workflow_ids {
            recorded.push(crate::replay::fetch(&client, namespace, id, None).await?);
        }
        if let Some(query) = &args.query {
            recorded.extend(crate::replay::fetch_query(&client, namespace, query).await?);
        }
    }
    anyhow::ensure!(
        !recorded.is_empty(),
        "nothing to replay: give history files or folders, --workflow-id or --query"
    );
    let mut broken = 0;
    for history in &recorded {
        match crate::replay::replay(history.history.clone()).await {
            Ok(()) => println!("ok      {}", history.name),
            Err(reason) => {
                broken += 1;
                println!("BREAKS  {}: {reason}", history.name);
            }
        }
    }
    println!("{} replayed, {broken} would break", recorded.len());
    anyhow::ensure!(
        broken == 0,
        "{broken} of {} histories would break with this build",
        recorded.len()
    );
    Ok(())
}

/// Prints a workflow's history in the SDK's JSON form (what `tests/replay.rs`
/// reads; `temporal workflow show -o json` is not accepted by the replayer).
async fn export_history(args: ExportHistoryArgs) -> anyhow::Result<()> {
    let client = temporal::connect(&args.temporal, Duration::from_secs(5)).await?;
    let recorded = crate::replay::fetch(
        &client,
        &args.temporal.temporal_namespace,
        &args.workflow_id,
        args.run_id.as_deref(),
    )
    .await?;
    std::io::stdout().write_all(&serde_json::to_vec(&recorded.history)?)?;
    Ok(())
}
