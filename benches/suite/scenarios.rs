//! The scenarios: each drives the stack and returns report rows.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures::StreamExt;
use gavel_api::auth::Role;
use gavel_store::{auctions, emails};
use gavel_workflows::{auction::AuctionWorkflow, contract::auction::PlaceBid};
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use temporalio_client::WorkflowExecuteUpdateOptions;
use uuid::Uuid;

use crate::{
    measure::{Row, Samples, percentile},
    stack::{Stack, User},
};

/// `concurrency` bidders share `bids` bids on one auction through the API,
/// each bid a little above the last one sent (so most are valid and the
/// rest lose a race, as in a lot's last minute).
pub async fn hot_api(stack: &Arc<Stack>, concurrency: usize, bids: usize) -> Samples {
    let seller = stack.users(Role::Seller, 1).await.remove(0);
    let bidders = stack.users(Role::Bidder, concurrency).await;
    let auction = stack.auction(&seller, chrono::Duration::minutes(30)).await;
    let next = Arc::new(AtomicI64::new(100));
    let left = Arc::new(AtomicUsize::new(bids));
    let started = Instant::now();
    let tasks: Vec<_> = bidders
        .into_iter()
        .map(|bidder| {
            let (stack, next, left) = (stack.clone(), next.clone(), left.clone());
            tokio::spawn(async move {
                let mut samples = Samples::default();
                while left
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let amount = next.fetch_add(10, Ordering::AcqRel);
                    let (latency, status, _) = stack.bid(&bidder, auction, amount).await;
                    samples.latencies.push(latency);
                    match status {
                        201 => samples.accepted += 1,
                        409 => samples.refused += 1,
                        _ => samples.failed += 1,
                    }
                }
                samples
            })
        })
        .collect();
    let mut samples = Samples::default();
    for task in tasks {
        samples.merge(task.await.unwrap());
    }
    samples.wall = started.elapsed();
    samples
}

/// The same bidding straight to the workflow: `place_bid` updates through
/// the Temporal client, no API (the floor under the API's figures).
pub async fn raw_update(stack: &Arc<Stack>, concurrency: usize, bids: usize) -> Samples {
    let seller = stack.users(Role::Seller, 1).await.remove(0);
    let bidders = stack.users(Role::Bidder, concurrency).await;
    let auction = stack.auction(&seller, chrono::Duration::minutes(30)).await;
    let next = Arc::new(AtomicI64::new(100));
    let left = Arc::new(AtomicUsize::new(bids));
    let started = Instant::now();
    let tasks: Vec<_> = bidders
        .into_iter()
        .map(|bidder| {
            let (stack, next, left) = (stack.clone(), next.clone(), left.clone());
            tokio::spawn(async move {
                let handle = stack
                    .temporal
                    .get_workflow_handle::<AuctionWorkflow>(format!("auction-{auction}"));
                let mut samples = Samples::default();
                while left
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let bid = PlaceBid {
                        bidder_id: bidder.id,
                        amount: next.fetch_add(10, Ordering::AcqRel),
                        max_amount: None,
                        currency: None,
                        idempotency_key: Uuid::new_v4().to_string(),
                    };
                    let options = WorkflowExecuteUpdateOptions::builder()
                        .update_id(bid.idempotency_key.clone())
                        .build();
                    let t = Instant::now();
                    let outcome = handle
                        .execute_update(AuctionWorkflow::place_bid, bid, options)
                        .await;
                    samples.latencies.push(t.elapsed());
                    match outcome {
                        Ok(_) => samples.accepted += 1,
                        Err(temporalio_client::errors::WorkflowUpdateError::Failed(_)) => {
                            samples.refused += 1
                        }
                        Err(_) => samples.failed += 1,
                    }
                }
                samples
            })
        })
        .collect();
    let mut samples = Samples::default();
    for task in tasks {
        samples.merge(task.await.unwrap());
    }
    samples.wall = started.elapsed();
    samples
}

