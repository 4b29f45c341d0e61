//! The `gavel` binary's library: configuration, process wiring and the commands.
//!
//! - [`cli`]: the command tree, `gavel` and its subcommands (clap).
//! - [`config`]: the services' settings, each a `--flag` with an env-var twin.
//! - [`telemetry`]: tracing subscriber (pretty in dev, JSON in production).
//! - [`database`]: create-if-missing, connect and migrate PostgreSQL.
//! - [`temporal`]: connect the client, register search attributes, build the worker.
//! - [`dev_server`]: run the `temporal` CLI dev server as a child that cannot outlive us.
//! - [`app`]: run the API and/or the worker until a shutdown signal.
//! - [`commands`]: `dev`, `api`, `worker`, `migrate`, `admin`, `paystack`.
//! - [`webhook`]: `gavel paystack send-webhook`, a signed test event.
//! - [`paystack_stand_in`]: the local Paystack `gavel dev` runs without a key.
//! - [`replay`]: `gavel replay`, recorded histories against this build's workflows.

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod database;
pub mod dev_server;
pub mod paystack_stand_in;
pub mod replay;
pub mod telemetry;
pub mod temporal;
pub mod webhook;
