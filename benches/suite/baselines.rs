//! What Gavel is measured against, on the same machine in the same run: a
//! bare Temporal update on a trivial workflow, a plain PostgreSQL row lock,
//! the same lock behind an axum handler doing the API's work per bid, and a
//! wave of trivial timers.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::post,
};
use futures::StreamExt;
use gavel_api::auth::{JwtKeys, Role};
use serde_json::{Value, json};
use sqlx::{PgPool, postgres::PgPoolOptions};
use temporalio_client::{
    WorkflowExecuteUpdateOptions, WorkflowStartOptions, errors::WorkflowUpdateError,
};
use temporalio_common::protos::temporal::api::{enums::v1::EventType, history::v1::HistoryEvent};
use uuid::Uuid;

use crate::{
    measure::{Outcome, Samples, Span, drive, percentile},
    stack::Stack,
    trivial::{self, Counter, Sleeper},
};

/// Starts `n` trivial counters; returns their workflow ids.
pub async fn counters(stack: &Arc<Stack>, n: usize) -> Vec<String> {
    futures::stream::iter(0..n)
        .map(|_| {
            let stack = stack.clone();
            async move {
                let id = format!("bench-counter-{}", Uuid::new_v4().simple());
                stack
                    .temporal
                    .start_workflow(
                        Counter::run,
                        3_600,
                        WorkflowStartOptions::new(trivial::QUEUE, id.clone()).build(),
                    )
                    .await
                    .unwrap();
                id
            }
        })
        .buffered(16)
        .collect()
        .await
}

/// `clients` clients sending `bump` updates to `workflows`, each request to
/// the next workflow in turn (a shared counter, so every one is visited).
pub async fn bare_updates(
    stack: &Arc<Stack>,
    workflows: &[String],
    clients: usize,
    span: Span,
) -> Samples {
    let turn = Arc::new(AtomicUsize::new(0));
    let handles: Arc<Vec<_>> = Arc::new(
        workflows
            .iter()
            .map(|id| stack.temporal.get_workflow_handle::<Counter>(id.clone()))
            .collect(),
    );
    drive(clients, span, move |_| {
        let (turn, handles) = (turn.clone(), handles.clone());
        async move {
            let handle = &handles[turn.fetch_add(1, Ordering::Relaxed) % handles.len()];
            let options = WorkflowExecuteUpdateOptions::builder()
                .update_id(Uuid::new_v4().to_string())
                .build();
            // As Gavel's API does: an update that meets the run continuing as
            // new goes again, to the next run.
            for _ in 0..20 {
                match handle
                    .execute_update(Counter::bump, 1, options.clone())
                    .await
                {
                    Ok(_) => return Outcome::Accepted,
                    Err(WorkflowUpdateError::Rpc(status))
                        if status.code() == tonic::Code::FailedPrecondition
                            && status.message().contains("completed") =>
                    {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(_) => return Outcome::Failed,
                }
            }
            Outcome::Failed
        }
    })
    .await
}

/// The tables the PostgreSQL baselines bid into.
async fn tables(db: &PgPool) {
    for ddl in [
        "CREATE TABLE IF NOT EXISTS bench_lots (id UUID PRIMARY KEY, price BIGINT NOT NULL,
             bid_count BIGINT NOT NULL DEFAULT 0)",
        "CREATE TABLE IF NOT EXISTS bench_bids (id UUID PRIMARY KEY, lot_id UUID NOT NULL,
             bidder_id UUID NOT NULL, amount BIGINT NOT NULL,
             placed_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        "CREATE TABLE IF NOT EXISTS bench_idempotency (key TEXT PRIMARY KEY, bidder_id UUID NOT NULL,
             at TIMESTAMPTZ NOT NULL DEFAULT now())",
        "CREATE TABLE IF NOT EXISTS bench_events (id BIGSERIAL PRIMARY KEY, lot_id UUID NOT NULL,
             kind TEXT NOT NULL, body JSONB NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT now())",
    ] {
        sqlx::query(ddl).execute(db).await.unwrap();
    }
}

async fn lot(db: &PgPool) -> Uuid {
    tables(db).await;
    let lot = Uuid::new_v4();
    sqlx::query("INSERT INTO bench_lots (id, price) VALUES ($1, 0)")
        .bind(lot)
        .execute(db)
        .await
        .unwrap();
    lot
}

