//! Replays every recorded history in `tests/histories/` against today's
//! workflow code: a change that alters the commands a recorded run produced
//! fails here, before it can break running auctions. Temporal's replay checks
//! each command's kind and activity type; this harness also checks that every
//! activity is scheduled with the input it was recorded with, so a changed
//! amount, recipient or invoice fails too.
//!
//! Record a history by running the end-to-end tests with
//! `GAVEL_RECORD_HISTORIES=1` (see README → "Replay tests").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use gavel_workflows::{
    auction::publish::Publication,
    settlement::{
        AcceptOffer, BeginPayment, BidderEmail, CloseInvoice, EmailJob, InvoiceRequest,
        PaymentNotice,
    },
};
use serde::Serialize;
use serde_json::Value;
use temporalio_client::WorkflowHistory;
use temporalio_common::protos::temporal::api::history::v1::{History, history_event::Attributes};
use temporalio_sdk::{
    workflow_interceptors::{
        CancellableWorkflowOutboundFuture, ScheduleActivityInput, ScheduleActivityResult,
        WorkflowInterceptor, WorkflowInterceptorConstructor, WorkflowInterceptorContext,
        WorkflowNext,
    },
    workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions},
};
use uuid::Uuid;

/// Every `*.json` under `dir`, in subfolders too (`legacy/` holds runs
/// recorded by earlier code: they guard the patches).
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(json_files(&path));
        } else if path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    files
}

fn histories() -> Vec<(PathBuf, History)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/histories");
    let mut files = json_files(&dir);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            let history: History = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, history)
        })
        .collect()
}

fn history(file: &str) -> History {
    histories()
        .into_iter()
        .find(|(p, _)| p.ends_with(file))
        .unwrap_or_else(|| panic!("tests/histories/{file}"))
        .1
}

/// The activities a replay scheduled, with their inputs as JSON.
type Scheduled = Arc<Mutex<Vec<(String, Value)>>>;

/// Records every activity the workflow schedules while it replays.
struct RecordActivities {
    scheduled: Scheduled,
}

fn as_json<T: Serialize + 'static>(input: &ScheduleActivityInput) -> Option<Value> {
    input
        .input_ref::<T>()
        .and_then(|value| serde_json::to_value(value).ok())
}

/// The activity's input as JSON (every input type Gavel's workflows send).
fn input_json(input: &ScheduleActivityInput) -> Value {
    [
        as_json::<Publication>,
        as_json::<InvoiceRequest>,
        as_json::<EmailJob>,
        as_json::<Vec<EmailJob>>,
        as_json::<PaymentNotice>,
        as_json::<BeginPayment>,
        as_json::<CloseInvoice>,
        as_json::<AcceptOffer>,
        as_json::<BidderEmail>,
        as_json::<Uuid>,
        as_json::<String>,
    ]
    .into_iter()
    .find_map(|convert| convert(input))
    .unwrap_or_else(|| panic!("no JSON for {}'s input", input.activity_type()))
}

impl WorkflowInterceptor for RecordActivities {
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
        self.scheduled
            .lock()
            .unwrap()
            .push((input.activity_type().to_owned(), json));
        next.run(input)
    }
}

