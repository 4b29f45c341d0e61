//! What a run found: the table, the long run's windows, the waves, memory,
//! the settings that differ from `gavel dev`'s, and each target read against
//! its figures; printed as Markdown and written as JSON.

use std::path::Path;

use serde::Serialize;

use crate::{
    API, AXUM, BARE, HOT, POSTGRES,
    baselines::TimerWave,
    measure::{Round, Row, Span, Window},
    scenarios::Memory,
    stack::Difference,
    wave::Wave,
};

/// The hot auction's long run, window by window.
#[derive(Debug, Serialize)]
pub struct LongRun {
    pub window_secs: f64,
    pub windows: Vec<Window>,
    pub row: Row,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: String,
    pub quick: bool,
    pub warmup_secs: f64,
    pub round_secs: f64,
    pub rounds: usize,
    pub differences: Vec<Difference>,
    pub rows: Vec<Row>,
    pub long: Option<LongRun>,
    /// The bids' own latencies while the SSE subscribers watched.
    pub sse_bids: Option<Round>,
    pub wave: Option<Wave>,
    pub timers: Option<TimerWave>,
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
    if met { "met" } else { "not met" }
}

impl Report {
    pub fn new(quick: bool, span: &Span, rounds: usize, differences: Vec<Difference>) -> Self {
        Self {
            machine: machine(),
            quick,
            warmup_secs: span.warmup.as_secs_f64(),
            round_secs: span.measured.as_secs_f64(),
            rounds,
            differences,
            rows: Vec::new(),
            long: None,
            sse_bids: None,
            wave: None,
            timers: None,
            memory: Vec::new(),
        }
    }

    pub fn add(&mut self, row: Row) {
        eprintln!(
            "  {} / {} / {}: {} decided/s, {:.0} accepted/s, p50 {} ms, p99 {} ms",
            row.scenario,
            row.system,
            row.concurrency,
            row.decided_per_sec.show(0),
            row.accepted_per_sec.median,
            row.p50_ms.show(1),
            row.p99_ms.show(1)
        );
        self.rows.push(row);
    }

