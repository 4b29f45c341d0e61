//! The benchmark suite: starts the whole system at `gavel dev`'s settings
//! (Temporal dev server on disk, PostgreSQL database, `gavel api` and `gavel
//! worker` as processes, Paystack and Brevo stand-ins), drives it through the
//! scenarios beside baselines measured in the same run, and prints a table
//! with each target read against its figures. A benchmark prints figures; it
//! does not pass or fail on them.
//!
//! ```sh
//! cargo bench --bench suite                  # everything, ~35 minutes
//! BENCH_QUICK=1 cargo bench --bench suite    # smaller and shorter, a smoke run
//! BENCH_ONLY=hot,spread cargo bench --bench suite
//! ```
//!
//! Scenarios (`BENCH_ONLY`): `hot` (one hot auction, with its 60 s run),
//! `spread`, `sse`, `wave` (Gavel's closing wave and the trivial timer wave),
//! `memory`. `BENCH_HOT_CLIENTS=1,32,long` (a comma list) runs the hot
//! rounds at those concurrencies only, and its long run only if the list
//! holds `long`: a quicker look while working on the bid path. Each bidding
//! figure is the median (and min–max) of rounds that alternate between the
//! systems, each round a warm-up then a fixed time. Writes
//! `target/bench/suite.json` and the charts `docs/bench/latency.svg` (not
//! from a run with `BENCH_HOT_CLIENTS`, whose rows are partial) and
//! `docs/bench/p99-over-time.svg` (`BENCH_CHART_DIR` to put them elsewhere).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss
)]

mod baselines;
mod chart;
mod costs;
mod measure;
mod report;
mod scenarios;
mod stack;
mod trivial;
mod wave;

use std::{path::Path, sync::Arc, time::Duration, time::Instant};

use measure::{Costs, Round, Row, Samples, Span};
use report::{LongRun, Report};
use uuid::Uuid;

use crate::{costs::Counters, stack::Stack};

pub const HOT: &str = "one hot auction";
pub const API: &str = "Gavel API";
pub const RAW: &str = "Gavel's workflow, unbatched";
const RAW_NOTE: &str = "place_bid updates: Temporal admits 10 updates in flight per workflow, \
                        so this measures an admission limit";
pub const BARE: &str = "bare Temporal update (trivial workflow)";
pub const POSTGRES: &str = "plain PostgreSQL row lock";
pub const AXUM: &str = "PostgreSQL behind axum (API's per-bid work)";
/// Turns each system takes at each concurrency.
const ROUNDS: usize = 3;

/// How big and long each scenario is.
struct Sizes {
    span: Span,
    hot_concurrency: &'static [usize],
    /// The hot auction's long run (32 bidders) and its windows.
    long: Span,
    window: Duration,
    spread: (usize, usize),
    sse: (usize, usize),
    wave: usize,
    memory: &'static [usize],
}

const FULL: Sizes = Sizes {
    span: Span {
        warmup: Duration::from_secs(5),
        measured: Duration::from_secs(20),
    },
    hot_concurrency: &[1, 8, 32, 64],
    long: Span {
        warmup: Duration::from_secs(5),
        measured: Duration::from_secs(60),
    },
    window: Duration::from_secs(5),
    spread: (100, 64),
    sse: (1_000, 20),
    wave: 1_000,
    memory: &[1_000, 10_000],
};

const QUICK: Sizes = Sizes {
    span: Span {
        warmup: Duration::from_secs(2),
        measured: Duration::from_secs(5),
    },
    hot_concurrency: &[1, 8, 32],
    long: Span {
        warmup: Duration::from_secs(2),
        measured: Duration::from_secs(15),
    },
    window: Duration::from_secs(3),
    spread: (20, 32),
    sse: (100, 10),
    wave: 100,
    memory: &[200, 1_000],
};

/// Rounds of one system, with what its workflows cost.
#[derive(Default)]
struct Turns {
    rounds: Vec<Round>,
    sent: usize,
    workflows: Vec<String>,
    batch: (f64, f64),
    emails: usize,
    counted: bool,
}

