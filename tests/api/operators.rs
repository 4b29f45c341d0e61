//! What an operator does from a terminal with the `temporal` CLI, and that
//! no typo of theirs can wedge an auction.

use gavel_workflows::rules::Standing;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;
use temporalio_common::protos::temporal::api::{
    enums::v1::EventType, history::v1::history_event::Attributes,
};

use crate::helpers::{TestApp, auction_body, eventually, expect_status, record_history, spawn_app};

/// `temporal workflow signal` against the app's server; returns whether the
/// CLI accepted it (the signal reached the workflow).
fn signal(app: &TestApp, workflow_id: &str, name: &str, input: &[&str]) -> bool {
    let cli = gavel::dev_server::find_cli().unwrap();
    let output = Command::new(cli)
        .args(["workflow", "signal", "--address", &app.temporal_address()])
        .args(["--workflow-id", workflow_id, "--name", name])
        .args(input)
        .output()
        .unwrap();
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    }
    output.status.success()
}

#[tokio::test]
async fn malformed_signals_are_refused_and_the_auction_still_bids_and_closes_on_time() {
    let app = spawn_app().await;
    let mut body = auction_body(8);
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let (seller, [ada, bola], auction) = app.scene(&body).await;
    let id = &auction.id.to_string();
    let workflow_id = format!("auction-{id}");
    app.bid_ok(&ada, id, 1_000, None).await;
    // An operator's well-formed bid goes through the same rules.
    let operator_bid = json!({ "bidder_id": bola.id, "amount": 1_500, "idempotency_key": "ops-1" });
    assert!(signal(
        &app,
        &workflow_id,
        "bid",
        &["--input", &operator_bid.to_string()]
    ));
    app.wait_for_auction(id, 10, |a| a.bid_count == 2).await;

    // What the API would refuse as `invalid_text` or a bad key must not get
    // in through Temporal either (a NUL would fail every read-model write).
    let nul_cancel = json!({ "requested_by": seller.id, "as_admin": true, "reason": "fraud\u{0}" });
    let nul_cancel = nul_cancel.to_string();
    let bidi_key =
        json!({ "bidder_id": bola.id, "amount": 9_000, "idempotency_key": "ops\u{202e}2" });
    let bidi_key = bidi_key.to_string();
    let typos: [(&str, Vec<&str>); 10] = [
        ("cancel", vec!["--input", &nul_cancel]),
        ("bid", vec!["--input", &bidi_key]),
        // The typo from the field: the idempotency key left out.
        (
            "bid",
            vec![
                "--input",
                r#"{"bidder_id":"00000000-0000-0000-0000-000000000001","amount":5}"#,
            ],
        ),
        (
            "bid",
            vec![
                "--input",
                r#"{"bidder_id":42,"amount":"lots","idempotency_key":"x"}"#,
            ],
        ),
        (
            "bid",
            vec![
                "--input-base64",
                "--input-meta",
                "encoding=binary/plain",
                "--input",
                "//8AAQ==",
            ],
        ),
        ("bid", vec![]),
        ("cancel", vec!["--input", "{}"]),
        ("cancel", vec!["--input", r#""cancel it now""#]),
        (
            "payment_received",
            vec![
                "--input",
                r#"{"invoice_id":"not-a-uuid","source":{"via":"cash"}}"#,
            ],
        ),
        ("payment_received", vec![]),
    ];
    for (name, input) in &typos {
        assert!(
            signal(&app, &workflow_id, name, input),
            "the CLI sends {name} {input:?}"
        );
    }

    // The auction still takes bids through the API…
    let verdict = app.bid_ok(&ada, id, 2_000, Some(3_000)).await;
    assert_eq!(verdict.status, Standing::Leading);
    // …and says what it refused.
    let refusals = eventually(20, || async {
        let refusals = app
            .auction_handle(id)
            .query(
                gavel_workflows::auction::AuctionWorkflow::refusals,
                (),
                Default::default(),
            )
            .await
            .map_err(|e| e.to_string())?;
        if refusals.count == 10 {
            Ok(refusals)
        } else {
            Err(format!("{} refused so far", refusals.count))
        }
    })
    .await;
    assert!(
        refusals
            .recent
            .iter()
            .any(|r| r.reason.contains("invalid_text")),
        "{refusals:?}"
    );
    assert!(
        refusals
            .recent
            .iter()
            .any(|r| r.reason.contains("invalid_idempotency_key")),
        "{refusals:?}"
    );
    let first = &refusals.recent[2];
    assert_eq!(first.message, "bid");
    assert!(
        first.reason.contains("missing field `idempotency_key`"),
        "{first:?}"
    );
    assert!(
        refusals
            .recent
            .iter()
            .any(|r| r.reason.contains("not JSON")),
        "{refusals:?}"
    );
    assert!(
        refusals
            .recent
            .iter()
            .any(|r| r.reason.contains("no input")),
        "{refusals:?}"
    );
    // The CLI shows the same answer an operator would read.
    let cli = gavel::dev_server::find_cli().unwrap();
    let output = Command::new(cli)
        .args(["workflow", "query", "--address", &app.temporal_address()])
        .args(["--workflow-id", &workflow_id, "--type", "refusals"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(shown.contains("idempotency_key"), "{shown}");

    // A valid cancel still works on another auction of the same seller, and
    // this one closes on time with its winner.
    let closed = app.wait_for_status(id, "awaiting_payment", 30).await;
    assert_eq!(
        closed.outcome.as_ref().unwrap().winner.as_deref(),
        Some(ada.handle.as_str())
    );
    assert_eq!(closed.bid_count, 3);
    let events = app
        .auction_handle(id)
        .fetch_history(Default::default())
        .into_events()
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .all(|e| e.event_type() != EventType::WorkflowTaskFailed),
        "no workflow task failed"
    );
    let signals = events
        .iter()
        .filter(|e| {
            matches!(
                e.attributes,
                Some(Attributes::WorkflowExecutionSignaledEventAttributes(_))
            )
        })
        .count();
    assert_eq!(
        signals, 11,
        "the operator's bid and every typo are in the history"
    );
    record_history(&app.auction_handle(id), "auction_refused_signals").await;

    let other = app.create_auction(&seller, &auction_body(600)).await;
    let other_id = &other.id.to_string();
    let request =
        json!({ "requested_by": seller.id, "as_admin": false, "reason": "changed my mind" });
    assert!(signal(
        &app,
        &format!("auction-{other_id}"),
        "cancel",
        &["--input", &request.to_string()]
    ));
    let cancelled = app.wait_for_status(other_id, "cancelled", 20).await;
    assert_eq!(
        cancelled.outcome.as_ref().unwrap().reason.as_deref(),
        Some("changed my mind")
    );
    let bid = app.bid(&ada, other_id, 1_000, None, Some("too-late")).await;
    expect_status(bid, StatusCode::CONFLICT).await;
}

/// The README's "Try it" block, exactly as a reader copies it.
fn try_it_block() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("<!-- try-it -->")
        .expect("README marks its Try it block");
    let end = readme
        .find("<!-- /try-it -->")
        .expect("README marks its end");
    let block = &readme[start..end];
    let code = block
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.rsplit_once("```"))
        .map(|(code, _)| code)
        .expect("one sh block");
    code.to_owned()
}

#[tokio::test]
async fn the_readme_try_it_block_sells_a_lot_twice_in_a_row() {
    use secrecy::ExposeSecret;
    let app = spawn_app().await;
    let block = try_it_block();
    for run in 1..=2 {
        let output = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(&block)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("GAVEL_API_URL", &app.address)
            .env("DATABASE_URL", app.db_url.expose_secret())
            .env("ENDS_IN", "4")
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "run {run} failed:\n{stdout}\n{stderr}"
        );
        assert!(
            stdout.contains("settled; the emails it wrote"),
            "run {run}:\n{stdout}"
        );
        assert!(
            stdout.contains("event: settled"),
            "the live stream saw it: {stdout}"
        );
        for kind in ["won", "sold", "receipt", "sale_completed"] {
            assert!(
                stdout.contains(kind),
                "run {run} lists the {kind} email:\n{stdout}"
            );
        }
        assert!(
            !stdout.contains("null"),
            "nothing null carried forward:\n{stdout}"
        );
    }
    assert_eq!(
        app.count("SELECT count(*) FROM auctions WHERE status = 'settled'")
            .await,
        2
    );
    assert_eq!(
        app.count("SELECT count(*) FROM users").await,
        3,
        "signed in the second time"
    );
}

