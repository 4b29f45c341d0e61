//! PostgreSQL: create the database if missing, connect a pool, apply migrations.

use std::time::Duration;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{PgPool, Postgres, migrate::MigrateDatabase, postgres::PgPoolOptions};

/// The migrations in `migrations/`, compiled into the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Connects to `url` without touching the schema.
pub async fn connect(url: &SecretString) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(20)
        .acquire_timeout(Duration::from_secs(5))
        // A pooled connection may have died with the server (a restart, a
        // failover): each would fail one request after PostgreSQL is back.
        // Pinging an idle connection before handing it out costs one round
        // trip per acquire (well under a millisecond on a local network, next
        // to a request's own queries); retrying failed queries instead would
        // mean a retry at every query site, and is unsafe for a query that
        // may have run. A dead connection is dropped and a new one opened.
        .test_before_acquire(true)
        .connect(url.expose_secret())
        .await
        .context("cannot connect to PostgreSQL (is it running, and is DATABASE_URL right?)")
}

/// Creates the database when missing, connects and migrates it.
pub async fn prepare(url: &SecretString) -> anyhow::Result<PgPool> {
    let url_str = url.expose_secret();
    let exists = Postgres::database_exists(url_str)
        .await
        .context("cannot reach PostgreSQL (is it running, and is DATABASE_URL right?)")?;
    if !exists {
        Postgres::create_database(url_str)
            .await
            .context("cannot create the database named in DATABASE_URL")?;
        tracing::info!("created the database");
    }
    let pool = connect(url).await?;
    MIGRATOR
        .run(&pool)
        .await
        .context("applying migrations failed")?;
    Ok(pool)
}
