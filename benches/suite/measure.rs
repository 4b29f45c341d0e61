//! Figures: time-bounded runs of closed-loop clients, their latencies and
//! rates, rounds summed up as median and spread, and p99 per time window.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde::Serialize;

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    /// Refused by the auction's rules (outbid, too low): still decided.
    Refused,
    Failed,
}

/// How long a run lasts: a warm-up whose requests are not counted, then the
/// measured part.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub warmup: Duration,
    pub measured: Duration,
}

/// Latencies of one run and what they came to.
#[derive(Debug, Default)]
pub struct Samples {
    pub latencies: Vec<Duration>,
    /// When each request finished, from the start of the measured part
    /// (parallel to `latencies`; empty where nobody needs windows).
    pub finished: Vec<Duration>,
    pub accepted: usize,
    pub refused: usize,
    pub failed: usize,
    /// Requests sent in all, warm-up and stragglers included (what a
    /// workflow's history saw).
    pub sent: usize,
    /// Length of the measured part.
    pub wall: Duration,
}

impl Samples {
    pub fn record(&mut self, latency: Duration, finished: Duration, outcome: Outcome) {
        self.latencies.push(latency);
        self.finished.push(finished);
        match outcome {
            Outcome::Accepted => self.accepted += 1,
            Outcome::Refused => self.refused += 1,
            Outcome::Failed => self.failed += 1,
        }
    }

    pub fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.finished.extend(other.finished);
        self.accepted += other.accepted;
        self.refused += other.refused;
        self.failed += other.failed;
        self.sent += other.sent;
        self.wall = self.wall.max(other.wall);
    }

    /// What this one run came to.
    pub fn round(&self) -> Round {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let secs = self.wall.as_secs_f64().max(1e-9);
        Round {
            decided_per_sec: (self.accepted + self.refused) as f64 / secs,
            accepted_per_sec: self.accepted as f64 / secs,
            p50_ms: percentile(&sorted, 0.50),
            p99_ms: percentile(&sorted, 0.99),
            n: sorted.len(),
            failed: self.failed,
        }
    }

    /// p50 and p99 of the requests that finished in each `window`.
    pub fn windows(&self, window: Duration) -> Vec<Window> {
        let count = (self.wall.as_secs_f64() / window.as_secs_f64()).ceil() as usize;
        let mut buckets: Vec<Vec<Duration>> = vec![Vec::new(); count.max(1)];
        for (latency, at) in self.latencies.iter().zip(&self.finished) {
            let i = (at.as_secs_f64() / window.as_secs_f64()) as usize;
            buckets[i.min(count.max(1) - 1)].push(*latency);
        }
        buckets
            .into_iter()
            .enumerate()
            .map(|(i, mut b)| {
                b.sort();
                Window {
                    from_secs: i as f64 * window.as_secs_f64(),
                    n: b.len(),
                    decided_per_sec: b.len() as f64 / window.as_secs_f64(),
                    p50_ms: percentile(&b, 0.5),
                    p99_ms: percentile(&b, 0.99),
                    max_ms: b.last().map_or(0.0, |d| d.as_secs_f64() * 1_000.0),
                }
            })
            .collect()
    }
}

/// One time window of a long run.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub from_secs: f64,
    pub n: usize,
    pub decided_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One round's figures.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Round {
    pub decided_per_sec: f64,
    pub accepted_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub n: usize,
    pub failed: usize,
}

/// `clients` closed-loop clients, each calling `request(client)` again as
/// soon as its last one is answered, for `span`. Only requests that finish
/// within the measured part count; the rest (warm-up, and requests still in
/// flight at the end) are only counted as sent.
pub async fn drive<F, Fut>(clients: usize, span: Span, request: F) -> Samples
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let request = Arc::new(request);
    let sent = Arc::new(AtomicUsize::new(0));
    let start = Instant::now() + span.warmup;
    let end = start + span.measured;
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (request, sent) = (request.clone(), sent.clone());
            tokio::spawn(async move {
                let mut samples = Samples::default();
                while Instant::now() < end {
                    sent.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    let outcome = request(client).await;
                    let done = Instant::now();
                    if t >= start && done <= end {
                        samples.record(done - t, done - start, outcome);
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
    samples.sent = sent.load(Ordering::Relaxed);
    samples.wall = span.measured;
    samples
}

/// The `q` quantile of sorted `samples`, in milliseconds.
pub fn percentile(samples: &[Duration], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[index.min(samples.len() - 1)].as_secs_f64() * 1_000.0
}

/// Median, least and most of some figure over rounds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = values.into_iter().collect();
        if v.is_empty() {
            return Self::default();
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Self {
            median,
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    /// `median (min–max)`, with `digits` decimals.
    pub fn show(&self, digits: usize) -> String {
        format!(
            "{:.d$} ({:.d$}–{:.d$})",
            self.median,
            self.min,
            self.max,
            d = digits
        )
    }
}

/// What the workflows behind a row did, per bid.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Costs {
    pub history_events_per_bid: Option<f64>,
    pub workflow_tasks_per_bid: Option<f64>,
    /// Runs of the workflows (continue-as-new chains counted in full).
    pub runs: Option<usize>,
    /// Mean bids per `place_bids` update (from `gavel_bid_batch_size`).
    pub batch_mean: Option<f64>,
    pub emails: Option<usize>,
}

/// One line of the report: a system at a concurrency, over its rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub system: String,
    pub concurrency: usize,
    pub rounds: Vec<Round>,
    pub decided_per_sec: Spread,
    pub accepted_per_sec: Spread,
    pub p50_ms: Spread,
    pub p99_ms: Spread,
    pub n: usize,
    pub failed: usize,
    pub costs: Costs,
    pub note: String,
}

impl Row {
    pub fn new(scenario: &str, system: &str, concurrency: usize, rounds: Vec<Round>) -> Self {
        Self {
            scenario: scenario.to_owned(),
            system: system.to_owned(),
            concurrency,
            decided_per_sec: Spread::of(rounds.iter().map(|r| r.decided_per_sec)),
            accepted_per_sec: Spread::of(rounds.iter().map(|r| r.accepted_per_sec)),
            p50_ms: Spread::of(rounds.iter().map(|r| r.p50_ms)),
            p99_ms: Spread::of(rounds.iter().map(|r| r.p99_ms)),
            n: rounds.iter().map(|r| r.n).sum(),
            failed: rounds.iter().map(|r| r.failed).sum(),
            rounds,
            costs: Costs::default(),
            note: String::new(),
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }

    pub fn with_costs(mut self, costs: Costs) -> Self {
        self.costs = costs;
        self
    }

    pub fn print_header() {
        println!(
            "| scenario | system | clients | rounds | decided/s | accepted/s | p50 ms | p99 ms | \
             events/bid | wf tasks/bid | batch | emails | notes |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    }

    pub fn print(&self) {
        let failed = if self.failed > 0 {
            format!("{} failed; ", self.failed)
        } else {
            String::new()
        };
        let opt = |v: Option<f64>, d: usize| v.map_or("–".to_owned(), |v| format!("{v:.d$}"));
        println!(
            "| {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {failed}{} |",
            self.scenario,
            self.system,
            self.concurrency,
            self.rounds.len(),
            self.decided_per_sec.show(0),
            self.accepted_per_sec.median,
            self.p50_ms.show(1),
            self.p99_ms.show(1),
            opt(self.costs.history_events_per_bid, 1),
            opt(self.costs.workflow_tasks_per_bid, 2),
            opt(self.costs.batch_mean, 1),
            self.costs.emails.map_or("–".to_owned(), |e| e.to_string()),
            self.note
        );
    }
}