/// What most auction sites do: a row lock per bid in PostgreSQL (SELECT …
/// FOR UPDATE, INSERT the bid, UPDATE the price), same machine, same bids.
pub async fn plain_postgres(stack: &Arc<Stack>, concurrency: usize, bids: usize) -> Samples {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_lots (id UUID PRIMARY KEY, price BIGINT NOT NULL,
             bid_count BIGINT NOT NULL DEFAULT 0)",
    )
    .execute(&stack.db)
    .await
    .unwrap();
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_bids (id UUID PRIMARY KEY, lot_id UUID NOT NULL,
             bidder_id UUID NOT NULL, amount BIGINT NOT NULL, placed_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .execute(&stack.db)
    .await
    .unwrap();
    let lot = Uuid::new_v4();
    sqlx::query("INSERT INTO bench_lots (id, price) VALUES ($1, 0)")
        .bind(lot)
        .execute(&stack.db)
        .await
        .unwrap();
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    // A bounded pool, as an application would run it (and within
    // PostgreSQL's 100 connections beside the API's and the worker's).
    let pool = PgPoolOptions::new()
        .max_connections(u32::try_from(concurrency.min(32)).unwrap())
        .connect(&format!("{url}/gavel_bench_{}", std::process::id()))
        .await
        .unwrap();
    let next = Arc::new(AtomicI64::new(100));
    let left = Arc::new(AtomicUsize::new(bids));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (pool, next, left) = (pool.clone(), next.clone(), left.clone());
            let bidder = Uuid::new_v4();
            tokio::spawn(async move {
                let mut samples = Samples::default();
                while left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok() {
                    let amount = next.fetch_add(10, Ordering::AcqRel);
                    let t = Instant::now();
                    let mut tx = pool.begin().await.unwrap();
                    let (price,): (i64,) =
                        sqlx::query_as("SELECT price FROM bench_lots WHERE id = $1 FOR UPDATE")
                            .bind(lot)
                            .fetch_one(&mut *tx)
                            .await
                            .unwrap();
                    if amount > price {
                        sqlx::query("INSERT INTO bench_bids (id, lot_id, bidder_id, amount) VALUES ($1, $2, $3, $4)")
                            .bind(Uuid::new_v4())
                            .bind(lot)
                            .bind(bidder)
                            .bind(amount)
                            .execute(&mut *tx)
                            .await
                            .unwrap();
                        sqlx::query("UPDATE bench_lots SET price = $2, bid_count = bid_count + 1 WHERE id = $1")
                            .bind(lot)
                            .bind(amount)
                            .execute(&mut *tx)
                            .await
                            .unwrap();
                        samples.accepted += 1;
                    } else {
                        samples.refused += 1;
                    }
                    tx.commit().await.unwrap();
                    samples.latencies.push(t.elapsed());
                }
                samples
            })
        })
        .collect();
    let mut samples = Samples::default();
    for task in tasks {
        samples.merge(task.await.unwrap());
    }
    samples.wall = started.elapsed();
    // Each round opens its own pool; left open, they would use up
    // PostgreSQL's connections by the 64-bidder round.
    pool.close().await;
    samples
}

/// `bidders` bidders spread over `auctions` auctions through the API.
pub async fn spread(stack: &Arc<Stack>, auctions: usize, bidders: usize, bids: usize) -> Row {
    let seller = stack.users(Role::Seller, 1).await.remove(0);
    let people = stack.users(Role::Bidder, bidders).await;
    let mut lots = Vec::new();
    for _ in 0..auctions {
        lots.push(stack.auction(&seller, chrono::Duration::minutes(30)).await);
    }
    let lots = Arc::new(lots);
    let next: Arc<Vec<AtomicI64>> = Arc::new((0..auctions).map(|_| AtomicI64::new(100)).collect());
    let left = Arc::new(AtomicUsize::new(bids));
    let started = Instant::now();
    let tasks: Vec<_> = people
        .into_iter()
        .enumerate()
        .map(|(i, bidder)| {
            let (stack, lots, next, left) =
                (stack.clone(), lots.clone(), next.clone(), left.clone());
            tokio::spawn(async move {
                let mut samples = Samples::default();
                let mut pick = i;
                while left
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok()
                {
                    pick = (pick * 7 + 13) % lots.len();
                    let amount = next[pick].fetch_add(10, Ordering::AcqRel);
                    let (latency, status, _) = stack.bid(&bidder, lots[pick], amount).await;
                    samples.latencies.push(latency);
                    match status {
                        201 => samples.accepted += 1,
                        409 => samples.refused += 1,
                        _ => samples.failed += 1,
                    }
                }
                samples
            })
        })
        .collect();
    let mut samples = Samples::default();
    for task in tasks {
        samples.merge(task.await.unwrap());
    }
    samples.wall = started.elapsed();
    samples.row(&format!("{auctions} auctions"), crate::API, bidders)
}

