//! Settlement under faults, judged by the end state in PostgreSQL, in the
//! workflow and in what the Paystack and Brevo stand-ins received: a worker
//! killed mid-charge, `gavel dev` killed mid-settlement, Temporal restarted
//! while bidding, and providers that fail for a while.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use gavel::dev_server;
use gavel_api::{
    auctions::view::{AuctionResponse, BidResponse},
    routes::auth::AuthResponse,
};
use gavel_workflows::rules::Standing;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{method, path, path_regex},
};

use crate::{
    helpers::{
        TestApp, WorkerProcess, auction_body, eventually, expect_error, expect_json, expect_status,
        fresh_database, http_args, settlement_args, settlement_env, spawn_api_only, spawn_app_on,
    },
    stand_ins::*,
};

/// Brevo accepts every email (echoing its idempotency key as the id).
use gavel_testkit::mail::brevo;

fn wired(paystack: &MockServer, brevo: &MockServer) -> gavel::config::SettlementArgs {
    gavel_testkit::paystack::wired(settlement_args(), paystack, brevo)
}

/// Emails of `kind` written for the auction (one row per person and occasion).
async fn count_emails(app: &TestApp, id: &str, kind: &str) -> i64 {
    app.count(&format!(
        "SELECT count(*) FROM emails WHERE auction_id = '{id}' AND kind = '{kind}'"
    ))
    .await
}

#[tokio::test]
async fn a_worker_killed_between_charge_and_verification_is_replaced_and_charges_once() {
    let temporal = crate::helpers::shared_temporal();
    let (paystack, brevo) = (MockServer::start().await, brevo().await);
    let settlement = wired(&paystack, &brevo);
    let app = spawn_api_only(temporal, settlement.clone()).await;
    let (seller, ada, bola) = (
        app.user("seller").await,
        app.user("bidder").await,
        app.user("bidder").await,
    );
    sqlx::query(
        "INSERT INTO payment_authorizations (user_id, signature, authorization_code, email,
             consented_at)
         VALUES ($1::uuid, 'SIG_card', 'AUTH_stored', 'bola-card@example.com', now())",
    )
    .bind(&bola.id)
    .execute(&app.db)
    .await
    .unwrap();
    // The first charge goes through at Paystack, but slowly: the worker
    // dies before it hears back. Paystack then knows the reference.
    Mock::given(method("POST"))
        .and(path("/transaction/charge_authorization"))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(3))
                .set_body_json(json!({ "status": true, "message": "Charge attempted",
                    "data": { "id": 4_099_490_251_u64, "status": "success", "reference": body["reference"],
                              "amount": body["amount"], "currency": body["currency"] } }))
        })
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&paystack)
        .await;
    Mock::given(method("POST"))
        .and(path("/transaction/charge_authorization"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "status": false, "message": "Duplicate Transaction Reference",
            "type": "validation_error", "code": "duplicate_reference" })))
        .with_priority(2)
        .mount(&paystack)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("^/transaction/verify/.*"))
        .respond_with(|request: &Request| {
            let reference = request.url.path().rsplit('/').next().unwrap().to_owned();
            ResponseTemplate::new(200).set_body_json(verified(&reference, 1_500))
        })
        .mount(&paystack)
        .await;

    let first = WorkerProcess::spawn(&app, &settlement);
    let mut body = auction_body(3);
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let id = app.create_auction(&seller, &body).await.id.to_string();
    app.bid_ok(&ada, &id, 1_000, None).await;
    app.bid_ok(&bola, &id, 1_500, None).await;
    eventually(40, || async {
        let charges = paystack
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == "/transaction/charge_authorization")
            .count();
        if charges >= 1 {
            Ok(())
        } else {
            Err("the card was never charged".to_owned())
        }
    })
    .await;
    first.kill();
    let _second = WorkerProcess::spawn(&app, &settlement);
    app.wait_for_status(&id, "settled", 60).await;

    let charges: Vec<Value> = paystack
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/transaction/charge_authorization")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert!(
        charges
            .iter()
            .all(|c| c["reference"] == charges[0]["reference"]),
        "one reference, so one Paystack transaction: {charges:?}"
    );
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM invoices WHERE status = 'paid'")
            .await,
        1
    );
    assert_eq!(count_emails(&app, &id, "receipt").await, 1);
    assert_eq!(count_emails(&app, &id, "sale_completed").await, 1);
}