fn options(scheduled: &Scheduled) -> WorkflowReplayerOptions {
    let scheduled = scheduled.clone();
    WorkflowReplayerOptions::new()
        .register_workflow::<gavel_workflows::ping::PingWorkflow>()
        .unwrap()
        .register_workflow::<gavel_workflows::auction::AuctionWorkflow>()
        .unwrap()
        .register_workflow::<gavel_workflows::followup::PaymentFollowUpWorkflow>()
        .unwrap()
        .workflow_interceptor(WorkflowInterceptorConstructor::new(move |_| {
            RecordActivities {
                scheduled: scheduled.clone(),
            }
        }))
        .build()
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

/// Replays `history` with today's code; then checks each recorded activity
/// was scheduled again with the input it was recorded with.
async fn replay(history: History) -> Result<(), String> {
    let scheduled: Scheduled = Arc::default();
    let recorded = recorded_activities(&history);
    WorkflowReplayer::new(options(&scheduled))
        .unwrap()
        .replay_workflow(WorkflowHistory::from(history))
        .await
        .map_err(|e| format!("{e:?}"))?;
    let replayed = scheduled.lock().unwrap().clone();
    for (i, (name, input)) in recorded.iter().enumerate() {
        let Some((now_name, now_input)) = replayed.get(i) else {
            return Err(format!("activity {i} ({name}) was not scheduled again"));
        };
        if now_name != name || !covers(now_input, input) {
            return Err(format!(
                "activity {i} changed: recorded {name} {input}, replayed {now_name} {now_input}"
            ));
        }
    }
    Ok(())
}

#[tokio::test]
async fn every_recorded_history_replays_with_the_same_commands_and_inputs() {
    let histories = histories();
    assert!(histories.len() > 20, "tests/histories/ holds recorded runs");
    for (path, history) in histories {
        replay(history)
            .await
            .unwrap_or_else(|e| panic!("{} no longer replays: {e}", path.display()));
    }
}

/// The same workflow types with a different first command: stand-ins for a
/// careless edit to `PingWorkflow` or `AuctionWorkflow`.
mod altered {
    use std::time::Duration;

    use gavel_workflows::auction::{AuctionInput, NoSaleReason, Outcome};
    use temporalio_macros::{workflow, workflow_methods};
    use temporalio_sdk::{WorkflowContext, WorkflowResult};

    #[workflow]
    #[derive(Default)]
    pub struct AlteredPing;

    #[workflow_methods]
    impl AlteredPing {
        #[run(name = "ping")]
        pub async fn run(
            ctx: &mut WorkflowContext<Self>,
            message: String,
        ) -> WorkflowResult<String> {
            ctx.timer(Duration::from_secs(1)).await;
            Ok(message)
        }
    }

    /// Sleeps where the real auction first updates its search attributes.
    #[workflow]
    #[derive(Default)]
    pub struct AlteredAuction;

    #[workflow_methods]
    impl AlteredAuction {
        #[run(name = "auction")]
        pub async fn run(
            ctx: &mut WorkflowContext<Self>,
            _input: AuctionInput,
        ) -> WorkflowResult<Outcome> {
            ctx.timer(Duration::from_secs(1)).await;
            Ok(Outcome::NoSale {
                reason: NoSaleReason::NoBids,
            })
        }
    }
}

fn is_nondeterminism(err: &str) -> bool {
    err.to_lowercase().contains("nondetermin")
}

async fn replay_fails(file: &str, options: WorkflowReplayerOptions) {
    let err = WorkflowReplayer::new(options)
        .unwrap()
        .replay_workflow(WorkflowHistory::from(history(file)))
        .await
        .expect_err("replaying a different command sequence must fail");
    assert!(is_nondeterminism(&format!("{err:?}")), "{file}: {err:?}");
}

#[tokio::test]
async fn a_changed_command_sequence_fails_replay() {
    let options = WorkflowReplayerOptions::new()
        .register_workflow::<altered::AlteredPing>()
        .unwrap()
        .build();
    replay_fails("ping.json", options).await;
}

#[tokio::test]
async fn a_changed_auction_workflow_fails_replay() {
    let options = WorkflowReplayerOptions::new()
        .register_workflow::<altered::AlteredAuction>()
        .unwrap()
        .build();
    replay_fails("legacy/auction_sniping_extension.json", options).await;
}

/// The `n`th scheduled activity named `name` in `history`.
fn scheduled_mut<'a>(
    history: &'a mut History,
    name: &str,
) -> &'a mut temporalio_common::protos::temporal::api::history::v1::ActivityTaskScheduledEventAttributes
{
    history
        .events
        .iter_mut()
        .find_map(|event| match &mut event.attributes {
            Some(Attributes::ActivityTaskScheduledEventAttributes(scheduled))
                if scheduled
                    .activity_type
                    .as_ref()
                    .is_some_and(|t| t.name == name) =>
            {
                Some(scheduled)
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {name} in the history"))
}

#[tokio::test]
async fn a_different_settlement_step_in_the_middle_fails_replay() {
    // The deadline of round 1 voided the invoice with `close_invoice`; had
    // the code called the first settlement's `void_invoice` there instead…
    let mut history = history("settlement_offer_accepted.json");
    let close = scheduled_mut(&mut history, "close_invoice");
    close.activity_type.as_mut().unwrap().name = "void_invoice".into();
    let err = replay(history)
        .await
        .expect_err("a changed step must not replay");
    assert!(is_nondeterminism(&err), "{err}");
}

#[tokio::test]
async fn a_changed_amount_or_recipient_fails_the_input_check() {
    // The runner-up's invoice recorded at 2,000: today's code must ask for
    // exactly that again.
    let mut recorded = history("settlement_offer_accepted.json");
    let invoices: Vec<usize> = recorded
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| match &e.attributes {
            Some(Attributes::ActivityTaskScheduledEventAttributes(s)) => s
                .activity_type
                .as_ref()
                .is_some_and(|t| t.name == "create_invoice"),
            _ => false,
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(invoices.len(), 2, "two rounds");
    let Some(Attributes::ActivityTaskScheduledEventAttributes(second)) =
        &mut recorded.events[invoices[1]].attributes
    else {
        unreachable!()
    };
    let payload = &mut second.input.as_mut().unwrap().payloads[0];
    let mut request: Value = serde_json::from_slice(&payload.data).unwrap();
    assert_eq!(request["amount"], 2_000);
    request["amount"] = 1_999.into();
    payload.data = serde_json::to_vec(&request).unwrap();
    let err = replay(recorded)
        .await
        .expect_err("a changed amount must fail");
    assert!(
        err.contains("create_invoice") && err.contains("2000"),
        "{err}"
    );

    let mut other = history("settlement_pay_link.json");
    let email = scheduled_mut(&mut other, "send_email");
    let payload = &mut email.input.as_mut().unwrap().payloads[0];
    let mut job: Value = serde_json::from_slice(&payload.data).unwrap();
    job["recipient_id"] = Uuid::new_v4().to_string().into();
    payload.data = serde_json::to_vec(&job).unwrap();
    let err = replay(other)
        .await
        .expect_err("a changed recipient must fail");
    assert!(err.contains("send_email"), "{err}");
}