/// The figures of a closing wave.
#[derive(Debug, serde::Serialize)]
pub struct Wave {
    pub auctions: usize,
    pub settled_after_last_end_secs: f64,
    pub duplicate_charges: i64,
    pub duplicate_emails: i64,
    pub lateness_p50_ms: f64,
    pub lateness_p99_ms: f64,
    pub unsettled: i64,
}

/// `n` auctions ending within one minute, each won by a bidder with a
/// stored card: how long until every one is invoiced, charged and emailed,
/// and how late the closes were.
pub async fn closing_wave(stack: &Arc<Stack>, n: usize) -> Wave {
    let seller = stack.users(Role::Seller, 1).await.remove(0);
    let winners = stack.users(Role::Bidder, n).await;
    stack.cards(&winners).await;
    // Creating them takes a while; the wave starts after.
    let first_end =
        chrono::Utc::now() + chrono::Duration::seconds(30 + i64::try_from(n / 20).unwrap());
    let ends: Vec<chrono::DateTime<chrono::Utc>> = (0..n)
        .map(|i| first_end + chrono::Duration::milliseconds(i64::try_from(i * 60_000 / n).unwrap()))
        .collect();
    let made = futures::stream::iter(ends.clone())
        .map(|ends_at| {
            let (stack, seller) = (stack.clone(), seller.clone());
            async move { stack.auction_until(&seller, ends_at).await }
        })
        .buffered(16)
        .collect::<Vec<_>>()
        .await;
    futures::stream::iter(made.iter().zip(&winners))
        .for_each_concurrent(16, |(auction, winner)| {
            let stack = stack.clone();
            async move {
                let (_, status, body) = stack.bid(winner, *auction, 100).await;
                assert_eq!(status, 201, "{body}");
            }
        })
        .await;
    assert!(
        chrono::Utc::now() < first_end,
        "the wave started before every auction was made"
    );
    let last_end = *ends.last().unwrap();
    let deadline = Instant::now() + Duration::from_secs(1_800);
    let mut unsettled;
    loop {
        let left = auctions::unsettled_among(&stack.db, &made).await.unwrap();
        unsettled = left;
        if left == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let settled_after = (chrono::Utc::now() - last_end).to_std().unwrap_or_default();
    // Two charges of one invoice would be two Paystack references for it.
    let charged: Vec<Value> = stack
        .paystack
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/transaction/charge_authorization")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let mut per_invoice: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
    for charge in &charged {
        let reference = charge["reference"].as_str().unwrap_or_default().to_owned();
        let invoice = reference.split('.').next().unwrap_or_default().to_owned();
        per_invoice.entry(invoice).or_default().insert(reference);
    }
    let duplicate_charges = per_invoice
        .values()
        .map(|refs| i64::try_from(refs.len()).unwrap() - 1)
        .sum();
    let duplicate_emails = emails::duplicates_among(&stack.db, &made).await.unwrap();
    let rows = auctions::ends_and_closes(&stack.db, &made).await.unwrap();
    let mut lateness: Vec<Duration> = rows
        .iter()
        .map(|(ends, closed)| (*closed - *ends).to_std().unwrap_or_default())
        .collect();
    lateness.sort();
    Wave {
        auctions: n,
        settled_after_last_end_secs: settled_after.as_secs_f64(),
        duplicate_charges,
        duplicate_emails,
        lateness_p50_ms: percentile(&lateness, 0.5),
        lateness_p99_ms: percentile(&lateness, 0.99),
        unsettled,
    }
}

/// `subscribers` live streams on one auction while `bids` bids are placed:
/// the delay from a bid's acceptance to each stream seeing it.
pub async fn sse(stack: &Arc<Stack>, subscribers: usize, bids: usize) -> Row {
    let seller = stack.users(Role::Seller, 1).await.remove(0);
    let bidder: User = stack.users(Role::Bidder, 1).await.remove(0);
    let auction = stack.auction(&seller, chrono::Duration::minutes(30)).await;
    let accepted_at: Arc<std::sync::Mutex<HashMap<i64, Instant>>> = Arc::default();
    let url = format!("{}/auctions/{auction}/events", stack.api_url);
    let ready = Arc::new(AtomicUsize::new(0));
    let streams: Vec<_> = (0..subscribers)
        .map(|_| {
            let (url, ready) = (url.clone(), ready.clone());
            tokio::spawn(async move {
                // One connection per subscriber, as browsers have.
                let http = reqwest::Client::new();
                let response = http.get(&url).send().await.unwrap();
                ready.fetch_add(1, Ordering::AcqRel);
                let mut chunks = response.bytes_stream();
                let mut buffer = String::new();
                let mut seen = Vec::new();
                while seen.len() < bids {
                    let Ok(Some(Ok(chunk))) =
                        tokio::time::timeout(Duration::from_secs(60), chunks.next()).await
                    else {
                        break;
                    };
                    let now = Instant::now();
                    buffer.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = buffer.find("\n\n") {
                        let block: String = buffer.drain(..end + 2).collect();
                        if block.contains("event: bid") {
                            let seq = block
                                .lines()
                                .find_map(|l| l.strip_prefix("data: "))
                                .and_then(|d| serde_json::from_str::<Value>(d).ok())
                                .and_then(|d| d["bid_seq"].as_i64());
                            if let Some(seq) = seq {
                                seen.push((seq, now));
                            }
                        }
                    }
                }
                seen
            })
        })
        .collect();
    while ready.load(Ordering::Acquire) < subscribers {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    for i in 0..bids {
        let amount = 100 + 10 * i64::try_from(i).unwrap();
        // Timed from the moment the bid is sent: its own round trip counts.
        let sent = Instant::now();
        let (_, status, body) = stack.bid(&bidder, auction, amount).await;
        assert_eq!(status, 201, "{body}");
        accepted_at
            .lock()
            .unwrap()
            .insert(body["seq"].as_i64().unwrap(), sent);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut samples = Samples::default();
    let accepted = accepted_at.lock().unwrap().clone();
    for stream in streams {
        for (seq, seen) in stream.await.unwrap() {
            if let Some(at) = accepted.get(&seq) {
                samples.latencies.push(seen.saturating_duration_since(*at));
                samples.accepted += 1;
            }
        }
    }
    let expected = subscribers * bids;
    samples.failed = expected.saturating_sub(samples.accepted);
    samples.wall = started.elapsed();
    samples
        .row(
            "SSE delay, bid sent → event received",
            crate::API,
            subscribers,
        )
        .with_note(format!("{bids} bids, {expected} deliveries"))
}

/// Resident memory with some number of auctions open.
#[derive(Debug, serde::Serialize)]
pub struct Memory {
    pub open_auctions: usize,
    pub api_mib: f64,
    pub worker_mib: f64,
    pub worker_cache: usize,
}

/// Resident memory of the API and the worker with `open` auctions open.
pub async fn memory(stack: &Arc<Stack>, open: usize, have: &mut usize) -> Memory {
    let seller = stack.users(Role::Seller, 1).await.remove(0);
    let bidders = stack.users(Role::Bidder, 8).await;
    let missing = open.saturating_sub(*have);
    futures::stream::iter(0..missing)
        .for_each_concurrent(16, |i| {
            let (stack, seller, bidder) = (stack.clone(), seller.clone(), bidders[i % 8].clone());
            async move {
                let auction = stack.auction(&seller, chrono::Duration::hours(6)).await;
                let _ = stack.bid(&bidder, auction, 100).await;
            }
        })
        .await;
    *have += missing;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (api_mib, worker_mib) = stack.rss_mib();
    Memory {
        open_auctions: open,
        api_mib,
        worker_mib,
        worker_cache: stack.workflow_cache,
    }
}
