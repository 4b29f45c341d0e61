//! Replaying workflow histories against this build's workflow code: the
//! check to run before deploying a new worker. A change that alters the
//! commands a recorded run produced fails Temporal's replay; this also checks
//! that every activity is scheduled with the input it was recorded with, so a
//! changed amount, recipient or invoice fails too (fields added since, with
//! defaults, do not count). Local activities are compared by type, and by
//! input where the workflow keeps it in the marker (the money steps do).

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use anyhow::Context;
use futures::StreamExt;
use gavel_workflows::contract::{
    alerts::AlertCheck,
    digest::DigestPage,
    read_model::Publication,
    sale::{DeadlineReached, OpenSale, PayoutFailed, SaleDeadlines, TransferAttempt},
    settlement::{
        AcceptOffer, BeginPayment, BidderEmail, CloseInvoice, EmailJob, InvoiceRequest,
        PaymentNotice,
    },
};
use serde::Serialize;
use serde_json::Value;
use temporalio_client::{
    Client, WorkflowExecutionInfo, WorkflowHandle, WorkflowHistory, WorkflowListOptions,
};
use temporalio_common::protos::{
    constants::LOCAL_ACTIVITY_MARKER_NAME,
    temporal::api::history::v1::{History, history_event::Attributes},
};
use temporalio_sdk::{
    workflow_interceptors::{
        CancellableWorkflowOutboundFuture, ScheduleActivityInput, ScheduleActivityResult,
        ScheduleLocalActivityInput, WorkflowInterceptor, WorkflowInterceptorConstructor,
        WorkflowInterceptorContext, WorkflowNext,
    },
    workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions},
};
use uuid::Uuid;

/// A history to replay and the name it is reported under.
pub struct Recorded {
    pub name: String,
    pub history: History,
}

/// Every `*.json` history at `path`: the file itself, or every one below the
/// folder (subfolders too), in name order.
pub fn read_histories(path: &Path) -> anyhow::Result<Vec<Recorded>> {
    let mut files = Vec::new();
    collect_json(path, &mut files)?;
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let history: History = serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is not a history in the SDK's JSON form (`gavel history export` writes one)",
                    file.display()
                )
            })?;
            Ok(Recorded {
                name: file.display().to_string(),
                history,
            })
        })
        .collect()
}

fn collect_json(path: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if path.is_dir() {
        let entries =
            std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))?;
        for entry in entries {
            collect_json(&entry?.path(), files)?;
        }
    } else if path.extension().is_some_and(|e| e == "json") {
        files.push(path.to_owned());
    } else if !path.exists() {
        anyhow::bail!("{} does not exist", path.display());
    }
    Ok(())
}

/// The history of `workflow_id` (its latest run, or `run_id`) from Temporal.
pub async fn fetch(
    client: &Client,
    namespace: &str,
    workflow_id: &str,
    run_id: Option<&str>,
) -> anyhow::Result<Recorded> {
    let info = WorkflowExecutionInfo::builder()
        .namespace(namespace.to_owned())
        .workflow_id(workflow_id.to_owned())
        .maybe_run_id(run_id.map(str::to_owned))
        .build();
    // The history does not depend on the type parameter; any workflow type
    // will do to name the fetch.
    let handle: WorkflowHandle<_, gavel_workflows::auction::AuctionWorkflow> =
        WorkflowHandle::new(client.clone(), info);
    let events = handle
        .fetch_history(Default::default())
        .into_events()
        .await
        .with_context(|| format!("cannot fetch the history of {workflow_id}"))?;
    let name = match run_id {
        Some(run) => format!("{workflow_id} (run {run})"),
        None => workflow_id.to_owned(),
    };
    Ok(Recorded {
        name,
        history: History { events },
    })
}