/// `gavel replay …` run as an operator runs it; (exit success, stdout).
fn gavel_replay(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .arg("replay")
        .args(args)
        .output()
        .expect("run gavel replay");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[tokio::test]
async fn gavel_replay_passes_this_build_and_stops_a_deploy_that_would_break_history() {
    // Every recorded history replays with this build: exit 0.
    let histories = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/histories");
    let (ok, out) = gavel_replay(&[histories]);
    assert!(ok, "{out}");
    assert!(out.contains(", 0 would break"), "{out}");

    // A history this build would not produce (its second invoice asked for
    // another amount): the gate fails and says which one.
    let recorded = std::fs::read(format!("{histories}/settlement_offer_accepted.json")).unwrap();
    let mut history: serde_json::Value = serde_json::from_slice(&recorded).unwrap();
    let invoices: Vec<&mut serde_json::Value> = history["events"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .filter(|e| {
            // The invoice is a local activity: its marker keeps its input.
            let marker = &e["attributes"]["MarkerRecordedEventAttributes"]["details"];
            marker["data"]["payloads"][0]["data"]
                .as_str()
                .and_then(|data| {
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data).ok()
                })
                .and_then(|data| serde_json::from_slice::<serde_json::Value>(&data).ok())
                .is_some_and(|data| data["activity_type"] == "create_invoice")
        })
        .collect();
    let second = invoices.into_iter().nth(1).expect("two rounds");
    let payload = &mut second["attributes"]["MarkerRecordedEventAttributes"]["details"]["input"]["payloads"]
        [0];
    let data = payload["data"].as_str().unwrap().to_owned();
    let mut request: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data).unwrap(),
    )
    .unwrap();
    request["amount"] = json!(1_999);
    payload["data"] = json!(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        serde_json::to_vec(&request).unwrap()
    ));
    let dir = std::env::temp_dir().join(format!("gavel-replay-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let changed = dir.join("changed.json");
    std::fs::write(&changed, serde_json::to_vec(&history).unwrap()).unwrap();
    let (ok, out) = gavel_replay(&[changed.to_str().unwrap()]);
    assert!(!ok, "a history that would break must fail the gate: {out}");
    assert!(
        out.contains("BREAKS") && out.contains("create_invoice"),
        "{out}"
    );

    // Live workflows, fetched from Temporal by id and by a visibility query.
    let app = spawn_app().await;
    let (_seller, [ada], auction) = app.scene(&auction_body(60)).await;
    let id = auction.id.to_string();
    app.bid_ok(&ada, &id, 1_000, None).await;
    let workflow_id = format!("auction-{id}");
    let address = app.temporal_address();
    let (ok, out) = gavel_replay(&[
        "--temporal-address",
        &address,
        "--workflow-id",
        &workflow_id,
    ]);
    assert!(
        ok && out.contains(&format!("ok      {workflow_id}")),
        "{out}"
    );
    let query = format!("WorkflowId = '{workflow_id}'");
    let (ok, out) = eventually(20, || async {
        let (ok, out) = gavel_replay(&["--temporal-address", &address, "--query", &query]);
        if out.contains("1 replayed") {
            Ok((ok, out))
        } else {
            Err(out)
        }
    })
    .await;
    assert!(ok, "{out}");

    let (ok, out) = gavel_replay(&[]);
    assert!(!ok && out.contains("nothing to replay"), "{out}");
}