impl Turns {
    /// Adds a round; `before` the counters as the round began (for systems
    /// whose batches and emails are counted).
    async fn add(&mut self, stack: &Stack, samples: Samples, before: Option<Counters>) {
        self.sent += samples.sent;
        self.rounds.push(samples.round());
        if let Some(before) = before {
            let after = Counters::read(stack).await;
            self.batch.0 += after.batch_sum - before.batch_sum;
            self.batch.1 += after.batch_count - before.batch_count;
            self.emails += after.emails.saturating_sub(before.emails);
            self.counted = true;
        }
    }

    async fn row(self, stack: &Stack, scenario: &str, system: &str, clients: usize) -> Row {
        let mut costs = Costs::default();
        if !self.workflows.is_empty() && self.sent > 0 {
            let ((events, tasks, runs), kinds) =
                costs::histories(&stack.temporal, &self.workflows).await;
            // Where the events go, for whoever works on the path (stderr).
            let per_bid: Vec<String> = kinds
                .iter()
                .map(|(kind, n)| format!("{kind} {:.2}", *n as f64 / self.sent as f64))
                .collect();
            eprintln!(
                "{scenario} / {system} / {clients}: events per bid: {}",
                per_bid.join(", ")
            );
            costs.history_events_per_bid = Some(events as f64 / self.sent as f64);
            costs.workflow_tasks_per_bid = Some(tasks as f64 / self.sent as f64);
            costs.runs = Some(runs);
        }
        if self.counted {
            costs.batch_mean = (self.batch.1 > 0.0).then(|| self.batch.0 / self.batch.1);
            costs.emails = Some(self.emails);
        }
        Row::new(scenario, system, clients, self.rounds).with_costs(costs)
    }
}

fn auction_ids(auctions: &[Uuid]) -> Vec<String> {
    auctions.iter().map(|a| format!("auction-{a}")).collect()
}

/// The hot concurrencies to run, and whether to make the long run.
fn hot_plan(sizes: &Sizes) -> (Vec<usize>, bool) {
    let Ok(list) = std::env::var("BENCH_HOT_CLIENTS") else {
        return (sizes.hot_concurrency.to_vec(), true);
    };
    let items: Vec<&str> = list.split(',').map(str::trim).collect();
    let clients = items.iter().filter_map(|i| i.parse().ok()).collect();
    (clients, items.contains(&"long"))
}

async fn hot(stack: &Arc<Stack>, sizes: &Sizes, report: &mut Report) {
    let (concurrency, long) = hot_plan(sizes);
    for c in concurrency {
        let (mut api, mut raw, mut bare, mut pg, mut axum) =
            <(Turns, Turns, Turns, Turns, Turns)>::default();
        // The systems take turns, in rounds, so a drift in the machine's
        // speed (it is shared) falls on all of them alike.
        for round in 0..ROUNDS {
            eprintln!("hot, {c} bidders, round {}", round + 1);
            let auction = scenarios::auctions(stack, 1).await;
            let before = Counters::read(stack).await;
            let samples = scenarios::bid_api(stack, &auction, c, sizes.span).await;
            api.workflows.extend(auction_ids(&auction));
            api.add(stack, samples, Some(before)).await;

            let auction = scenarios::auctions(stack, 1).await;
            let before = Counters::read(stack).await;
            let samples = scenarios::raw_update(stack, auction[0], c, sizes.span).await;
            raw.workflows.extend(auction_ids(&auction));
            raw.add(stack, samples, Some(before)).await;

            if c == 1 || c == 32 {
                let counter = baselines::counters(stack, 1).await;
                let samples = baselines::bare_updates(stack, &counter, c, sizes.span).await;
                bare.workflows.extend(counter);
                bare.add(stack, samples, None).await;
            }
            pg.add(
                stack,
                baselines::plain_postgres(stack, c, sizes.span).await,
                None,
            )
            .await;
            if c == 32 {
                axum.add(
                    stack,
                    baselines::axum_postgres(stack, c, sizes.span).await,
                    None,
                )
                .await;
            }
        }
        report.add(api.row(stack, HOT, API, c).await);
        report.add(raw.row(stack, HOT, RAW, c).await.with_note(RAW_NOTE));
        if !bare.rounds.is_empty() {
            report.add(bare.row(stack, HOT, BARE, c).await);
        }
        report.add(pg.row(stack, HOT, POSTGRES, c).await);
        if !axum.rounds.is_empty() {
            report.add(axum.row(stack, HOT, AXUM, c).await);
        }
    }

    if !long {
        return;
    }
    // One long run, so stalls (continue-as-new, publishes, email bursts)
    // show in the windows they fall in.
    eprintln!("hot, 32 bidders, long run");
    let auction = scenarios::auctions(stack, 1).await;
    let before = Counters::read(stack).await;
    let samples = scenarios::bid_api(stack, &auction, 32, sizes.long).await;
    let mut turns = Turns {
        workflows: auction_ids(&auction),
        ..Turns::default()
    };
    let windows = samples.windows(sizes.window);
    turns.add(stack, samples, Some(before)).await;
    let row = turns
        .row(stack, "one hot auction, long run", API, 32)
        .await
        .with_note(format!(
            "one run of {} s after {} s warm-up",
            sizes.long.measured.as_secs(),
            sizes.long.warmup.as_secs()
        ));
    report.long = Some(LongRun {
        window_secs: sizes.window.as_secs_f64(),
        windows,
        row,
    });
}