/// Every run a visibility query finds (e.g. `AuctionStatus='open'`).
pub async fn fetch_query(
    client: &Client,
    namespace: &str,
    query: &str,
) -> anyhow::Result<Vec<Recorded>> {
    let mut found = client.list_workflows(query, WorkflowListOptions::default());
    let mut runs = Vec::new();
    while let Some(execution) = found.next().await {
        let execution =
            execution.with_context(|| format!("cannot list workflows for {query:?}"))?;
        runs.push((execution.id().to_owned(), execution.run_id().to_owned()));
    }
    let mut recorded = Vec::with_capacity(runs.len());
    for (id, run) in runs {
        recorded.push(fetch(client, namespace, &id, Some(&run)).await?);
    }
    Ok(recorded)
}

/// The activities a replay scheduled (remote and local apart), with their
/// inputs as JSON.
#[derive(Default)]
struct ScheduledLists {
    remote: Vec<(String, Value)>,
    local: Vec<(String, Value)>,
}

type Scheduled = Arc<Mutex<ScheduledLists>>;

/// Records every activity the workflow schedules while it replays.
struct RecordActivities {
    scheduled: Scheduled,
}

/// An activity's input as the workflow handed it over, remote or local.
trait TypedInput {
    fn typed<T: std::any::Any>(&self) -> Option<&T>;
}

impl TypedInput for ScheduleActivityInput {
    fn typed<T: std::any::Any>(&self) -> Option<&T> {
        self.input_ref::<T>()
    }
}

impl TypedInput for ScheduleLocalActivityInput {
    fn typed<T: std::any::Any>(&self) -> Option<&T> {
        self.input_ref::<T>()
    }
}

fn as_json<T: Serialize + 'static, I: TypedInput>(input: &I) -> Option<Value> {
    input
        .typed::<T>()
        .and_then(|value| serde_json::to_value(value).ok())
}

/// The activity's input as JSON (every input type Gavel's workflows send);
/// `Null` for one this list does not know, which then fails the comparison.
fn input_json<I: TypedInput>(input: &I) -> Value {
    [
        as_json::<Publication, I>,
        as_json::<InvoiceRequest, I>,
        as_json::<EmailJob, I>,
        as_json::<Vec<EmailJob>, I>,
        as_json::<PaymentNotice, I>,
        as_json::<BeginPayment, I>,
        as_json::<CloseInvoice, I>,
        as_json::<AcceptOffer, I>,
        as_json::<BidderEmail, I>,
        as_json::<OpenSale, I>,
        as_json::<AlertCheck, I>,
        as_json::<DeadlineReached, I>,
        as_json::<SaleDeadlines, I>,
        as_json::<TransferAttempt, I>,
        as_json::<PayoutFailed, I>,
        as_json::<DigestPage, I>,
        as_json::<Uuid, I>,
        as_json::<String, I>,
        as_json::<u64, I>,
    ]
    .into_iter()
    .find_map(|convert| convert(input))
    .unwrap_or(Value::Null)
}

impl WorkflowInterceptor for RecordActivities {
    fn schedule_local_activity(
        &self,
        _ctx: WorkflowInterceptorContext,
        input: ScheduleLocalActivityInput,
        next: WorkflowNext<
            'static,
            ScheduleLocalActivityInput,
            CancellableWorkflowOutboundFuture<ScheduleActivityResult>,
        >,
    ) -> CancellableWorkflowOutboundFuture<ScheduleActivityResult> {
        let json = input_json(&input);
        if let Ok(mut scheduled) = self.scheduled.lock() {
            scheduled
                .local
                .push((input.activity_type().to_owned(), json));
        }
        next.run(input)
    }

    fn schedule_activity(
        &self,
        _ctx: WorkflowInterceptorContext,
        input: ScheduleActivityInput,
        next: WorkflowNext<
            'static,
            ScheduleActivityInput,
            CancellableWorkflowOutboundFuture<ScheduleActivityResult>,
        >,
    ) -> CancellableWorkflowOutboundFuture<ScheduleActivityResult> {
        let json = input_json(&input);
        if let Ok(mut scheduled) = self.scheduled.lock() {
            scheduled
                .remote
                .push((input.activity_type().to_owned(), json));
        }
        next.run(input)
    }
}

