//! Bid latency and throughput through the HTTP API, beside the raw Temporal
//! update round trip measured in the same run. A benchmark that
//! prints figures, not a test: run it against a running system.
//!
//! ```sh
//! ./scripts/dev                      # in one terminal
//! cargo bench --bench bids           # in another; BENCH_BIDS=800 for more
//! ```
//!
//! Settings: `GAVEL_API_URL` (http://127.0.0.1:3000), `TEMPORAL_ADDRESS`
//! (127.0.0.1:7233), `TEMPORAL_NAMESPACE` (default), `BENCH_BIDS` (400).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use gavel::config::TemporalArgs;
use gavel_workflows::auction::{AuctionWorkflow, PlaceBid};
use serde_json::{Value, json};
use temporalio_client::WorkflowExecuteUpdateOptions;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

struct Bench {
    http: reqwest::Client,
    api: String,
}

impl Bench {
    async fn user(&self, role: &str) -> (String, String) {
        let email = format!("bench-{role}-{}@example.com", uuid::Uuid::new_v4().simple());
        let body: Value = self
            .http
            .post(format!("{}/auth/register", self.api))
            .json(&json!({ "email": email, "password": "benchmark password", "name": "Bench", "role": role }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            body["user"]["id"].as_str().expect("registered").to_owned(),
            body["token"].as_str().unwrap().to_owned(),
        )
    }

    /// One bid through the API: (latency, accepted).
    async fn bid(&self, token: &str, auction: &str, amount: i64) -> (Duration, bool) {
        let started = Instant::now();
        let status = self
            .http
            .post(format!("{}/auctions/{auction}/bids", self.api))
            .bearer_auth(token)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(&json!({ "amount": amount }))
            .send()
            .await
            .unwrap()
            .status();
        assert!(!status.is_server_error(), "a 5xx under load: {status}");
        (started.elapsed(), status.as_u16() == 201)
    }
}

/// Prints one line of figures for `samples`, taken over `wall`.
fn report(name: &str, mut samples: Vec<Duration>, accepted: usize, wall: Duration) {
    samples.sort();
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[index].as_secs_f64() * 1_000.0
    };
    println!(
        "{name:<38} n={:<5} accepted={:<5} p50={:>6.1} ms  p90={:>6.1} ms  p99={:>6.1} ms  max={:>6.1} ms  {:>7.1}/s",
        samples.len(),
        accepted,
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0),
        samples.len() as f64 / wall.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let api = format!("{}/api/v1", env("GAVEL_API_URL", "http://127.0.0.1:3000"));
    let bids: usize = env("BENCH_BIDS", "400").parse().unwrap();
    let bench = Arc::new(Bench {
        http: reqwest::Client::new(),
        api,
    });
    let ready = bench.http.get(format!("{}/ready", bench.api)).send().await;
    assert!(
        ready.is_ok_and(|r| r.status().is_success()),
        "nothing ready at {} — start ./scripts/dev first",
        bench.api
    );

    let (_, seller) = bench.user("seller").await;
    let mut bidders = Vec::new();
    for _ in 0..8 {
        bidders.push(bench.user("bidder").await);
    }
    let ends_at = (chrono::Utc::now() + chrono::Duration::minutes(30)).to_rfc3339();
    let auction: Value = bench
        .http
        .post(format!("{}/auctions", bench.api))
        .bearer_auth(&seller)
        .json(&json!({
            "title": "Benchmark lot", "currency": "NGN", "starting_price": 100,
            "min_increment": 1, "ends_at": ends_at,
            "anti_sniping": { "window_secs": 0, "extension_secs": 1 }
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let auction_id = auction["id"].as_str().expect("auction created").to_owned();
    let next_amount = Arc::new(AtomicI64::new(100));
    println!("auction {auction_id}: {bids} bids per phase, 8 bidders\n");

    // Sequential bids through the API.
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut accepted = 0;
    for i in 0..bids {
        let amount = next_amount.fetch_add(10, Ordering::Relaxed);
        let (latency, ok) = bench.bid(&bidders[i % 8].1, &auction_id, amount).await;
        samples.push(latency);
        accepted += usize::from(ok);
    }
    report("API bid, sequential", samples, accepted, started.elapsed());

    // Eight bidders at once through the API.
    let started = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|b| {
            let bench = bench.clone();
            let token = bidders[b].1.clone();
            let auction_id = auction_id.clone();
            let next_amount = next_amount.clone();
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut accepted = 0;
                for _ in 0..bids / 8 {
                    let amount = next_amount.fetch_add(10, Ordering::Relaxed);
                    let (latency, ok) = bench.bid(&token, &auction_id, amount).await;
                    samples.push(latency);
                    accepted += usize::from(ok);
                }
                (samples, accepted)
            })
        })
        .collect();
    let mut samples = Vec::new();
    let mut accepted = 0;
    for task in tasks {
        let (s, a) = task.await.unwrap();
        samples.extend(s);
        accepted += a;
    }
    report(
        "API bid, 8 concurrent bidders",
        samples,
        accepted,
        started.elapsed(),
    );

    // The same update straight to Temporal: what the API adds is the rest.
    let args = TemporalArgs {
        temporal_address: env("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
        temporal_namespace: env("TEMPORAL_NAMESPACE", "default"),
        task_queue: gavel_workflows::names::DEFAULT_TASK_QUEUE.to_owned(),
    };
    let client = gavel::temporal::connect(&args, Duration::from_secs(5))
        .await
        .unwrap();
    let handle = client.get_workflow_handle::<AuctionWorkflow>(format!("auction-{auction_id}"));
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut accepted = 0;
    for i in 0..bids {
        let bid = PlaceBid {
            bidder_id: bidders[i % 8].0.parse().unwrap(),
            amount: next_amount.fetch_add(10, Ordering::Relaxed),
            max_amount: None,
            currency: None,
            idempotency_key: uuid::Uuid::new_v4().to_string(),
        };
        let options = WorkflowExecuteUpdateOptions::builder()
            .update_id(bid.idempotency_key.clone())
            .build();
        let t = Instant::now();
        let outcome = handle
            .execute_update(AuctionWorkflow::place_bid, bid, options)
            .await;
        samples.push(t.elapsed());
        accepted += usize::from(outcome.is_ok());
    }
    report(
        "Temporal update round trip, sequential",
        samples,
        accepted,
        started.elapsed(),
    );
    println!(
        "\nThe auction continues-as-new every GAVEL_BIDS_PER_RUN bids; those runs are in the Temporal UI."
    );
}
