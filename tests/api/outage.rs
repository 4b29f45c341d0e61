//! PostgreSQL outages: requests that meet a stopped database server or a
//! connection cut mid-query are refused with 503 and `Retry-After`, and an
//! auction that closes across the outage loses and doubles nothing.

use std::time::{Duration, Instant};

use gavel_workflows::rules::Standing;
use reqwest::StatusCode;
use serde_json::Value;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;

use crate::helpers::{auction_body, eventually, expect_status};

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
    // A lean auction runs that work as local activities: their markers
    // record the attempt that ended each one.
    let local: Vec<(String, u64)> = events
        .iter()
        .filter_map(|e| match &e.attributes {
            Some(Attributes::MarkerRecordedEventAttributes(marker)) => local_activity(marker),
            _ => None,
        })
        .collect();
    let retried = events.iter().any(|e| {
        matches!(&e.attributes,
            Some(Attributes::ActivityTaskStartedEventAttributes(started)) if started.attempt > 1)
    }) || local
        .iter()
        .any(|(step, attempt)| CLOSE_STEPS.contains(&step.as_str()) && *attempt > 1);
    assert!(
        retried,
        "an activity of the close was retried after the outage; local activities: {local:?}"
    );
}

/// The close's database steps that a lean auction runs as local activities.
const CLOSE_STEPS: [&str; 3] = ["publish_auction", "create_invoice", "accept_offer"];

/// A local activity's marker: its type and the attempt that ended it.
fn local_activity(
    marker: &temporalio_common::protos::temporal::api::history::v1::MarkerRecordedEventAttributes,
) -> Option<(String, u64)> {
    if marker.marker_name != "core_local_activity" {
        return None;
    }
    let data = marker.details.get("data")?.payloads.first()?;
    let data: Value = serde_json::from_slice(&data.data).ok()?;
    Some((
        data["activity_type"].as_str()?.to_owned(),
        data["attempt"].as_u64()?,
    ))
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