/// `gavel dev` on its own ports and dev dir, wired to the stand-ins.
fn gavel_dev(
    dir: &std::path::Path,
    db_url: &SecretString,
    ports: (u16, u16, u16),
    settlement: &gavel::config::SettlementArgs,
) -> std::process::Child {
    let log = std::fs::File::create(dir.join("gavel.log")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_gavel"))
        .arg("dev")
        .env("DATABASE_URL", db_url.expose_secret())
        .env("GAVEL_HTTP_ADDR", format!("127.0.0.1:{}", ports.0))
        .env("TEMPORAL_ADDRESS", format!("127.0.0.1:{}", ports.1))
        .env("GAVEL_TEMPORAL_UI_PORT", ports.2.to_string())
        .env("GAVEL_DEV_DIR", dir)
        .env("GAVEL_JWT_SECRET", crate::helpers::JWT_SECRET)
        .envs(settlement_env(settlement))
        // Its accounts bid at once (no verification link to follow).
        .env("GAVEL_REQUIRE_VERIFIED_EMAIL", "false")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

async fn ready(api: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("{api}/api/v1/ready")).await
            && r.status() == StatusCode::OK
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("gavel dev did not become ready at {api}");
}

async fn register(http: &reqwest::Client, api: &str, role: &str) -> (String, String) {
    let email = format!("{role}-{}@example.com", uuid::Uuid::new_v4().simple());
    let body: AuthResponse = http
        .post(format!("{api}/api/v1/auth/register"))
        .json(&json!({ "email": email, "password": crate::helpers::PASSWORD, "name": "Dev User", "role": role }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (body.user.id.to_string(), body.token)
}

#[tokio::test]
async fn gavel_dev_killed_mid_settlement_finishes_it_after_a_restart() {
    let (paystack, brevo) = (MockServer::start().await, MockServer::start().await);
    // Email is slow, so the kill lands while the settlement is sending.
    Mock::given(method("POST"))
        .and(path("/v3/smtp/email"))
        .respond_with(|request: &Request| {
            gavel_testkit::mail::accepted(request).set_delay(Duration::from_millis(1_500))
        })
        .mount(&brevo)
        .await;
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .respond_with(checkout("https://checkout.paystack.com/dev"))
        .mount(&paystack)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("^/transaction/verify/.*"))
        .respond_with(|request: &Request| {
            let reference = request.url.path().rsplit('/').next().unwrap().to_owned();
            ResponseTemplate::new(200).set_body_json(verified(&reference, 1_500))
        })
        .mount(&paystack)
        .await;
    let settlement = wired(&paystack, &brevo);
    let (db_url, db) = fresh_database().await;
    let dir = std::env::temp_dir().join(format!("gavel-dev-kill-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let ports = (
        dev_server::free_port().unwrap(),
        dev_server::free_port().unwrap(),
        dev_server::free_port().unwrap(),
    );
    let api = format!("http://127.0.0.1:{}", ports.0);
    let http = reqwest::Client::new();
    let mut dev = gavel_dev(&dir, &db_url, ports, &settlement);
    ready(&api).await;
    let (_, seller) = register(&http, &api, "seller").await;
    let (_, ada) = register(&http, &api, "bidder").await;
    let (_, bola) = register(&http, &api, "bidder").await;
    let mut body = auction_body(3);
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let auction: AuctionResponse = http
        .post(format!("{api}/api/v1/auctions"))
        .bearer_auth(&seller)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = auction.id;
    for (token, amount) in [(&ada, 1_000), (&bola, 1_500)] {
        let response = http
            .post(format!("{api}/api/v1/auctions/{id}/bids"))
            .bearer_auth(token)
            .header("Idempotency-Key", format!("dev-{amount}"))
            .json(&json!({ "amount": amount }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    // The settlement is under way: the first email reached Brevo.
    eventually(60, || async {
        if brevo.received_requests().await.unwrap().is_empty() {
            Err("no email yet".to_owned())
        } else {
            Ok(())
        }
    })
    .await;
    dev.kill().unwrap();
    dev.wait().unwrap();

    let mut dev = gavel_dev(&dir, &db_url, ports, &settlement);
    ready(&api).await;
    let reference = eventually(60, || async {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT reference, authorization_url FROM invoices")
                .fetch_optional(&db)
                .await
                .unwrap();
        match row {
            Some((reference, Some(_))) => Ok(reference),
            _ => Err("no pay link yet".to_owned()),
        }
    })
    .await;
    let event = charge_success(&reference, 1_500);
    let response = http
        .post(format!("{api}/api/v1/webhooks/paystack"))
        .header("content-type", "application/json")
        .header("x-paystack-signature", sign(&event))
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    eventually(60, || async {
        let (status,): (String,) = sqlx::query_as("SELECT status FROM auctions")
            .fetch_one(&db)
            .await
            .unwrap();
        if status == "settled" {
            Ok(())
        } else {
            Err(format!("still {status}"))
        }
    })
    .await;
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&db).await.unwrap();
            n
        }
    };
    assert_eq!(count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(
        count("SELECT count(*) FROM invoice_references").await,
        1,
        "one transaction"
    );
    let kinds = [
        "outbid",
        "won",
        "sold",
        "auction_lost",
        "receipt",
        "sale_completed",
    ];
    for kind in kinds {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM emails WHERE kind = $1")
            .bind(kind)
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(n, 1, "one {kind} email");
    }
    // Brevo may have been asked twice for an email whose answer the kill
    // cut off, always under the same idempotency key (Brevo sends it once).
    let mut keys: Vec<String> = brevo
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["headers"]["idempotencyKey"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    keys.sort();
    keys.dedup();
    // Every key Brevo saw is one recorded email (the sale's workflow may
    // already have sent its own, such as the seller's ship-by notice).
    let recorded: Vec<(String, String)> = sqlx::query_as("SELECT id::text, kind FROM emails")
        .fetch_all(&db)
        .await
        .unwrap();
    let kind_of = |key: &String| {
        recorded
            .iter()
            .find(|(id, _)| id == key)
            .map(|(_, kind)| kind.clone())
    };
    let sent: Vec<Option<String>> = keys.iter().map(kind_of).collect();
    assert!(
        sent.iter().all(Option::is_some),
        "Brevo got a key no recorded email has: {keys:?} vs {recorded:?}"
    );
    for kind in kinds {
        assert_eq!(
            sent.iter().flatten().filter(|k| *k == kind).count(),
            1,
            "one {kind} email reached Brevo: {recorded:?}"
        );
    }
    Command::new("kill")
        .args(["-INT", &dev.id().to_string()])
        .status()
        .unwrap();
    let _ = dev.wait();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn temporal_restarted_on_its_database_file_loses_no_bid_and_doubles_none() {
    let temporal = crate::helpers::RestartableTemporal::new("gavel-temporal-restart");
    let start = || temporal.start();
    let server = start();
    let app = spawn_app_on(server.address, http_args(), settlement_args()).await;
    let (seller, ada, bola) = (
        app.user("seller").await,
        app.user("bidder").await,
        app.user("bidder").await,
    );
    let mut body = auction_body(25);
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let id = app.create_auction(&seller, &body).await.id.to_string();
    app.bid_ok(&ada, &id, 1_000, None).await;
    app.bid_ok(&bola, &id, 1_500, None).await;

    server.stop(Duration::from_secs(5));
    let response = app
        .bid(&ada, &id, 2_000, None, Some("during-the-outage"))
        .await;
    expect_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    let _server = start();
    // The bidder retries with the same key until Temporal answers.
    let verdict = eventually(30, || async {
        let response = app
            .bid(&ada, &id, 2_000, None, Some("during-the-outage"))
            .await;
        match response.status() {
            StatusCode::CREATED => Ok(response.json::<BidResponse>().await.unwrap()),
            other => Err(format!("still {other}")),
        }
    })
    .await;
    assert_eq!(verdict.status, Standing::Leading);
    let again: BidResponse = expect_json(
        app.bid(&ada, &id, 2_000, None, Some("during-the-outage"))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(again.bid_id, verdict.bid_id, "the retry is the same bid");

    let closed = app.wait_for_status(&id, "awaiting_payment", 60).await;
    assert_eq!(closed.bid_count, 3, "every accepted bid, once");
    assert_eq!(closed.current_price, Some(2_000));
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM bids WHERE auction_id = '{id}'"
        ))
        .await,
        3
    );
    let _ = std::fs::remove_dir_all(temporal.dir());
}

#[tokio::test]
async fn paystack_and_brevo_failing_for_a_while_are_retried_and_settle_once() {
    let (paystack, brevo) = (MockServer::start().await, MockServer::start().await);
    // Paystack: a timeout, then a 503, then the checkout.
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .respond_with(
            checkout("https://checkout.paystack.com/slow").set_delay(Duration::from_secs(3)),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&paystack)
        .await;
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&paystack)
        .await;
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .respond_with(checkout("https://checkout.paystack.com/ok"))
        .with_priority(3)
        .mount(&paystack)
        .await;
    // Brevo: the accounts' verification links go through; the sale's
    // emails are rate limited three times, then fine.
    Mock::given(method("POST"))
        .and(path("/v3/smtp/email"))
        .and(wiremock::matchers::body_string_contains(
            "gavel-verify_email",
        ))
        .respond_with(gavel_testkit::mail::accepted)
        .with_priority(1)
        .mount(&brevo)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/smtp/email"))
        .respond_with(ResponseTemplate::new(429).insert_header("x-sib-ratelimit-reset", "1"))
        .up_to_n_times(3)
        .with_priority(2)
        .mount(&brevo)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/smtp/email"))
        .respond_with(gavel_testkit::mail::accepted)
        .with_priority(3)
        .mount(&brevo)
        .await;
    let mut settlement = wired(&paystack, &brevo);
    settlement.provider_timeout_secs = 1;
    let app = crate::helpers::spawn_app_with_settlement(settlement).await;
    let (seller, ada, bola) = (
        app.user("seller").await,
        app.user("bidder").await,
        app.user("bidder").await,
    );
    let mut body = auction_body(2);
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let id = app.create_auction(&seller, &body).await.id.to_string();
    app.bid_ok(&ada, &id, 1_000, None).await;
    app.bid_ok(&bola, &id, 1_500, None).await;
    app.wait_for_status(&id, "awaiting_payment", 30).await;
    let reference = eventually(30, || async {
        let (reference, link): (String, Option<String>) =
            sqlx::query_as("SELECT reference, authorization_url FROM invoices")
                .fetch_one(&app.db)
                .await
                .unwrap();
        match link {
            Some(link) => {
                assert_eq!(link, "https://checkout.paystack.com/ok");
                Ok(reference)
            }
            None => Err("no pay link yet".to_owned()),
        }
    })
    .await;
    Mock::given(method("GET"))
        .and(path(format!("/transaction/verify/{reference}")))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&paystack)
        .await;
    mount_verified(&paystack, &reference, 1_500).await;
    let event = charge_success(&reference, 1_500);
    expect_status(
        post_webhook(&app, &event, Some(&sign(&event))).await,
        StatusCode::OK,
    )
    .await;
    app.wait_for_status(&id, "settled", 60).await;
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM invoice_references").await,
        1,
        "retried with one reference"
    );
    for kind in ["won", "receipt", "sale_completed"] {
        assert_eq!(count_emails(&app, &id, kind).await, 1, "{kind}");
    }

    // The retries are in the history: the final attempts were not the first.
    let events = app
        .auction_handle(&id)
        .fetch_history(Default::default())
        .into_events()
        .await
        .unwrap();
    let attempts: Vec<i32> = events
        .iter()
        .filter_map(|e| match &e.attributes {
            Some(Attributes::ActivityTaskStartedEventAttributes(started)) => Some(started.attempt),
            _ => None,
        })
        .collect();
    assert!(
        attempts.iter().filter(|a| **a >= 3).count() >= 2,
        "begin_payment (timeout, 503) and confirm_payment (502, 502) retried: {attempts:?}"
    );
    assert!(
        attempts.iter().filter(|a| **a > 1).count() >= 3,
        "and an email after Brevo's 429s: {attempts:?}"
    );
}
