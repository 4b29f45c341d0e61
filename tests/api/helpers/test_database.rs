//! Databases: a fresh, migrated PostgreSQL database per test.

use super::*;

/// Where test databases are created; override with `TEST_DATABASE_URL`.
fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}
static DB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A new, migrated database for one test. Databases left by earlier test
/// processes that are gone are dropped on the way.
pub async fn fresh_database() -> (SecretString, PgPool) {
    fresh_database_at(&server_url()).await
}

/// [`fresh_database`] on the PostgreSQL server at `server` (a URL without a
/// database name).
pub async fn fresh_database_at(server: &str) -> (SecretString, PgPool) {
    let mut admin = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("PostgreSQL must answer at TEST_DATABASE_URL (default 127.0.0.1:5432)");
    drop_stale_databases(&mut admin).await;
    let name = format!(
        "gavel_test_{}_{}",
        std::process::id(),
        DB_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let url = SecretString::from(format!("{server}/{name}"));
    let pool = database::prepare(&url)
        .await
        .expect("migrate test database");
    (url, pool)
}

async fn drop_stale_databases(admin: &mut PgConnection) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let mut first = false;
    ONCE.call_once(|| first = true);
    if !first {
        return;
    }
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'gavel_test_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for (name,) in names {
        let pid = name.split('_').nth(2).unwrap_or_default();
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *admin)
                .await;
        }
    }
}
