//! What a scenario cost behind the API: history events and workflow tasks
//! (read from Temporal, every run of a continue-as-new chain), the API's bid
//! batch sizes (its `/metrics`), and emails sent (the Brevo stand-in's log).

use std::collections::BTreeMap;

use temporalio_client::{Client, WorkflowExecutionInfo};
use temporalio_common::protos::temporal::api::{
    enums::v1::EventType, history::v1::history_event::Attributes,
};

use crate::stack::Stack;

/// History events of each kind, summed over workflows.
pub type Kinds = BTreeMap<String, usize>;

/// Events and completed workflow tasks of a workflow id, summed over all its
/// runs, and how many runs there were; each event's kind is counted in
/// `kinds`.
pub async fn history(
    client: &Client,
    workflow_id: &str,
    kinds: &mut Kinds,
) -> (usize, usize, usize) {
    let (mut events, mut tasks, mut runs) = (0, 0, 0);
    // The latest run first; each run's first event names the run it
    // continued (empty on the first).
    let mut run_id = String::new();
    loop {
        let info = WorkflowExecutionInfo::builder()
            .namespace("default")
            .workflow_id(workflow_id)
            .run_id(run_id.clone())
            .build();
        let Ok(history) = info
            .bind_untyped(client.clone())
            .fetch_history(Default::default())
            .into_events()
            .await
        else {
            break;
        };
        runs += 1;
        events += history.len();
        for event in &history {
            let kind = format!("{:?}", event.event_type());
            *kinds.entry(kind).or_default() += 1;
        }
        tasks += history
            .iter()
            .filter(|e| e.event_type() == EventType::WorkflowTaskCompleted)
            .count();
        let previous = history.first().and_then(|e| match &e.attributes {
            Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => {
                Some(a.continued_execution_run_id.clone())
            }
            _ => None,
        });
        match previous {
            Some(previous) if !previous.is_empty() => run_id = previous,
            _ => break,
        }
    }
    (events, tasks, runs)
}

/// Events, workflow tasks and runs over several workflows, and the events
/// by kind.
pub async fn histories(client: &Client, workflow_ids: &[String]) -> ((usize, usize, usize), Kinds) {
    let mut total = (0, 0, 0);
    let mut kinds = Kinds::new();
    for id in workflow_ids {
        let (e, t, r) = history(client, id, &mut kinds).await;
        total = (total.0 + e, total.1 + t, total.2 + r);
    }
    (total, kinds)
}

/// What the counters read at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    pub batch_sum: f64,
    pub batch_count: f64,
    pub emails: usize,
}

impl Counters {
    pub async fn read(stack: &Stack) -> Self {
        let text = stack.metrics().await;
        // Not a `_seconds` metric, so rendered as a summary: its `_sum` and
        // `_count` lines carry what a mean needs.
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Self {
            batch_sum: value("gavel_bid_batch_size_sum"),
            batch_count: value("gavel_bid_batch_size_count"),
            emails: stack.emails_sent().await,
        }
    }
}