async fn spread(stack: &Arc<Stack>, sizes: &Sizes, report: &mut Report) {
    let (n, clients) = sizes.spread;
    let scenario = format!("{n} auctions");
    let auctions = scenarios::auctions(stack, n).await;
    let (mut api, mut bare) = <(Turns, Turns)>::default();
    api.workflows = auction_ids(&auctions);
    for round in 0..ROUNDS {
        eprintln!("spread, {n} auctions, round {}", round + 1);
        let before = Counters::read(stack).await;
        let samples = scenarios::bid_api(stack, &auctions, clients, sizes.span).await;
        api.add(stack, samples, Some(before)).await;
        // Fresh ones each round: a run takes at most 2,000 updates.
        let counters = baselines::counters(stack, n).await;
        let samples = baselines::bare_updates(stack, &counters, clients, sizes.span).await;
        bare.workflows.extend(counters);
        bare.add(stack, samples, None).await;
    }
    report.add(api.row(stack, &scenario, API, clients).await);
    report.add(
        bare.row(stack, &scenario, BARE, clients)
            .await
            .with_note(format!("{n} trivial workflows, one update handler")),
    );
}

#[tokio::main]
async fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let sizes = if quick { QUICK } else { FULL };
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let runs = |scenario: &str| only.is_empty() || only.split(',').any(|s| s.trim() == scenario);
    let started = Instant::now();
    let stack = Arc::new(stack::Stack::start().await);
    let mut report = Report::new(quick, &sizes.span, ROUNDS, stack.differences.clone());
    eprintln!(
        "Machine: {}\nLogs: {}",
        report.machine,
        stack.logs().display()
    );

    if runs("hot") {
        hot(&stack, &sizes, &mut report).await;
    }
    if runs("spread") {
        spread(&stack, &sizes, &mut report).await;
    }
    if runs("sse") {
        let (subscribers, bids) = sizes.sse;
        let sse = scenarios::sse(&stack, subscribers, bids).await;
        report.sse_bids = Some(sse.bids.round());
        report.add(sse.row);
    }
    if runs("wave") {
        eprintln!("closing wave of {}", sizes.wave);
        report.wave = Some(wave::closing_wave(&stack, sizes.wave).await);
        eprintln!("timer wave of {}", sizes.wave);
        report.timers = Some(baselines::timer_wave(&stack, sizes.wave).await);
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
    let charts =
        std::env::var("BENCH_CHART_DIR").map_or_else(|_| root.join("docs/bench"), Into::into);
    if runs("hot") {
        std::fs::create_dir_all(&charts).unwrap();
        if std::env::var_os("BENCH_HOT_CLIENTS").is_none() {
            let latency = charts.join("latency.svg");
            chart::latency(&report.rows, &latency).unwrap();
            println!("Wrote {}", latency.display());
        }
        if let Some(long) = &report.long {
            let over_time = charts.join("p99-over-time.svg");
            chart::over_time(long, &over_time).unwrap();
            println!("Wrote {}", over_time.display());
        }
    }
    println!("({:.0} s)", started.elapsed().as_secs_f64());
}
