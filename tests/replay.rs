//! Replays every recorded history in `tests/histories/` against today's
//! workflow code with `gavel::replay` (what `gavel replay` runs): a change
//! that alters the commands a recorded run produced, or an activity's input,
//! fails here, before it can break running auctions.
//!
//! Record a history by running the end-to-end tests with
//! `GAVEL_RECORD_HISTORIES=1` (see README → "Replay tests").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use gavel::replay::{read_histories, replay};
use serde_json::Value;
use temporalio_client::WorkflowHistory;
use temporalio_common::protos::temporal::api::history::v1::{History, history_event::Attributes};
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};
use uuid::Uuid;

fn histories() -> Vec<(PathBuf, History)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/histories");
    read_histories(&dir)
        .unwrap()
        .into_iter()
        .map(|r| (PathBuf::from(r.name), r.history))
        .collect()
}

fn history(file: &str) -> History {
    histories()
        .into_iter()
        .find(|(p, _)| p.ends_with(format!("histories/{file}")))
        .unwrap_or_else(|| panic!("tests/histories/{file}"))
        .1
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

    use gavel_workflows::contract::{
        auction::AuctionInput,
        view::{NoSaleReason, Outcome},
    };
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
    replay_fails("auction_sniping_extension.json", options).await;
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
    // The invoice is a local activity: its input is kept in its marker.
    let mut recorded = history("settlement_offer_accepted.json");
    let invoices: Vec<usize> = recorded
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| match &e.attributes {
            Some(Attributes::MarkerRecordedEventAttributes(m)) => {
                m.details.get("data").is_some_and(|data| {
                    serde_json::from_slice::<Value>(&data.payloads[0].data)
                        .is_ok_and(|d| d["activity_type"] == "create_invoice")
                })
            }
            _ => false,
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(invoices.len(), 2, "two rounds");
    let Some(Attributes::MarkerRecordedEventAttributes(second)) =
        &mut recorded.events[invoices[1]].attributes
    else {
        unreachable!()
    };
    let payload = &mut second.details.get_mut("input").unwrap().payloads[0];
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

    // The same for an activity Temporal schedules (an email), and for a
    // history from before local activities (its invoice scheduled).
    let mut before = history("v0.1.0/settlement_offer_accepted.json");
    let invoice = scheduled_mut(&mut before, "create_invoice");
    let payload = &mut invoice.input.as_mut().unwrap().payloads[0];
    let mut request: Value = serde_json::from_slice(&payload.data).unwrap();
    request["amount"] = 1_234.into();
    payload.data = serde_json::to_vec(&request).unwrap();
    let err = replay(before)
        .await
        .expect_err("a changed amount must fail");
    assert!(err.contains("create_invoice"), "{err}");

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
