//! Replays every recorded history in `tests/histories/` against today's
//! workflow code: a change that alters the commands a recorded run produced
//! fails here, before it can break running auctions.
//!
//! Record a history by running the end-to-end tests with
//! `GAVEL_RECORD_HISTORIES=1` (see README → "Replay tests").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use temporalio_client::WorkflowHistory;
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};

/// Every `*.json` under `dir`, in subfolders too (`legacy/` holds runs
/// recorded by earlier code: they guard the patches).
fn json_files(dir: &std::path::Path) -> Vec<PathBuf> {
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

fn histories() -> Vec<(PathBuf, WorkflowHistory)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/histories");
    let mut files = json_files(&dir);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            let history = WorkflowHistory::from_json(&bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, history)
        })
        .collect()
}

fn replayer() -> WorkflowReplayer {
    let options = WorkflowReplayerOptions::new()
        .register_workflow::<gavel_workflows::ping::PingWorkflow>()
        .unwrap()
        .register_workflow::<gavel_workflows::auction::AuctionWorkflow>()
        .unwrap()
        .register_workflow::<gavel_workflows::followup::PaymentFollowUpWorkflow>()
        .unwrap()
        .build();
    WorkflowReplayer::new(options).unwrap()
}

#[tokio::test]
async fn every_recorded_history_replays_deterministically() {
    let histories = histories();
    assert!(
        !histories.is_empty(),
        "tests/histories/ holds recorded runs"
    );
    let replayer = replayer();
    for (path, history) in histories {
        replayer
            .replay_workflow(history)
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

async fn replay_fails(file: &str, options: WorkflowReplayerOptions) {
    let (path, history) = histories()
        .into_iter()
        .find(|(p, _)| p.ends_with(file))
        .unwrap_or_else(|| panic!("tests/histories/{file}"));
    let err = WorkflowReplayer::new(options)
        .unwrap()
        .replay_workflow(history)
        .await
        .expect_err("replaying a different command sequence must fail");
    assert!(
        format!("{err:?}").to_lowercase().contains("nondetermin"),
        "{}: {err:?}",
        path.display()
    );
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
