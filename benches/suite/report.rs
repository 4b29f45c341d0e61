//! What a run found: the table, the closing wave, memory, and each target
//! read against its figures; printed as Markdown and written as JSON.

use std::path::Path;

use serde::Serialize;

use crate::{
    API, HOT, POSTGRES, RAW,
    measure::Row,
    scenarios::{Memory, Wave},
};

#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: String,
    pub quick: bool,
    pub rows: Vec<Row>,
    pub wave: Option<Wave>,
    pub memory: Vec<Memory>,
}

/// This machine, as the report states it.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    format!("{cores} cores ({cpu}), {memory_gib:.0} GiB; everything on this one machine")
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

impl Report {
    pub fn new(quick: bool) -> Self {
        Self {
            machine: machine(),
            quick,
            rows: Vec::new(),
            wave: None,
            memory: Vec::new(),
        }
    }

    pub fn add(&mut self, row: Row) {
        eprintln!(
            "  {} / {} / {}: {:.0} accepted/s, {:.0} decided/s, p50 {:.1} ms, p99 {:.1} ms",
            row.scenario,
            row.system,
            row.concurrency,
            row.accepted_per_sec,
            row.decided_per_sec,
            row.p50_ms,
            row.p99_ms
        );
        self.rows.push(row);
    }

    fn hot(&self, system: &str, concurrency: usize) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.scenario == HOT && r.system == system && r.concurrency == concurrency)
    }

    pub fn print(&self) {
        println!("\nMachine: {}\n", self.machine);
        if !self.rows.is_empty() {
            println!("## Bidding\n");
            Row::print_header();
            for row in &self.rows {
                row.print();
            }
        }
        if let Some(wave) = &self.wave {
            println!("\n## Closing wave\n");
            println!(
                "{} auctions ending within one minute, each won by a bidder with a stored \
                 card: closes {:.0} ms late at p50, {:.0} ms at p99; every one invoiced, \
                 charged and emailed {:.1} s after the last end; {} unsettled, {} duplicate \
                 charges, {} duplicate emails.",
                wave.auctions,
                wave.lateness_p50_ms,
                wave.lateness_p99_ms,
                wave.settled_after_last_end_secs,
                wave.unsettled,
                wave.duplicate_charges,
                wave.duplicate_emails,
            );
        }
        if !self.memory.is_empty() {
            println!("\n## Memory (resident, after the auctions are made and bid on)\n");
            println!("| open auctions | API MiB | worker MiB | worker cache |");
            println!("|---:|---:|---:|---:|");
            for m in &self.memory {
                println!(
                    "| {} | {:.0} | {:.0} | {} workflows |",
                    m.open_auctions, m.api_mib, m.worker_mib, m.worker_cache
                );
            }
        }
        println!("\n## Targets\n");
        for line in self.targets() {
            println!("- {line}");
        }
    }

    /// Each target the run has figures for, with whether it was met.
    fn targets(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let (Some(api), Some(pg)) = (self.hot(API, 32), self.hot(POSTGRES, 32)) {
            lines.push(format!(
                "32 bidders on one auction: {:.0} accepted/s through the API, plain \
                 PostgreSQL {:.0} (at least as many): {}; p99 {:.1} ms (under 100 ms): {}",
                api.accepted_per_sec,
                pg.accepted_per_sec,
                verdict(api.accepted_per_sec >= pg.accepted_per_sec),
                api.p99_ms,
                verdict(api.p99_ms < 100.0),
            ));
        }
        if let (Some(api), Some(raw)) = (self.hot(API, 1), self.hot(RAW, 1)) {
            let ratio = api.p50_ms / raw.p50_ms.max(1e-9);
            lines.push(format!(
                "one bid at a time: API p50 {:.1} ms, bare update {:.1} ms: {ratio:.2}× \
                 (within 1.25×): {}",
                api.p50_ms,
                raw.p50_ms,
                verdict(ratio <= 1.25),
            ));
        }
        if let Some(wave) = &self.wave {
            let duplicates = wave.duplicate_charges + wave.duplicate_emails;
            lines.push(format!(
                "closing wave: {} of {} unsettled, {duplicates} duplicates, lateness p99 {:.0} \
                 ms (all settled once, under 2,000 ms): {}",
                wave.unsettled,
                wave.auctions,
                wave.lateness_p99_ms,
                verdict(duplicates == 0 && wave.unsettled == 0 && wave.lateness_p99_ms < 2_000.0),
            ));
        }
        if let Some(sse) = self.rows.iter().find(|r| r.scenario.starts_with("SSE")) {
            lines.push(format!(
                "live events to {} subscribers: p99 {:.1} ms, {} missed (under 250 ms, none \
                 missed): {}",
                sse.concurrency,
                sse.p99_ms,
                sse.failed,
                verdict(sse.p99_ms < 250.0 && sse.failed == 0),
            ));
        }
        lines
    }

    pub fn write_json(&self, path: &Path) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        let mut value = serde_json::to_value(self).unwrap();
        value["targets"] = serde_json::json!(self.targets());
        std::fs::write(path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
    }
}
