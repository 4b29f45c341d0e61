//! The baselines' own workflows and their worker: a counter with one update
//! handler (what a bare Temporal update costs, with no business in it) and a
//! sleeper (what a timer's wake-up costs). The worker runs in this process,
//! on a thread of its own, on a task queue of its own, against the same dev
//! server as Gavel, polled as Gavel's worker polls.

use std::time::{Duration, UNIX_EPOCH};

use gavel::config::{TemporalArgs, WorkerTuning};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ContinueAsNewOptions, SyncWorkflowContext, WorkerOptions, WorkflowContext, WorkflowResult,
    runtime::PollerBehavior,
};

/// The baselines' task queue (Gavel's worker never polls it).
pub const QUEUE: &str = "bench-trivial";

type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Updates a counter's run takes before it continues as new: Temporal allows
/// 2,000 per run, and a one-client round sends more than that. Gavel's
/// auction continues as new too, so the baseline pays what Gavel pays.
pub const UPDATES_PER_RUN: u64 = 1_000;

/// Counts the updates it takes; sleeps until told how long it lives,
/// continuing as new every [`UPDATES_PER_RUN`] updates.
#[workflow]
#[derive(Default)]
pub struct Counter {
    count: u64,
}

#[workflow_methods]
impl Counter {
    #[run(name = "bench_counter")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, live_secs: u64) -> WorkflowResult<u64> {
        let timer = ctx.timer(Duration::from_secs(live_secs));
        let full = ctx.wait_condition(|s| s.count >= UPDATES_PER_RUN);
        futures::pin_mut!(timer, full);
        if let futures::future::Either::Right(_) = futures::future::select(timer, full).await {
            let wait_ctx = ctx.clone();
            ctx.wait_condition(move |_| wait_ctx.all_handlers_finished())
                .await?;
            match ctx.continue_as_new(live_secs, ContinueAsNewOptions::default())? {}
        }
        Ok(ctx.state(|s| s.count))
    }

    /// Adds `by`; answers the new count.
    #[update(name = "bump")]
    pub fn bump(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        by: u64,
    ) -> Result<u64, HandlerError> {
        self.count += by;
        Ok(self.count)
    }
}

/// Sleeps until a moment (Unix milliseconds) and ends.
#[workflow]
#[derive(Default)]
pub struct Sleeper;

#[workflow_methods]
impl Sleeper {
    #[run(name = "bench_sleeper")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, wake_at_ms: u64) -> WorkflowResult<()> {
        // Workflow time, not the clock: replay must see the same timer.
        let now_ms = ctx
            .workflow_time()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let wait = wake_at_ms.saturating_sub(now_ms).max(1);
        ctx.timer(Duration::from_millis(wait)).await;
        Ok(())
    }
}

/// The baselines' worker, stopped when dropped.
pub struct TrivialWorker {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TrivialWorker {
    pub fn start(temporal_address: String) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            // Threads as `gavel worker`'s runtime has them (one per core).
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let args = TemporalArgs {
                    temporal_address,
                    temporal_namespace: "default".into(),
                    task_queue: QUEUE.into(),
                };
                let client = gavel::temporal::connect(&args, Duration::from_secs(10))
                    .await
                    .unwrap();
                let (runtime, _) = gavel::temporal::worker_runtime(None).unwrap();
                // Polled as Gavel's worker is (its shipped defaults).
                let tuning = WorkerTuning::default();
                let options = WorkerOptions::new(QUEUE)
                    .max_cached_workflows(tuning.workflow_cache)
                    .workflow_task_poller_behavior(PollerBehavior::SimpleMaximum(
                        usize::try_from(tuning.workflow_pollers).unwrap(),
                    ))
                    .nonsticky_to_sticky_poll_ratio(0.5)
                    .register_workflow::<Counter>()
                    .unwrap()
                    .register_workflow::<Sleeper>()
                    .unwrap()
                    .build();
                let worker = temporalio_sdk::Worker::new(&runtime, client, options).unwrap();
                gavel::app::run_worker_until(worker, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for TrivialWorker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
