//! Hostile traffic: each bound holds against one client's flood, and what it
//! protects keeps working for everyone else. Clients other than 127.0.0.1
//! are played through `X-Forwarded-For` with the loopback as a trusted proxy.

use std::time::{Duration, Instant};

use futures::future::join_all;
use gavel::config::{HttpArgs, LimitArgs};
use gavel_store::auctions::{self as store, ListFilter};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    ApiProcess, PASSWORD, TestApp, auction_body, eventually, expect_error, expect_status,
    http_args, settlement_args, shared_temporal, spawn_app, spawn_app_on, spawn_app_with,
};

fn with_limits(change: impl FnOnce(&mut LimitArgs)) -> HttpArgs {
    let mut http = http_args();
    change(&mut http.limits);
    http
}

/// The defaults `gavel api` runs with, the loopback trusted as a proxy.
fn production_limits() -> HttpArgs {
    with_limits(|l| {
        *l = LimitArgs {
            trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
            ..LimitArgs::default()
        }
    })
}

fn count(statuses: &[StatusCode], wanted: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == wanted).count()
}

fn status_counts(statuses: &[StatusCode]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for status in statuses {
        *counts.entry(status.as_u16()).or_insert(0) += 1;
    }
    format!("{counts:?}")
}

/// Kibibytes of a `/proc/<pid>/status` line (`VmRSS`, `VmHWM`).
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap()
}

async fn register_from(app: &TestApp, base: &str, ip: String, i: usize) -> StatusCode {
    app.http
        .post(format!("{base}/api/v1/auth/register"))
        .header("x-forwarded-for", ip)
        .json(&json!({
            "email": format!("crowd-{i}-{}@example.com", uuid::Uuid::new_v4().simple()),
            "password": PASSWORD, "name": "Crowd Member", "role": "bidder",
        }))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn sign_ups_from_one_address_stop_at_the_hourly_limit() {
    let app = spawn_app_with(with_limits(|l| l.signups_per_ip_hour = 20)).await;
    let base = app.address.clone();
    let statuses =
        join_all((0..300).map(|i| register_from(&app, &base, "192.0.2.1".into(), i))).await;
    let created = count(&statuses, StatusCode::CREATED);
    let limited = count(&statuses, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        (created, limited),
        (20, 280),
        "{}",
        status_counts(&statuses)
    );
    let refused = app
        .register("late@example.com", PASSWORD, "Late Comer", "bidder")
        .await;
    assert!(refused.headers().contains_key("retry-after"));
    expect_error(refused, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
}

#[tokio::test]
async fn three_hundred_concurrent_sign_ups_from_many_addresses_keep_memory_flat() {
    let app = spawn_app().await;
    // A separate `gavel api` process, so its memory is its own.
    let api = ApiProcess::spawn_with_env(
        &app,
        &settlement_args(),
        &[("GAVEL_TRUSTED_PROXIES", "127.0.0.1")],
    )
    .await;
    let before = memory_kib(api.pid(), "VmRSS");
    let started = Instant::now();
    let statuses = join_all((0..300).map(|i| {
        register_from(
            &app,
            &api.address,
            format!("10.9.{}.{}", i / 250, i % 250),
            i,
        )
    }))
    .await;
    let peak = memory_kib(api.pid(), "VmHWM");
    let growth_mib = peak.saturating_sub(before) / 1024;
    eprintln!(
        "300 sign-ups in {:.1} s: {}; RSS {} MiB before, peak {} MiB (+{growth_mib} MiB)",
        started.elapsed().as_secs_f64(),
        status_counts(&statuses),
        before / 1024,
        peak / 1024
    );
    // Every answer is an account, or (were the hashing queue longer than
    // the wait it allows) 503 `busy` — never another failure.
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::SERVICE_UNAVAILABLE),
        "{}",
        status_counts(&statuses)
    );
    assert!(
        count(&statuses, StatusCode::CREATED) >= 200,
        "{}",
        status_counts(&statuses)
    );
    assert!(growth_mib < 300, "RSS grew by {growth_mib} MiB");
    api.stop();
}

