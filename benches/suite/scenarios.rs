//! Gavel's bidding scenarios: bidders through the API (and straight to the
//! workflow), each run time-bounded, and what the workflows did meanwhile.

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
use gavel_workflows::{auction::AuctionWorkflow, contract::auction::PlaceBid};
use serde_json::Value;
use temporalio_client::WorkflowExecuteUpdateOptions;
use uuid::Uuid;

use crate::{
    measure::{Outcome, Row, Samples, Span, drive},
    stack::{Stack, User},
};

/// What an API answer to a bid counts as: refusals by the auction's rules
/// are decided; anything else that is not an acceptance failed.
pub fn outcome(status: u16, body: &Value) -> Outcome {
    match (status, body["error"]["code"].as_str()) {
        (201, _) => Outcome::Accepted,
        (409, Some("bid_too_low" | "max_not_raised")) => Outcome::Refused,
        _ => Outcome::Failed,
    }
}

/// `clients` bidders on `auctions` through the API for `span`, each bid to
/// the next auction in turn (a shared counter: every one is visited) and a
/// little above the last one sent there (so most are valid and the rest lose
/// a race, as in a lot's last minute).
pub async fn bid_api(stack: &Arc<Stack>, auctions: &[Uuid], clients: usize, span: Span) -> Samples {
    let bidders = Arc::new(stack.users(Role::Bidder, clients).await);
    let lots: Arc<Vec<(Uuid, AtomicI64)>> =
        Arc::new(auctions.iter().map(|a| (*a, AtomicI64::new(100))).collect());
    let turn = Arc::new(AtomicUsize::new(0));
    let stack = stack.clone();
    drive(clients, span, move |client| {
        let (stack, bidders, lots, turn) =
            (stack.clone(), bidders.clone(), lots.clone(), turn.clone());
        async move {
            let (auction, next) = &lots[turn.fetch_add(1, Ordering::Relaxed) % lots.len()];
            let amount = next.fetch_add(10, Ordering::AcqRel);
            let (_, status, body) = stack.bid(&bidders[client], *auction, amount).await;
            outcome(status, &body)
        }
    })
    .await
}

/// `n` open auctions by one seller, ending in two hours (after the run:
/// their closes would load the scenarios that follow).
pub async fn auctions(stack: &Arc<Stack>, n: usize) -> Vec<Uuid> {
    let seller = stack.users(Role::Seller, 1).await.remove(0);
    futures::stream::iter(0..n)
        .map(|_| {
            let (stack, seller) = (stack.clone(), seller.clone());
            async move { stack.auction(&seller, chrono::Duration::hours(2)).await }
        })
        .buffered(8)
        .collect()
        .await
}

/// The same bidding straight to the workflow: `place_bid` updates, one bid
/// each, through the Temporal client, no API.
pub async fn raw_update(stack: &Arc<Stack>, auction: Uuid, clients: usize, span: Span) -> Samples {
    let bidders = Arc::new(stack.users(Role::Bidder, clients).await);
    let next = Arc::new(AtomicI64::new(100));
    let handle = Arc::new(
        stack
            .temporal
            .get_workflow_handle::<AuctionWorkflow>(format!("auction-{auction}")),
    );
    drive(clients, span, move |client| {
        let (bidders, next, handle) = (bidders.clone(), next.clone(), handle.clone());
        async move {
            let bid = PlaceBid {
                bidder_id: bidders[client].id,
                amount: next.fetch_add(10, Ordering::AcqRel),
                max_amount: None,
                currency: None,
                idempotency_key: Uuid::new_v4().to_string(),
            };
            let options = WorkflowExecuteUpdateOptions::builder()
                .update_id(bid.idempotency_key.clone())
                .build();
            match handle
                .execute_update(AuctionWorkflow::place_bid, bid, options)
                .await
            {
                Ok(_) => Outcome::Accepted,
                Err(temporalio_client::errors::WorkflowUpdateError::Failed(_)) => Outcome::Refused,
                Err(_) => Outcome::Failed,
            }
        }
    })
    .await
}

/// Bids on one auction while `subscribers` live streams watch it.
pub struct Sse {
    pub row: Row,
    /// The bids' own latencies meanwhile.
    pub bids: Samples,
}

/// `subscribers` live streams on one auction while `bids` bids are placed,
/// one every 100 ms: the delay from a bid's sending to each stream seeing it.
pub async fn sse(stack: &Arc<Stack>, subscribers: usize, bids: usize) -> Sse {
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
    let mut bid_samples = Samples::default();
    for i in 0..bids {
        let amount = 100 + 10 * i64::try_from(i).unwrap();
        // Timed from the moment the bid is sent: its own round trip counts.
        let sent = Instant::now();
        let (latency, status, body) = stack.bid(&bidder, auction, amount).await;
        bid_samples.record(latency, started.elapsed(), outcome(status, &body));
        if let Some(seq) = body["seq"].as_i64() {
            accepted_at.lock().unwrap().insert(seq, sent);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bid_samples.wall = started.elapsed();
    let mut samples = Samples::default();
    let accepted = accepted_at.lock().unwrap().clone();
    for stream in streams {
        for (seq, seen) in stream.await.unwrap() {
            if let Some(at) = accepted.get(&seq) {
                let delay = seen.saturating_duration_since(*at);
                samples.record(delay, delay, Outcome::Accepted);
            }
        }
    }
    let expected = subscribers * bids;
    samples.failed = expected.saturating_sub(samples.accepted);
    samples.wall = started.elapsed();
    let row = Row::new(
        "SSE delay, bid sent → event received",
        crate::API,
        subscribers,
        vec![samples.round()],
    )
    .with_note(format!(
        "{bids} bids, {expected} deliveries; its rates are deliveries/s"
    ));
    Sse {
        row,
        bids: bid_samples,
    }
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