/// A pool of the API's size (20), on the run's database.
async fn pool(stack: &Stack) -> PgPool {
    PgPoolOptions::new()
        .max_connections(20)
        .connect(&format!(
            "{}/gavel_bench_{}",
            stack.base_url,
            std::process::id()
        ))
        .await
        .unwrap()
}

/// What most auction sites do: a row lock per bid in PostgreSQL (SELECT …
/// FOR UPDATE, INSERT the bid, UPDATE the price), in this process.
pub async fn plain_postgres(stack: &Arc<Stack>, clients: usize, span: Span) -> Samples {
    let pool = pool(stack).await;
    let lot = lot(&pool).await;
    let next = Arc::new(AtomicI64::new(100));
    let samples = drive(clients, span, {
        let pool = pool.clone();
        move |_| {
            let (pool, next) = (pool.clone(), next.clone());
            async move {
                let amount = next.fetch_add(10, Ordering::AcqRel);
                match lock_and_bid(&pool, lot, Uuid::nil(), amount, None).await {
                    Ok(true) => Outcome::Accepted,
                    Ok(false) => Outcome::Refused,
                    Err(_) => Outcome::Failed,
                }
            }
        }
    })
    .await;
    // Each round opens its own pool; left open, they would use up
    // PostgreSQL's connections.
    pool.close().await;
    samples
}

/// One bid under the lot's row lock; with `key`, the API's extra work
/// (idempotency key, event row, NOTIFY). Whether it was accepted.
async fn lock_and_bid(
    pool: &PgPool,
    lot: Uuid,
    bidder: Uuid,
    amount: i64,
    key: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    if let Some(key) = key {
        sqlx::query("INSERT INTO bench_idempotency (key, bidder_id) VALUES ($1, $2)")
            .bind(key)
            .bind(bidder)
            .execute(&mut *tx)
            .await?;
    }
    let (price,): (i64,) = sqlx::query_as("SELECT price FROM bench_lots WHERE id = $1 FOR UPDATE")
        .bind(lot)
        .fetch_one(&mut *tx)
        .await?;
    let accepted = amount > price;
    if accepted {
        let bid = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO bench_bids (id, lot_id, bidder_id, amount) VALUES ($1, $2, $3, $4)",
        )
        .bind(bid)
        .bind(lot)
        .bind(bidder)
        .bind(amount)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE bench_lots SET price = $2, bid_count = bid_count + 1 WHERE id = $1")
            .bind(lot)
            .bind(amount)
            .execute(&mut *tx)
            .await?;
        if key.is_some() {
            let body = json!({ "bid": bid, "bidder": bidder, "amount": amount });
            sqlx::query("INSERT INTO bench_events (lot_id, kind, body) VALUES ($1, 'bid', $2)")
                .bind(lot)
                .bind(&body)
                .execute(&mut *tx)
                .await?;
            sqlx::query("SELECT pg_notify('bench_lot', $1)")
                .bind(body.to_string())
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(accepted)
}

#[derive(Clone)]
struct Handler {
    pool: PgPool,
    jwt: JwtKeys,
}

/// `POST /lots/{lot}/bids`: the API's per-bid work without Temporal.
async fn place(
    State(h): State<Handler>,
    Path(lot): Path<Uuid>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Ok(claims) = h.jwt.verify(token) else {
        return (StatusCode::UNAUTHORIZED, Json(Value::Null));
    };
    let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) else {
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(Value::Null));
    };
    let Some(amount) = body["amount"].as_i64() else {
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(Value::Null));
    };
    match lock_and_bid(&h.pool, lot, claims.sub, amount, Some(key)).await {
        Ok(true) => (StatusCode::CREATED, Json(json!({ "amount": amount }))),
        Ok(false) => (
            StatusCode::CONFLICT,
            Json(json!({ "error": { "code": "bid_too_low" } })),
        ),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": err.to_string() })),
        ),
    }
}

