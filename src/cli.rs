//! The command tree: `gavel`'s subcommands and each one's whole set of
//! arguments, assembled from the service settings in [`crate::config`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

use crate::{
    config::{DatabaseArgs, HttpArgs, SettlementArgs, TemporalArgs, WorkerTuning},
    telemetry::LogFormat,
};

#[derive(Debug, Parser)]
#[command(
    name = "gavel",
    version,
    about = "Online auctions as durable Temporal workflows"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log line format.
    #[arg(long, env = "GAVEL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything on one machine: Temporal dev server (if none answers), database,
    /// migrations, search attributes, API and worker in one process.
    Dev(DevArgs),
    /// The HTTP API alone (production shape).
    Api(ApiArgs),
    /// The Temporal worker alone (production shape).
    Worker(WorkerArgs),
    /// Create the database if missing and apply migrations.
    Migrate(DatabaseArgs),
    /// Replay workflow histories against this build's workflow code; exits
    /// non-zero if any would break. Run it before deploying a new worker.
    Replay(ReplayArgs),
    /// Workflow histories.
    #[command(subcommand)]
    History(HistoryCommand),
    /// Administrative tasks.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Paystack test-mode helpers.
    #[command(subcommand)]
    Paystack(PaystackCommand),
}

#[derive(Debug, Subcommand)]
pub enum PaystackCommand {
    /// Sign (with PAYSTACK_SECRET_KEY) and post a realistic Paystack event to
    /// a running API, as Paystack would: try the payment flow locally.
    SendWebhook(SendWebhookArgs),
}

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["reference", "invoice"])))]
pub struct SendWebhookArgs {
    /// The transaction reference (an invoice's `reference`, see `GET /invoices/{id}`).
    #[arg(long)]
    pub reference: Option<String>,
    /// The invoice, by id or number (`GV-…`): its current reference is used.
    #[arg(long)]
    pub invoice: Option<String>,
    #[arg(long, default_value = "charge.success")]
    pub event: String,
    /// Amount in minor units; by default the invoice's (from the database).
    #[arg(long)]
    pub amount: Option<i64>,
    /// Currency; by default the invoice's.
    #[arg(long)]
    pub currency: Option<String>,
    /// The API to post to.
    #[arg(long, env = "GAVEL_API_URL", default_value = "http://127.0.0.1:3000")]
    pub api_url: String,
    /// The key the API checks signatures with (the same `sk_test_…`).
    #[arg(long, env = "PAYSTACK_SECRET_KEY", hide_env_values = true)]
    pub paystack_secret_key: Option<SecretString>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a user of any role; the only way to make an admin.
    CreateUser(CreateUserArgs),
    /// The old name of `gavel history export`.
    ExportHistory(ExportHistoryArgs),
    /// Prepare a Temporal cluster for Gavel: wait for it, create the
    /// namespace if missing, register the search attributes (a one-shot job
    /// in production; `gavel dev` and the worker do the second part too).
    SetupTemporal(TemporalArgs),
    /// Check every sale's books: what the buyer paid = payout + commission +
    /// refunds, to the minor unit, and every transfer in the ledger once.
    /// Prints each discrepancy; exits 1 when there is one.
    Reconcile(DatabaseArgs),
}

#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Print a workflow's history as JSON that `gavel replay` and the replay
    /// tests accept (`> tests/histories/<name>.json`).
    Export(ExportHistoryArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// History files, or folders of them (every `*.json` below, in name order).
    pub paths: Vec<PathBuf>,
    /// Fetch this workflow's latest run from Temporal (repeatable).
    #[arg(long = "workflow-id")]
    pub workflow_ids: Vec<String>,
    /// Fetch every run a visibility query finds, e.g. `AuctionStatus='open'`.
    #[arg(long)]
    pub query: Option<String>,
    #[command(flatten)]
    pub temporal: TemporalArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ExportHistoryArgs {
    #[command(flatten)]
    pub temporal: TemporalArgs,
    /// e.g. `auction-0193…`
    pub workflow_id: String,
    /// A specific run (default: the latest).
    #[arg(long)]
    pub run_id: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub temporal: TemporalArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub settlement: SettlementArgs,
}

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub temporal: TemporalArgs,
    #[command(flatten)]
    pub settlement: SettlementArgs,
    #[command(flatten)]
    pub tuning: WorkerTuning,
}

#[derive(Debug, Clone, Args)]
pub struct DevArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub temporal: TemporalArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub settlement: SettlementArgs,
    #[command(flatten)]
    pub tuning: WorkerTuning,
    /// Where `gavel dev` keeps its state (the Temporal SQLite file, logs).
    #[arg(long, env = "GAVEL_DEV_DIR", default_value = ".gavel")]
    pub dev_dir: PathBuf,
    /// Port of the Temporal UI started by `gavel dev`.
    #[arg(long, env = "GAVEL_TEMPORAL_UI_PORT", default_value_t = 8233)]
    pub temporal_ui_port: u16,
    /// Without PAYSTACK_SECRET_KEY, run a local Paystack stand-in (checkout
    /// page and signed webhooks, no real money); `false` to pay offline only.
    #[arg(long, env = "GAVEL_PAYSTACK_STAND_IN", default_value_t = true,
        action = clap::ArgAction::Set)]
    pub paystack_stand_in: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CreateUserArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[arg(long)]
    pub email: String,
    #[arg(long, default_value = "admin")]
    pub role: String,
    #[arg(long, default_value = "Administrator")]
    pub name: String,
    /// The password; when absent a strong one is generated and printed once.
    #[arg(long, env = "GAVEL_ADMIN_PASSWORD", hide_env_values = true)]
    pub password: Option<SecretString>,
}