fn options(scheduled: &Scheduled) -> anyhow::Result<WorkflowReplayerOptions> {
    let scheduled = scheduled.clone();
    Ok(WorkflowReplayerOptions::new()
        .register_workflow::<gavel_workflows::ping::PingWorkflow>()?
        .register_workflow::<gavel_workflows::auction::AuctionWorkflow>()?
        .register_workflow::<gavel_workflows::followup::PaymentFollowUpWorkflow>()?
        .register_workflow::<gavel_workflows::sale::SaleWorkflow>()?
        .register_workflow::<gavel_workflows::digest::SavedSearchDigestWorkflow>()?
        .workflow_interceptor(WorkflowInterceptorConstructor::new(move |_| {
            RecordActivities {
                scheduled: scheduled.clone(),
            }
        }))
        .build())
}

/// The activities the history recorded, with their inputs as JSON.
fn recorded_activities(history: &History) -> Vec<(String, Value)> {
    history
        .events
        .iter()
        .filter_map(|event| match &event.attributes {
            Some(Attributes::ActivityTaskScheduledEventAttributes(scheduled)) => {
                let name = scheduled.activity_type.as_ref()?.name.clone();
                let payload = scheduled.input.as_ref()?.payloads.first()?;
                Some((name, serde_json::from_slice(&payload.data).ok()?))
            }
            _ => None,
        })
        .collect()
}

/// The local activities the history recorded (their markers), with their
/// inputs as JSON where the workflow asked for them to be kept (money
/// steps do; `Null` otherwise, and then only the type is compared).
fn recorded_local_activities(history: &History) -> Vec<(String, Value)> {
    history
        .events
        .iter()
        .filter_map(|event| match &event.attributes {
            Some(Attributes::MarkerRecordedEventAttributes(marker))
                if marker.marker_name == LOCAL_ACTIVITY_MARKER_NAME =>
            {
                let first = |key: &str| {
                    let payload = marker.details.get(key)?.payloads.first()?;
                    serde_json::from_slice::<Value>(&payload.data).ok()
                };
                let name = first("data")?["activity_type"].as_str()?.to_owned();
                Some((name, first("input").unwrap_or(Value::Null)))
            }
            _ => None,
        })
        .collect()
}

/// Compares what was recorded with what the replay scheduled, in order.
fn compare(
    kind: &str,
    recorded: &[(String, Value)],
    replayed: &[(String, Value)],
) -> Result<(), String> {
    for (i, (name, input)) in recorded.iter().enumerate() {
        let Some((now_name, now_input)) = replayed.get(i) else {
            return Err(format!("{kind} {i} ({name}) was not scheduled again"));
        };
        // A local activity's marker without its input is compared by type.
        if now_name != name || (!input.is_null() && !covers(now_input, input)) {
            return Err(format!(
                "{kind} {i} changed: recorded {name} {input}, replayed {now_name} {now_input}"
            ));
        }
    }
    Ok(())
}

/// Whether every field `recorded` has, `replayed` has with the same value
/// (fields added later, with defaults, do not count as a change).
fn covers(replayed: &Value, recorded: &Value) -> bool {
    match (replayed, recorded) {
        (Value::Object(now), Value::Object(then)) => then
            .iter()
            .all(|(key, was)| now.get(key).is_some_and(|is| covers(is, was))),
        (Value::Array(now), Value::Array(then)) => {
            now.len() == then.len() && now.iter().zip(then).all(|(is, was)| covers(is, was))
        }
        (now, then) => now == then,
    }
}

/// Replays `history` with this build's workflows; then checks each recorded
/// activity was scheduled again with the input it was recorded with. The
/// error says what differs.
pub async fn replay(history: History) -> Result<(), String> {
    let scheduled: Scheduled = Arc::default();
    let recorded = recorded_activities(&history);
    let recorded_local = recorded_local_activities(&history);
    let options = options(&scheduled).map_err(|e| format!("{e:#}"))?;
    WorkflowReplayer::new(options)
        .map_err(|e| format!("{e:?}"))?
        .replay_workflow(WorkflowHistory::from(history))
        .await
        .map_err(|e| format!("{e:?}"))?;
    let replayed = scheduled.lock().map_err(|e| e.to_string())?;
    compare("activity", &recorded, &replayed.remote)?;
    compare("local activity", &recorded_local, &replayed.local)
}
