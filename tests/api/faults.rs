//! Settlement under faults, judged by the end state in PostgreSQL, in the
//! workflow and in what the Paystack and Brevo stand-ins received: a worker
//! killed mid-charge, `gavel dev` killed mid-settlement, Temporal restarted
//! while bidding, and providers that fail for a while.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use gavel::dev_server::{self, DevServerOptions};
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
    for kind in [
        "outbid",
        "won",
        "sold",
        "auction_lost",
        "receipt",
        "sale_completed",
    ] {
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
    assert_eq!(keys.len(), 6, "six distinct emails: {keys:?}");
    Command::new("kill")
        .args(["-INT", &dev.id().to_string()])
        .status()
        .unwrap();
    let _ = dev.wait();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn temporal_restarted_on_its_database_file_loses_no_bid_and_doubles_none() {
    let dir = std::env::temp_dir().join(format!("gavel-temporal-restart-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = dev_server::free_port().unwrap();
    let start = || {
        let options = DevServerOptions {
            port,
            ui_port: None,
            db_file: Some(dir.join("temporal.sqlite")),
            namespace: "default".into(),
            log_file: Some(dir.join("temporal.log")),
            extra_args: Vec::new(),
        };
        gavel_testkit::temporal::start_dev_server(&options)
    };
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
    let _ = std::fs::remove_dir_all(dir);
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
    // Brevo: rate limited three times, then fine.
    Mock::given(method("POST"))
        .and(path("/v3/smtp/email"))
        .respond_with(ResponseTemplate::new(429).insert_header("x-sib-ratelimit-reset", "1"))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&brevo)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/smtp/email"))
        .respond_with(gavel_testkit::mail::accepted)
        .with_priority(2)
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

/// A request that met an unavailable PostgreSQL: it must be refused with 503
/// `service_unavailable` and `Retry-After`, never a 500.
async fn refused_while_the_database_is_down(what: &str, response: reqwest::Response) {
    let status = response.status();
    let retry_after = response.headers().get("retry-after").cloned();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    assert_eq!(
        body["error"]["code"], "service_unavailable",
        "{what}: {body}"
    );
    let secs: u64 = retry_after
        .unwrap_or_else(|| panic!("{what}: 503 without Retry-After"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(secs >= 1, "{what}: Retry-After {secs}");
}

/// A page form answered while PostgreSQL is down: a page (not a redirect,
/// not a 200 that blames the visitor) with 503 and `Retry-After`.
async fn page_while_the_database_is_down(what: &str, response: reqwest::Response) {
    let status = response.status();
    let retry_after = response.headers().get("retry-after").cloned();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    assert!(body.contains("<html"), "{what}: a page: {body}");
    assert!(!body.contains("do not match"), "{what}: {body}");
    let secs: u64 = retry_after
        .unwrap_or_else(|| panic!("{what}: 503 without Retry-After"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(secs >= 1, "{what}: Retry-After {secs}");
}

#[tokio::test]
async fn a_database_outage_across_a_close_answers_503_and_loses_nothing() {
    let postgres = crate::helpers::PrivatePostgres::start();
    let app = crate::helpers::spawn_app_on_database_server(&postgres.url()).await;
    let (seller, [ada, bola], lot) = app.scene::<2>(&auction_body(8)).await;
    let id = lot.id.to_string();
    let accepted = app.bid_ok(&ada, &id, 1_000, None).await;
    assert_eq!(accepted.status, Standing::Leading);
    // Ada in the browser, and a visitor about to sign in or up.
    let mut browser = crate::sessions::Jar::default();
    browser.sign_in(&app, &ada.email, "/").await;
    let sign_out_token = browser.token_of(&app, "/me").await;
    let mut visitor = crate::sessions::Jar::default();
    let visitor_token = visitor.token_of(&app, "/signin").await;
    // A busy server's pool holds many connections; the stop kills them all.
    let warm = futures::future::join_all((0..24).map(|_| app.get("/api/v1/auctions", None))).await;
    assert!(warm.iter().all(|r| r.status() == StatusCode::OK));

    postgres.stop();
    // The first request after the stop meets the pool's dead connections.
    let first_bid = app.bid(&bola, &id, 1_500, None, None).await;
    refused_while_the_database_is_down("the first bid", first_bid).await;
    let detail_path = format!("/api/v1/auctions/{id}");
    let (bid, sign_in, list, detail, invoices, me, page, ready) = tokio::join!(
        app.bid(&bola, &id, 2_000, None, None),
        app.login(&seller.email, crate::helpers::PASSWORD),
        app.get("/api/v1/auctions", None),
        app.get(&detail_path, None),
        app.get("/api/v1/me/invoices", Some(&ada.token)),
        app.get("/api/v1/auth/me", Some(&bola.token)),
        app.get("/", None),
        app.get("/api/v1/ready", None),
    );
    refused_while_the_database_is_down("a bid", bid).await;
    refused_while_the_database_is_down("sign-in", sign_in).await;
    refused_while_the_database_is_down("the listing", list).await;
    refused_while_the_database_is_down("an auction", detail).await;
    refused_while_the_database_is_down("my invoices", invoices).await;
    refused_while_the_database_is_down("me", me).await;
    refused_while_the_database_is_down("the listing page", page).await;
    let ready = expect_status(ready, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(ready["error"]["code"], "not_ready", "{ready}");
    // The pages' forms say the house is unavailable, not that the password
    // is wrong, and a sign-out that could not end the session says so.
    let signed_in = visitor
        .post(
            &app,
            "/signin",
            &[
                ("csrf", &visitor_token),
                ("email", &seller.email),
                ("password", crate::helpers::PASSWORD),
            ],
        )
        .await;
    page_while_the_database_is_down("the sign-in form", signed_in).await;
    let signed_up = visitor
        .post(
            &app,
            "/signup",
            &[
                ("csrf", &visitor_token),
                ("name", "Ada Lovelace"),
                ("email", "outage@example.com"),
                ("password", crate::helpers::PASSWORD),
                ("role", "bidder"),
            ],
        )
        .await;
    page_while_the_database_is_down("the sign-up form", signed_up).await;
    let signed_out = browser
        .post(&app, "/signout", &[("csrf", &sign_out_token)])
        .await;
    assert!(
        browser.session.is_some(),
        "a sign-out that failed keeps the cookie of the session still alive"
    );
    page_while_the_database_is_down("sign-out", signed_out).await;

    // The auction closes (in its workflow) while the database is down.
    let closes = lot.ends_at + chrono::Duration::seconds(2);
    while chrono::Utc::now() < closes {
        let left = (closes - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(left.min(Duration::from_millis(500))).await;
    }
    let again = app.bid(&bola, &id, 2_500, None, None).await;
    refused_while_the_database_is_down("a bid after the close", again).await;
    postgres.start_again();
    // No request after the restart meets a connection the stop killed.
    for _ in 0..8 {
        expect_status(app.get("/api/v1/auctions", None).await, StatusCode::OK).await;
    }
    // The sign-out that failed can be done now, and it ends the session.
    let session = browser.session.clone().unwrap();
    let signed_out = browser
        .post(&app, "/signout", &[("csrf", &sign_out_token)])
        .await;
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);
    assert!(browser.session.is_none(), "signed out");
    expect_status(
        app.get("/api/v1/auth/me", Some(&session)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Once it is back: the auction is closed and invoiced, to the one bid
    // that was accepted, and nothing was recorded twice.
    let closed = app.wait_for_status(&id, "awaiting_payment", 90).await;
    assert_eq!(closed.bid_count, 1, "{closed:?}");
    assert_eq!(closed.current_price, Some(1_000));
    assert_eq!(closed.leader.as_deref(), Some(ada.handle.as_str()));
    let invoice: (i64, String) = eventually(60, || async {
        sqlx::query_as::<_, (i64, String)>(
            "SELECT total, buyer_id::text FROM invoices WHERE auction_id = $1::uuid",
        )
        .bind(&id)
        .fetch_optional(&app.db)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no invoice yet".to_owned())
    })
    .await;
    assert_eq!(invoice, (1_000, ada.id.clone()));
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM invoices WHERE auction_id = '{id}'"
        ))
        .await,
        1
    );
    let stored_bids = app
        .count(&format!(
            "SELECT count(*) FROM bids WHERE auction_id = '{id}' AND bidder_id = '{}'",
            ada.id
        ))
        .await;
    assert_eq!(stored_bids, 1, "Ada's accepted bid is stored once");
    let ready = expect_status(app.get("/api/v1/ready", None).await, StatusCode::OK).await;
    assert_eq!(ready["status"], "ready");
    // The close was carried out across the outage: its database work failed
    // while the server was down and was retried, not skipped.
    let events = app
        .auction_handle(&id)
        .fetch_history(Default::default())
        .into_events()
        .await
        .unwrap();
    let retried = events.iter().any(|e| {
        matches!(&e.attributes,
            Some(Attributes::ActivityTaskStartedEventAttributes(started)) if started.attempt > 1)
    });
    assert!(
        retried,
        "an activity of the close was retried after the outage"
    );
}

#[tokio::test]
async fn a_connection_cut_mid_query_answers_503() {
    let app = crate::helpers::spawn_app().await;
    let (_, [], lot) = app.scene::<0>(&auction_body(3_600)).await;
    // The request's query waits behind this lock until its connection is
    // cut, as an operator's pg_terminate_backend or a failover cuts it.
    let mut blocker = app.db.begin().await.unwrap();
    sqlx::query("LOCK TABLE auctions IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let path = format!("/api/v1/auctions/{}", lot.id);
    let request = tokio::spawn({
        let url = app.url(&path);
        let http = app.http.clone();
        async move { http.get(url).send().await.unwrap() }
    });
    // Every query waiting on the lock is cut (the worker's too, if it is
    // writing the read model just then: its activity retries).
    let mut cuts = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !request.is_finished() {
        assert!(Instant::now() < deadline, "the request was never cut");
        let cut: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_all(&app.db)
        .await
        .unwrap();
        cuts += cut.len();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(cuts >= 1, "the request's query was cut");
    let response = request.await.unwrap();
    blocker.rollback().await.unwrap();
    refused_while_the_database_is_down("an auction whose query was cut", response).await;
    // The pool replaces the connection: the next request is answered.
    assert_eq!(app.auction(&lot.id.to_string()).await.id, lot.id);
}