    fn find(&self, scenario: &str, system: &str, concurrency: usize) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.scenario == scenario && r.system == system && r.concurrency == concurrency)
    }

    fn spread_row(&self, system: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.scenario.ends_with(" auctions") && r.system == system)
    }

    pub fn print(&self) {
        println!("\nMachine: {}\n", self.machine);
        println!(
            "Each bidding row: {} rounds per system, taken in turns; each round {:.0} s \
             warm-up (not counted) then {:.0} s counted. Figures are the median of the rounds \
             with (min–max). decided = accepted + refused by the auction's rules.\n",
            self.rounds, self.warmup_secs, self.round_secs
        );
        println!("Differences from the shipped defaults (`gavel dev`):");
        for d in &self.differences {
            println!("- {} = {}: {}", d.setting, d.value, d.why);
        }
        if !self.rows.is_empty() {
            println!("\n## Bidding\n");
            Row::print_header();
            for row in &self.rows {
                row.print();
            }
            println!(
                "\nevents/bid and wf tasks/bid: history events and completed workflow tasks \
                 (every run of each continue-as-new chain) over bids sent, warm-up included. \
                 batch: mean bids per `place_bids` update (`gavel_bid_batch_size`). emails: \
                 sent to the Brevo stand-in during the rounds."
            );
        }
        if let Some(long) = &self.long {
            println!(
                "\n## One hot auction, 32 bidders, {:.0} s (per {:.0} s window)\n",
                self.long_secs(),
                long.window_secs
            );
            println!("| from s | decided/s | p50 ms | p99 ms | max ms |");
            println!("|---:|---:|---:|---:|---:|");
            for w in &long.windows {
                println!(
                    "| {:.0} | {:.0} | {:.1} | {:.1} | {:.1} |",
                    w.from_secs, w.decided_per_sec, w.p50_ms, w.p99_ms, w.max_ms
                );
            }
            println!();
            Row::print_header();
            long.row.print();
        }
        if let Some(wave) = &self.wave {
            println!("\n## Closing wave\n");
            println!(
                "{} auctions ending within one minute, each won by a bidder with a stored card.\n\
                 - shown closed on the public page (polled every 100 ms from 300 ms before the \
                 end): {:.0} ms late at p50, {:.0} ms at p99, {:.0} ms at most; {} never shown \
                 closed\n\
                 - closed by the rules (`closed` event): {:.0} ms late at p50, {:.0} ms at p99\n\
                 - invoiced with a way to pay (charged, or given a pay link) after the end: \
                 {:.1} s at p50, {:.1} s at p99, {:.1} s at most; {} not invoiced\n\
                 - all settled {:.1} s after the last end; {} unsettled, {} duplicate charges, \
                 {} duplicate emails; {} emails sent",
                wave.auctions,
                wave.page_late_p50_ms,
                wave.page_late_p99_ms,
                wave.page_late_max_ms,
                wave.page_never_closed,
                wave.lateness_p50_ms,
                wave.lateness_p99_ms,
                wave.invoiced_p50_secs,
                wave.invoiced_p99_secs,
                wave.invoiced_max_secs,
                wave.not_invoiced,
                wave.settled_after_last_end_secs,
                wave.unsettled,
                wave.duplicate_charges,
                wave.duplicate_emails,
                wave.emails,
            );
        }
        if let Some(t) = &self.timers {
            println!(
                "\nBaseline: {} trivial workflows whose timers fire at one moment: each run \
                 ended (woken by its timer) {:.0} ms late at p50, {:.0} ms at p99, {:.0} ms at \
                 most; the server fired the timers {:.0} ms late at p50, {:.0} ms at p99; {} \
                 unfinished.",
                t.workflows,
                t.late_p50_ms,
                t.late_p99_ms,
                t.late_max_ms,
                t.fired_p50_ms,
                t.fired_p99_ms,
                t.unfinished
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

    fn long_secs(&self) -> f64 {
        self.long
            .as_ref()
            .map_or(0.0, |l| l.windows.len() as f64 * l.window_secs)
    }

    /// Each target the run has figures for, with whether it was met.
    pub fn targets(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let (Some(api), Some(pg), Some(axum)) = (
            self.find(HOT, API, 32),
            self.find(HOT, POSTGRES, 32),
            self.find(HOT, AXUM, 32),
        ) {
            let (d, p, a) = (
                api.decided_per_sec.median,
                pg.decided_per_sec.median,
                axum.decided_per_sec.median,
            );
            lines.push(format!(
                "hot lot, 32 bidders: {d:.0} decided/s through the API; plain PostgreSQL row \
                 lock {p:.0} (≥ 1.0×: {:.2}×, {}); PostgreSQL behind axum {a:.0} (≥ 2×: {:.2}×, {})",
                d / p.max(1e-9),
                verdict(d >= p),
                d / a.max(1e-9),
                verdict(d >= 2.0 * a),
            ));
        }
        if let Some(long) = &self.long {
            let p99 = long.row.p99_ms.median;
            let worst = long.windows.iter().map(|w| w.p99_ms).fold(0.0, f64::max);
            lines.push(format!(
                "hot lot, 32 bidders, p99 over the whole {:.0} s run: {p99:.1} ms (< 100 ms): {} \
                 (worst {:.0} s window: {worst:.1} ms)",
                self.long_secs(),
                verdict(p99 < 100.0),
                long.window_secs,
            ));
        }
        if let (Some(api), Some(bare)) = (self.spread_row(API), self.spread_row(BARE)) {
            let (d, b) = (api.decided_per_sec.median, bare.decided_per_sec.median);
            let (p, q) = (api.p99_ms.median, bare.p99_ms.median);
            lines.push(format!(
                "{}, {} bidders: {d:.0} decided/s vs bare updates {b:.0} (≥ 0.8×: {:.2}×, {}); \
                 p99 {p:.1} ms vs {q:.1} ms (≤ 1.25×: {:.2}×, {})",
                api.scenario,
                api.concurrency,
                d / b.max(1e-9),
                verdict(d >= 0.8 * b),
                p / q.max(1e-9),
                verdict(p <= 1.25 * q),
            ));
        }
        if let Some(wave) = &self.wave {
            let duplicates = wave.duplicate_charges + wave.duplicate_emails;
            lines.push(format!(
                "closing wave of {}: close lateness p99 on the page {:.0} ms (< 1 s): {}; every \
                 winner invoiced with a way to pay within 10 s of the end (at most {:.1} s, {} \
                 not invoiced): {}; all settled once ({} unsettled, {duplicates} duplicates): {}",
                wave.auctions,
                wave.page_late_p99_ms,
                verdict(wave.page_late_p99_ms < 1_000.0 && wave.page_never_closed == 0),
                wave.invoiced_max_secs,
                wave.not_invoiced,
                verdict(wave.not_invoiced == 0 && wave.invoiced_max_secs <= 10.0),
                wave.unsettled,
                verdict(wave.unsettled == 0 && duplicates == 0),
            ));
        }
        if let (Some(api), Some(bare)) = (self.find(HOT, API, 1), self.find(HOT, BARE, 1)) {
            let ratio = api.p50_ms.median / bare.p50_ms.median.max(1e-9);
            lines.push(format!(
                "single bid (1 bidder): API p50 {:.1} ms, bare update p50 {:.1} ms: {ratio:.2}× \
                 (≤ 1.15×): {}",
                api.p50_ms.median,
                bare.p50_ms.median,
                verdict(ratio <= 1.15),
            ));
        }
        if let Some(sse) = self.rows.iter().find(|r| r.scenario.starts_with("SSE")) {
            let mut line = format!(
                "{} SSE subscribers: delivery p99 {:.1} ms, {} missed (< 100 ms, none missed): {}",
                sse.concurrency,
                sse.p99_ms.median,
                sse.failed,
                verdict(sse.p99_ms.median < 100.0 && sse.failed == 0),
            );
            if let (Some(bids), Some(alone)) = (&self.sse_bids, self.find(HOT, API, 1)) {
                let ratio = bids.p50_ms / alone.p50_ms.median.max(1e-9);
                line.push_str(&format!(
                    "; bids meanwhile p50 {:.1} ms vs {:.1} ms with no subscribers \
                     (not slowed: ≤ 1.15×, {ratio:.2}×): {}",
                    bids.p50_ms,
                    alone.p50_ms.median,
                    verdict(ratio <= 1.15),
                ));
            }
            lines.push(line);
        }
        if let (Some(first), Some(last)) = (self.memory.first(), self.memory.last())
            && last.open_auctions > first.open_auctions
        {
            let per = 10_000.0 / (last.open_auctions - first.open_auctions) as f64;
            lines.push(format!(
                "RSS with {} open auctions: API {:.0} MiB, worker {:.0} MiB; per 10,000 more \
                 open auctions: API {:+.0} MiB, worker {:+.0} MiB (reported, no target)",
                last.open_auctions,
                last.api_mib,
                last.worker_mib,
                (last.api_mib - first.api_mib) * per,
                (last.worker_mib - first.worker_mib) * per,
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
