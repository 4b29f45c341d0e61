//! The benchmark suite: starts the whole system (Temporal dev server,
//! PostgreSQL database, `gavel api` and `gavel worker` processes, Paystack and
//! Brevo stand-ins), drives it through the scenarios and prints a table. A
//! benchmark prints figures; it does not pass or fail on them.
//!
//! ```sh
//! cargo bench --bench suite                  # everything, ~20 minutes
//! BENCH_QUICK=1 cargo bench --bench suite    # smaller numbers, ~4 minutes
//! BENCH_ONLY=hot,sse cargo bench --bench suite
//! ```
//!
//! Scenarios (`BENCH_ONLY`): `hot`, `spread`, `sse`, `wave`, `memory`.
//! Writes `target/bench/suite.json` and the latency chart
//! `docs/bench/latency.svg` (`BENCH_CHART` to put it elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod chart;
mod measure;
mod report;
mod scenarios;
mod stack;

use std::{path::Path, sync::Arc, time::Instant};

use measure::Samples;
use report::Report;

const HOT: &str = "one hot auction";
const API: &str = "Gavel API";
const RAW: &str = "Temporal update, no API";
const POSTGRES: &str = "plain PostgreSQL row lock";
/// Turns each system takes at each concurrency.
const ROUNDS: usize = 3;

/// How big each scenario is.
struct Sizes {
    hot_concurrency: &'static [usize],
    hot_bids: fn(usize) -> usize,
    spread: (usize, usize, usize),
    sse: (usize, usize),
    wave: usize,
    memory: &'static [usize],
}

const FULL: Sizes = Sizes {
    hot_concurrency: &[1, 8, 32, 64],
    hot_bids: |c| (c * 45).max(600),
    spread: (100, 64, 4_000),
    sse: (1_000, 20),
    wave: 1_000,
    memory: &[1_000, 10_000],
};

const QUICK: Sizes = Sizes {
    hot_concurrency: &[1, 8, 32],
    hot_bids: |c| (c * 12).max(150),
    spread: (20, 32, 600),
    sse: (100, 10),
    wave: 100,
    memory: &[200, 1_000],
};

#[tokio::main]
async fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let sizes = if quick { QUICK } else { FULL };
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let runs = |scenario: &str| only.is_empty() || only.split(',').any(|s| s.trim() == scenario);
    let started = Instant::now();
    let stack = Arc::new(stack::Stack::start().await);
    let mut report = Report::new(quick);
    eprintln!(
        "Machine: {}\nLogs: {}",
        report.machine,
        stack.logs().display()
    );

    if runs("hot") {
        for &c in sizes.hot_concurrency {
            // The three take turns, in rounds, so a drift in the machine's
            // speed (it is shared) falls on all of them alike.
            let bids = (sizes.hot_bids)(c) / ROUNDS;
            let (mut api, mut raw, mut pg) = <(Samples, Samples, Samples)>::default();
            for _ in 0..ROUNDS {
                api.merge(scenarios::hot_api(&stack, c, bids).await);
                raw.merge(scenarios::raw_update(&stack, c, bids).await);
                pg.merge(scenarios::plain_postgres(&stack, c, bids).await);
            }
            for (samples, system) in [(api, API), (raw, RAW), (pg, POSTGRES)] {
                report.add(samples.row(HOT, system, c));
            }
        }
    }
    if runs("spread") {
        let (auctions, bidders, bids) = sizes.spread;
        report.add(scenarios::spread(&stack, auctions, bidders, bids).await);
    }
    if runs("sse") {
        let (subscribers, bids) = sizes.sse;
        report.add(scenarios::sse(&stack, subscribers, bids).await);
    }
    if runs("wave") {
        report.wave = Some(scenarios::closing_wave(&stack, sizes.wave).await);
    }
    if runs("memory") {
        let mut open = 0;
        for &n in sizes.memory {
            report
                .memory
                .push(scenarios::memory(&stack, n, &mut open).await);
        }
    }
    Arc::into_inner(stack)
        .expect("every scenario is done")
        .finish()
        .await;

    report.print();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let json = root.join("target/bench/suite.json");
    report.write_json(&json);
    println!("\nWrote {}", json.display());
    if runs("hot") {
        let chart = std::env::var("BENCH_CHART")
            .map_or_else(|_| root.join("docs/bench/latency.svg"), Into::into);
        if let Some(dir) = chart.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        chart::latency(&report.rows, &chart).unwrap();
        println!("Wrote {}", chart.display());
    }
    println!("({:.0} s)", started.elapsed().as_secs_f64());
}
