//! Figures: latency percentiles and rates of a run, one row each in the
//! printed table and the JSON report.

use std::time::Duration;

use serde::Serialize;

/// Latencies of one run and what they came to.
#[derive(Debug, Default)]
pub struct Samples {
    pub latencies: Vec<Duration>,
    pub accepted: usize,
    pub refused: usize,
    pub failed: usize,
    /// Time the run took (summed over merged runs).
    pub wall: Duration,
}

impl Samples {
    pub fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.accepted += other.accepted;
        self.refused += other.refused;
        self.failed += other.failed;
        self.wall += other.wall;
    }

    pub fn row(mut self, scenario: &str, system: &str, concurrency: usize) -> Row {
        self.latencies.sort();
        let secs = self.wall.as_secs_f64().max(1e-9);
        Row {
            scenario: scenario.to_owned(),
            system: system.to_owned(),
            concurrency,
            n: self.latencies.len(),
            accepted_per_sec: self.accepted as f64 / secs,
            decided_per_sec: (self.accepted + self.refused) as f64 / secs,
            p50_ms: percentile(&self.latencies, 0.50),
            p99_ms: percentile(&self.latencies, 0.99),
            failed: self.failed,
            note: String::new(),
        }
    }
}

/// The `q` quantile of sorted `samples`, in milliseconds.
pub fn percentile(samples: &[Duration], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[index.min(samples.len() - 1)].as_secs_f64() * 1_000.0
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub system: String,
    pub concurrency: usize,
    pub n: usize,
    pub accepted_per_sec: f64,
    pub decided_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub failed: usize,
    pub note: String,
}

impl Row {
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }

    pub fn print_header() {
        println!(
            "| scenario | system | concurrency | n | accepted/s | decided/s | p50 ms | p99 ms | notes |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---:|---|");
    }

    #[allow(clippy::print_stdout)]
    pub fn print(&self) {
        let failed = if self.failed > 0 {
            format!("{} failed; ", self.failed)
        } else {
            String::new()
        };
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.0} | {:.1} | {:.1} | {failed}{} |",
            self.scenario,
            self.system,
            self.concurrency,
            self.n,
            self.accepted_per_sec,
            self.decided_per_sec,
            self.p50_ms,
            self.p99_ms,
            self.note
        );
    }
}