/// A PostgreSQL auction behind an axum handler in this process: JWT check,
/// idempotency key, row lock, bid, event, NOTIFY; bidders over HTTP.
pub async fn axum_postgres(stack: &Arc<Stack>, clients: usize, span: Span) -> Samples {
    let pool = pool(stack).await;
    let lot = lot(&pool).await;
    let app = Router::new()
        .route("/lots/{lot}/bids", post(place))
        .with_state(Handler {
            pool: pool.clone(),
            jwt: stack.jwt(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/lots/{lot}/bids", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let bidders = Arc::new(stack.users(Role::Bidder, clients).await);
    let next = Arc::new(AtomicI64::new(100));
    let http = stack.http.clone();
    let samples = drive(clients, span, move |client| {
        let (http, url, bidders, next) = (http.clone(), url.clone(), bidders.clone(), next.clone());
        async move {
            let amount = next.fetch_add(10, Ordering::AcqRel);
            let response = http
                .post(&url)
                .bearer_auth(&bidders[client].token)
                .header("Idempotency-Key", Uuid::new_v4().to_string())
                .json(&json!({ "amount": amount }))
                .send()
                .await;
            match response.map(|r| r.status().as_u16()) {
                Ok(201) => Outcome::Accepted,
                Ok(409) => Outcome::Refused,
                _ => Outcome::Failed,
            }
        }
    })
    .await;
    server.abort();
    pool.close().await;
    samples
}

/// A wave of trivial timers.
#[derive(Debug, serde::Serialize)]
pub struct TimerWave {
    pub workflows: usize,
    pub late_p50_ms: f64,
    pub late_p99_ms: f64,
    pub late_max_ms: f64,
    /// When the server fired the timers (the history's `TimerFired`).
    pub fired_p50_ms: f64,
    pub fired_p99_ms: f64,
    pub unfinished: usize,
}

/// `n` sleepers whose timers all fire at one moment: how late each one's
/// run ended (its wake-up and completion) after that moment, and how late
/// the server fired the timers.
pub async fn timer_wave(stack: &Arc<Stack>, n: usize) -> TimerWave {
    let wake = SystemTime::now() + Duration::from_secs(10 + u64::try_from(n / 50).unwrap());
    let wake_ms = u64::try_from(wake.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap();
    let ids: Vec<String> = futures::stream::iter(0..n)
        .map(|_| {
            let stack = stack.clone();
            async move {
                let id = format!("bench-sleeper-{}", Uuid::new_v4().simple());
                stack
                    .temporal
                    .start_workflow(
                        Sleeper::run,
                        wake_ms,
                        WorkflowStartOptions::new(trivial::QUEUE, id.clone()).build(),
                    )
                    .await
                    .unwrap();
                id
            }
        })
        .buffered(16)
        .collect()
        .await;
    assert!(
        SystemTime::now() < wake,
        "the sleepers were not all started before their wake-up"
    );
    tokio::time::sleep(
        wake.duration_since(SystemTime::now()).unwrap_or_default() + Duration::from_secs(3),
    )
    .await;
    // From each history: when the server fired the timer, and when the
    // workflow, woken by it, ended.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut fired, mut late) = (Vec::new(), Vec::new());
    let mut left: Vec<String> = ids;
    let at = |e: &HistoryEvent| {
        e.event_time
            .and_then(|t| SystemTime::try_from(t).ok())
            .map(|t| t.duration_since(wake).unwrap_or_default())
    };
    while !left.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for id in left {
            let events = stack
                .temporal
                .get_workflow_handle::<Sleeper>(id.clone())
                .fetch_history(Default::default())
                .into_events()
                .await
                .unwrap_or_default();
            let find =
                |kind: EventType| events.iter().find(|e| e.event_type() == kind).and_then(at);
            match (
                find(EventType::TimerFired),
                find(EventType::WorkflowExecutionCompleted),
            ) {
                (Some(f), Some(done)) => {
                    fired.push(f);
                    late.push(done);
                }
                _ => still.push(id),
            }
        }
        left = still;
        if !left.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    fired.sort();
    late.sort();
    TimerWave {
        workflows: n,
        late_p50_ms: percentile(&late, 0.5),
        late_p99_ms: percentile(&late, 0.99),
        late_max_ms: percentile(&late, 1.0),
        fired_p50_ms: percentile(&fired, 0.5),
        fired_p99_ms: percentile(&fired, 0.99),
        unfinished: left.len(),
    }
}