async fn login_from(
    app: &TestApp,
    base: &str,
    ip: &str,
    email: &str,
    password: &str,
) -> StatusCode {
    app.http
        .post(format!("{base}/api/v1/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_strangers_wrong_logins_are_counted_exactly_and_lock_only_the_stranger() {
    let app = spawn_app_on(shared_temporal(), production_limits(), settlement_args()).await;
    let victim = app.user("bidder").await;
    let base = app.address.clone();
    let statuses = join_all((0..100).map(|_| {
        login_from(
            &app,
            &base,
            "198.51.100.7",
            &victim.email,
            "wrong horse battery",
        )
    }))
    .await;
    let unauthorized = count(&statuses, StatusCode::UNAUTHORIZED);
    let limited = count(&statuses, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        (unauthorized, limited),
        (5, 95),
        "at most the limit is even checked: {}",
        status_counts(&statuses)
    );
    // Another replica shares the counts (they live in PostgreSQL).
    let replica = ApiProcess::spawn_with_env(
        &app,
        &settlement_args(),
        &[("GAVEL_TRUSTED_PROXIES", "127.0.0.1")],
    )
    .await;
    assert_eq!(
        login_from(
            &app,
            &replica.address,
            "198.51.100.7",
            &victim.email,
            PASSWORD
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits, from the stranger's address"
    );
    // The owner, from their own address, signs in on either replica.
    for base in [&app.address, &replica.address] {
        assert_eq!(
            login_from(&app, base, "203.0.113.9", &victim.email, PASSWORD).await,
            StatusCode::OK
        );
    }
    replica.stop();
}

#[tokio::test]
async fn an_address_holds_at_most_its_streams_and_bidding_goes_on() {
    let app = spawn_app_with(with_limits(|l| l.streams.per_ip = 50)).await;
    let (_, [ada], auction) = app.scene(&auction_body(600)).await;
    let id = auction.id.to_string();
    let url = app.url(&format!("/api/v1/auctions/{id}/events"));
    let responses = join_all((0..200).map(|_| app.http.get(&url).send())).await;
    let responses: Vec<reqwest::Response> = responses.into_iter().map(Result::unwrap).collect();
    let statuses: Vec<StatusCode> = responses.iter().map(|r| r.status()).collect();
    let open = count(&statuses, StatusCode::OK);
    let refused: Vec<&reqwest::Response> = responses
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(
        (open, refused.len()),
        (50, 150),
        "{}",
        status_counts(&statuses)
    );
    assert!(
        refused
            .iter()
            .all(|r| r.headers().contains_key("retry-after"))
    );

    let asked = Instant::now();
    app.bid_ok(&ada, &id, 1_000, None).await;
    let took = asked.elapsed();
    eprintln!("a bid beside 50 open streams took {took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // A closed stream gives its slot back.
    drop(responses);
    eventually(10, || async {
        match app.http.get(&url).send().await {
            Ok(r) if r.status() == StatusCode::OK => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

#[tokio::test]
async fn one_bidders_flood_never_crowds_out_a_rival() {
    let app = spawn_app_with(with_limits(|l| *l = LimitArgs::default())).await;
    let (_, [flooder, rival], auction) = app.scene(&auction_body(600)).await;
    let id = auction.id.to_string();
    let flood = join_all((0..200).map(|i| {
        let amount = 1_000 + i * 10;
        app.bid(&flooder, &id, amount, Some(amount + 5), None)
    }));
    let rival_bids = async {
        let mut statuses = Vec::new();
        let mut amount = 50_000;
        for _ in 0..8 {
            let response = app.bid(&rival, &id, amount, Some(amount), None).await;
            statuses.push(response.status());
            amount += 10_000;
        }
        statuses
    };
    let (flood, rival_statuses) = tokio::join!(flood, rival_bids);
    let flood: Vec<StatusCode> = flood.iter().map(|r| r.status()).collect();
    eprintln!(
        "flood {}; rival {}",
        status_counts(&flood),
        status_counts(&rival_statuses)
    );
    assert!(
        rival_statuses.iter().all(|s| *s == StatusCode::CREATED),
        "the rival's bids are all taken: {}",
        status_counts(&rival_statuses)
    );
    assert!(
        flood.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{}",
        status_counts(&flood)
    );
    assert!(
        !flood.iter().any(|s| s.is_server_error()),
        "{}",
        status_counts(&flood)
    );
}

#[tokio::test]
async fn racing_requests_with_one_key_and_two_amounts_get_one_verdict() {
    let app = spawn_app().await;
    let (_, [ada], auction) = app.scene(&auction_body(600)).await;
    let id = auction.id.to_string();
    for round in 0..6_i64 {
        let key = format!("race-{round}");
        let low = 1_000 + round * 20_000;
        let high = low + 10_000;
        let (a, b) = tokio::join!(
            app.bid(&ada, &id, low, Some(low), Some(&key)),
            app.bid(&ada, &id, high, Some(high), Some(&key)),
        );
        let answers = [(low, a.status(), a), (high, b.status(), b)];
        let accepted: Vec<i64> = answers
            .iter()
            .filter(|(_, s, _)| *s == StatusCode::CREATED)
            .map(|(amount, _, _)| *amount)
            .collect();
        assert_eq!(accepted.len(), 1, "round {round}: one verdict per key");
        for (_, status, response) in answers {
            if status != StatusCode::CREATED {
                let body: Value = response.json().await.unwrap();
                assert_eq!(status, StatusCode::CONFLICT, "{body}");
                let code = body["error"]["code"].as_str().unwrap();
                assert!(
                    ["idempotency_key_reused", "bid_too_low"].contains(&code),
                    "{body}"
                );
            }
        }
        let stored = sqlx::query_scalar::<_, i64>(
            "SELECT amount FROM bids WHERE auction_id = $1 AND idempotency_key LIKE $2",
        )
        .bind(auction.id)
        .bind(format!("%:{key}"))
        .fetch_all(&app.db)
        .await
        .unwrap();
        assert_eq!(
            stored, accepted,
            "round {round}: the stored bid is the one answered"
        );
    }
}

#[tokio::test]
async fn changing_a_password_or_a_role_revokes_older_tokens() {
    let app = spawn_app().await;
    let ada = app.user("bidder").await;
    // Another replica has seen Ada's token (and cached its version).
    let replica = ApiProcess::spawn(&app, &settlement_args()).await;
    let me_on = |base: String, token: String| {
        let http = app.http.clone();
        async move {
            http.get(format!("{base}/api/v1/auth/me"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    expect_status(
        me_on(replica.address.clone(), ada.token.clone()).await,
        StatusCode::OK,
    )
    .await;

    let wrong = app
        .post_json(
            "/api/v1/auth/password",
            &json!({ "current_password": "not my password", "new_password": "a brand new passphrase" }),
            Some(&ada.token),
        )
        .await;
    expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let changed: Value = expect_status(
        app.post_json(
            "/api/v1/auth/password",
            &json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" }),
            Some(&ada.token),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let fresh = changed["token"].as_str().unwrap().to_owned();
    expect_error(
        app.me(&ada.token).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    expect_status(app.me(&fresh).await, StatusCode::OK).await;
    // The other replica refuses the old token within its re-read interval.
    eventually(45, || async {
        let response = me_on(replica.address.clone(), ada.token.clone()).await;
        match response.status() {
            StatusCode::UNAUTHORIZED => Ok(()),
            other => Err(format!("still {other}")),
        }
    })
    .await;
    expect_error(
        app.login(&ada.email, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    expect_status(
        app.login(&ada.email, "a brand new passphrase").await,
        StatusCode::OK,
    )
    .await;

    // An admin makes Bola a seller: Bola's bidder token stops working.
    let bola = app.user("bidder").await;
    let admin = app.admin().await;
    let path = format!("/api/v1/admin/users/{}/role", bola.id);
    let refused = app
        .request(Method::PUT, &path, Some(&bola.token))
        .json(&json!({ "role": "admin" }))
        .send()
        .await
        .unwrap();
    expect_error(refused, StatusCode::FORBIDDEN, "forbidden").await;
    let bad = app
        .request(Method::PUT, &path, Some(&admin.token))
        .json(&json!({ "role": "emperor" }))
        .send()
        .await
        .unwrap();
    expect_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_role").await;
    let changed: Value = expect_status(
        app.request(Method::PUT, &path, Some(&admin.token))
            .json(&json!({ "role": "seller" }))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["role"], "seller");
    expect_error(
        app.me(&bola.token).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    let again: Value = expect_status(app.login(&bola.email, PASSWORD).await, StatusCode::OK).await;
    assert_eq!(again["user"]["role"], "seller");
    replica.stop();
}

#[tokio::test]
async fn metrics_are_served_on_their_own_address_and_not_on_the_apis_without_a_token() {
    let port = gavel::dev_server::free_port().unwrap();
    let mut http = http_args();
    http.metrics_token = None;
    http.api_metrics_addr = Some(format!("127.0.0.1:{port}").parse().unwrap());
    let app = spawn_app_with(http).await;
    app.get("/api/v1/health", None).await;
    expect_error(
        app.get("/metrics", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let text = app
        .http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("gavel_http_requests_total"), "{text}");
}

#[tokio::test]
async fn search_uses_the_trigram_index() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    // Built once after the rows are in (as fast as a restore would), from
    // the migration's own definition.
    let index: String =
        sqlx::query_scalar("SELECT indexdef FROM pg_indexes WHERE indexname = 'auctions_search'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    sqlx::query("DROP INDEX auctions_search")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO auctions (id, seller_id, title, description, currency, starting_price,
             anti_sniping_window_secs, anti_sniping_extension_secs, starts_at, ends_at, status)
         SELECT gen_random_uuid(), $1, 'Lot ' || md5(n::text),
             repeat(md5((n * 7)::text) || ' ', 6), 'NGN',
             1000, 120, 120, now(), now() + interval '1 day', 'open'
         FROM generate_series(1, 50000) AS n",
    )
    .bind(uuid::Uuid::parse_str(&seller.id).unwrap())
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(&index).execute(&app.db).await.unwrap();
    let wanted = app
        .create_auction(
            &seller,
            &json!({
                "title": "Zanzibar chest", "description": "Brass-studded, carved",
                "currency": "NGN", "starting_price": 1_000,
                "ends_at": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
            }),
        )
        .await;
    sqlx::query("ANALYZE auctions")
        .execute(&app.db)
        .await
        .unwrap();
    let filter = ListFilter {
        text: Some("zanzibar".into()),
        limit: 21,
        ..ListFilter::default()
    };
    let plan = store::explain_list(&app.db, &filter)
        .await
        .unwrap()
        .join("\n");
    assert!(plan.contains("auctions_search"), "{plan}");
    let found: Value = expect_status(
        app.get("/api/v1/auctions?q=ZANZIBAR", None).await,
        StatusCode::OK,
    )
    .await;
    let ids: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [wanted.id.to_string()]);
    // The stand-in rows have no workflows for the harness to look through.
    sqlx::query("DELETE FROM auctions WHERE id <> $1")
        .bind(wanted.id)
        .execute(&app.db)
        .await
        .unwrap();
}

#[tokio::test]
async fn text_postgresql_refuses_is_bad_data_not_a_reason_to_retry() {
    let app = spawn_app().await;
    let nul = sqlx::query("SELECT $1::text")
        .bind("before\u{0}after")
        .execute(&app.db)
        .await
        .unwrap_err();
    assert!(gavel_store::is_bad_data(&nul), "{nul:?}");
    let nul_json = sqlx::query("SELECT $1::text::jsonb")
        .bind(r#"{"reason": "\u0000"}"#)
        .execute(&app.db)
        .await
        .unwrap_err();
    assert!(gavel_store::is_bad_data(&nul_json), "{nul_json:?}");
    app.db.close().await;
    let closed = sqlx::query("SELECT 1").execute(&app.db).await.unwrap_err();
    assert!(!gavel_store::is_bad_data(&closed), "an outage is retried");
}

/// `gavel dev`'s Paystack stand-in signs webhooks with a key made for the
/// run: two runs differ, and the key that was once in the source signs
/// nothing Gavel takes.
#[tokio::test]
async fn the_paystack_stand_in_signs_with_a_key_of_its_own_run() {
    use secrecy::ExposeSecret;
    let api_url = std::sync::Arc::new(std::sync::OnceLock::new());
    let first = gavel::paystack_stand_in::start(api_url.clone())
        .await
        .unwrap();
    let second = gavel::paystack_stand_in::start(api_url).await.unwrap();
    let (one, two) = (first.secret_key(), second.secret_key());
    assert_ne!(one.expose_secret(), two.expose_secret());
    const ONCE_IN_THE_SOURCE: &str = "sk_test_gavel_stand_in";
    assert_ne!(one.expose_secret(), ONCE_IN_THE_SOURCE);
    assert!(one.expose_secret().len() >= 40, "long and random");

    let mut settlement = crate::helpers::settlement_args();
    settlement.paystack_secret_key = Some(one.clone());
    settlement.paystack_base_url = first.base_url.clone();
    let app = crate::helpers::spawn_app_with_settlement(settlement).await;
    let body = gavel::webhook::event_body("refund.processed", "no-such-reference", 5_000, "NGN");
    let bytes = body.to_string().into_bytes();
    let send = |key: &str| {
        let signature = gavel::webhook::sign(key, &bytes).unwrap();
        app.http
            .post(app.url("/api/v1/webhooks/paystack"))
            .header("content-type", "application/json")
            .header("x-paystack-signature", signature)
            .body(bytes.clone())
            .send()
    };
    let forged = send(ONCE_IN_THE_SOURCE).await.unwrap();
    crate::helpers::expect_error(forged, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    let genuine = send(one.expose_secret()).await.unwrap();
    assert_ne!(
        genuine.status(),
        StatusCode::UNAUTHORIZED,
        "the run's own key signs"
    );
}

/// The stand-in's API answers only who holds the run's key, as Paystack's
/// does: no one else on the machine can start a checkout and so have the
/// stand-in send a correctly signed webhook. Its checkout page (the buyer's
/// browser page) is open, but only for references Gavel started.
#[tokio::test]
async fn the_paystack_stand_in_answers_only_its_run_key() {
    use secrecy::ExposeSecret;
    let api_url = std::sync::Arc::new(std::sync::OnceLock::new());
    let stand_in = gavel::paystack_stand_in::start(api_url).await.unwrap();
    let key = stand_in.secret_key();
    let http = reqwest::Client::new();
    let base = &stand_in.base_url;
    let initialize = |auth: Option<String>| {
        let mut request = http
            .post(format!("{base}/transaction/initialize"))
            .json(&json!({ "reference": "mine-1", "amount": 5_000, "email": "a@example.com" }));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    for auth in [
        None,
        Some("Bearer sk_test_guess".to_owned()),
        Some(key.expose_secret().to_owned()),
    ] {
        let refused = initialize(auth.clone()).await.unwrap();
        assert_eq!(
            refused.status(),
            StatusCode::UNAUTHORIZED,
            "{:?}",
            auth.map(|a| a.len())
        );
    }
    for path in ["/transaction/verify/mine-1", "/refund"] {
        let refused = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let refused = http
        .post(format!("{base}/refund"))
        .json(&json!({ "transaction": "mine-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // A reference no one with the key started has no checkout to pay.
    let paid = http
        .post(format!("{base}/checkout/mine-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::NOT_FOUND);
    // Gavel, with the key, starts one; the buyer's page then opens.
    let started = initialize(Some(format!("Bearer {}", key.expose_secret())))
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::OK);
    let page = http
        .get(format!("{base}/checkout/mine-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
}
