//! Saved searches and their daily digest: saving, listing and deleting
//! (limits and refusals), the "Save this search" button on `/`, the digest
//! workflow emailing each account once with only new matches (none when
//! nothing is new, none with the preference off), and the deployment's
//! Schedule made at a worker's start and run by a trigger.

use std::time::Duration;

use gavel_api::routes::saved_searches::{SavedSearchList, SavedSearchResponse};
use gavel_workflows::{contract::digest::DigestRequest, digest::SavedSearchDigestWorkflow, names};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use temporalio_client::{
    WorkflowGetResultOptions, WorkflowStartOptions,
    schedules::{ScheduleDescriptionAction, ScheduleOverlapPolicy},
};
use wiremock::MockServer;

use crate::{
    accounts_email::with_brevo,
    helpers::{
        TestApp, TestUser, WorkerProcess, auction_body, eventually, expect_error, expect_json,
        expect_status, form_token, record_history, settlement_args, spawn_api_only, spawn_app,
        start_temporal,
    },
    sessions::Jar,
};

const SAVED: &str = "/api/v1/me/saved-searches";

async fn saved(app: &TestApp, user: &TestUser) -> Vec<SavedSearchResponse> {
    let list: SavedSearchList =
        expect_json(app.get(SAVED, Some(&user.token)).await, StatusCode::OK).await;
    list.items
}

/// Lists a lot titled `title` as `seller`; its id.
async fn list_lot(app: &TestApp, seller: &TestUser, title: &str) -> String {
    let mut body = auction_body(3_600);
    body["title"] = json!(title);
    app.create_auction(seller, &body).await.id.to_string()
}

/// The digest emails Brevo received, as their JSON bodies.
async fn digests(brevo: &MockServer) -> Vec<Value> {
    brevo
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .filter(|b| b["tags"][0] == "gavel-saved_search_digest")
        .collect()
}

/// Runs the digest workflow once on the app's worker, to its end.
pub(crate) async fn run_digest(
    app: &TestApp,
) -> temporalio_client::WorkflowHandle<
    temporalio_client::Client,
    impl temporalio_common::HasWorkflowDefinition,
> {
    let handle = app
        .temporal
        .start_workflow(
            SavedSearchDigestWorkflow::run,
            DigestRequest::default(),
            WorkflowStartOptions::new(
                app.task_queue.clone(),
                format!("saved-search-digest-{}", uuid::Uuid::new_v4()),
            )
            .build(),
        )
        .await
        .unwrap();
    let said = tokio::time::timeout(
        Duration::from_secs(60),
        handle.get_result(WorkflowGetResultOptions::default()),
    )
    .await
    .expect("the digest finished")
    .unwrap();
    assert!(said.contains("digested"), "{said}");
    handle
}

#[tokio::test]
async fn saved_searches_are_saved_listed_and_deleted_within_their_limit() {
    let app = spawn_app().await;
    let ada = app.user("bidder").await;
    let bola = app.user("bidder").await;

    let lamp: SavedSearchResponse = expect_json(
        app.post_json(
            SAVED,
            &json!({ "q": "  brass lamp ", "status": "open" }),
            Some(&ada.token),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(lamp.q.as_deref(), Some("brass lamp"));
    assert_eq!(lamp.status.as_deref(), Some("open"));
    assert_eq!(lamp.listing_path, "/?q=brass%20lamp&status=open");
    let listed = saved(&app, &ada).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, lamp.id);
    assert!(
        saved(&app, &bola).await.is_empty(),
        "one account's searches only"
    );

    // Refusals change nothing, each with its code.
    expect_error(
        app.post_json(
            SAVED,
            &json!({ "q": "brass lamp", "status": "open" }),
            Some(&ada.token),
        )
        .await,
        StatusCode::CONFLICT,
        "saved_search_exists",
    )
    .await;
    expect_error(
        app.post_json(SAVED, &json!({ "status": "sold" }), Some(&ada.token))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_status",
    )
    .await;
    // A digest names lots that can still be bid on: a search for sold ones
    // would never find any, so it is refused, and nothing is saved.
    let before = saved(&app, &ada).await.len();
    for status in ["settled", "closed", "cancelled"] {
        expect_error(
            app.post_json(SAVED, &json!({ "status": status }), Some(&ada.token))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "status_not_saveable",
        )
        .await;
    }
    assert_eq!(saved(&app, &ada).await.len(), before);
    expect_error(
        app.post_json(SAVED, &json!({ "seller_id": "someone" }), Some(&ada.token))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_seller_id",
    )
    .await;
    expect_error(
        app.post_json(SAVED, &json!({ "q": "x".repeat(101) }), Some(&ada.token))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_query",
    )
    .await;
    expect_error(
        app.post_json(SAVED, &json!({ "q": "lamp" }), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    assert_eq!(saved(&app, &ada).await.len(), 1);

    // 25 at most per account.
    for n in 1..25 {
        expect_status(
            app.post_json(SAVED, &json!({ "q": format!("lot {n}") }), Some(&ada.token))
                .await,
            StatusCode::CREATED,
        )
        .await;
    }
    expect_error(
        app.post_json(SAVED, &json!({ "q": "one too many" }), Some(&ada.token))
            .await,
        StatusCode::CONFLICT,
        "too_many_saved_searches",
    )
    .await;
    assert_eq!(saved(&app, &ada).await.len(), 25);

    // Another account cannot delete it; its owner can, once.
    let id = lamp.id.to_string();
    expect_error(
        app.delete(&format!("{SAVED}/{id}"), Some(&bola.token))
            .await,
        StatusCode::NOT_FOUND,
        "saved_search_not_found",
    )
    .await;
    assert_eq!(
        app.delete(&format!("{SAVED}/{id}"), Some(&ada.token))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    expect_error(
        app.delete(&format!("{SAVED}/{id}"), Some(&ada.token)).await,
        StatusCode::NOT_FOUND,
        "saved_search_not_found",
    )
    .await;
    assert_eq!(saved(&app, &ada).await.len(), 24);
    // With one deleted there is room again.
    expect_status(
        app.post_json(SAVED, &json!({ "q": "one more" }), Some(&ada.token))
            .await,
        StatusCode::CREATED,
    )
    .await;
}

#[tokio::test]
async fn the_listing_page_saves_its_search_with_a_button() {
    let app = spawn_app().await;
    let ada = app.user("bidder").await;
    let anonymous = app
        .http
        .get(app.url("/?q=lamp"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!anonymous.contains("Save this search"), "signed in only");

    let mut browser = Jar::default();
    browser.sign_in(&app, &ada.email, "/").await;
    let page = browser.page(&app, "/?q=lamp&status=open").await;
    assert!(page.contains("Save this search"), "{page}");
    let sold = browser.page(&app, "/?q=lamp&status=settled").await;
    assert!(
        !sold.contains("Save this search"),
        "a search for sold lots finds nothing new: no button"
    );
    let csrf = form_token(&page);
    let answer = browser
        .post(
            &app,
            "/saved-searches",
            &[("csrf", &csrf), ("q", "lamp"), ("status", "open")],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let to = answer.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(to.contains("said=search_saved"), "{to}");
    let shown = app
        .http
        .get(app.url(&to))
        .header(header::COOKIE, browser.header())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(shown.contains("Search saved"), "{shown}");
    let searches = saved(&app, &ada).await;
    assert_eq!(searches.len(), 1);
    assert_eq!(searches[0].q.as_deref(), Some("lamp"));
    assert_eq!(searches[0].status.as_deref(), Some("open"));

    // The same again is refused in words, and nothing is added.
    let again = browser
        .post(
            &app,
            "/saved-searches",
            &[("csrf", &csrf), ("q", "lamp"), ("status", "open")],
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("saved this search already")
    );
    // A form without its token changes nothing either.
    let forged = browser
        .post(
            &app,
            "/saved-searches",
            &[("q", "chair"), ("status", "open")],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(saved(&app, &ada).await.len(), 1);

    // `/me` lists it, and its Delete button deletes it.
    let csrf = browser.token_of(&app, "/me").await;
    let me = app
        .http
        .get(app.url("/me"))
        .header(header::COOKIE, browser.header())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let id = searches[0].id;
    assert!(
        me.contains("“lamp”") && me.contains("/?q=lamp&#38;status=open"),
        "{me}"
    );
    let action = format!("/me/saved-searches/{id}/delete");
    assert!(me.contains(&action), "{me}");
    let deleted = browser.post(&app, &action, &[("csrf", &csrf)]).await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert!(saved(&app, &ada).await.is_empty());
}

#[tokio::test]
async fn the_digest_emails_each_account_its_new_matches_once() {
    let (app, brevo) = with_brevo().await;
    let seller = app.user("seller").await;
    let ada = app.user("bidder").await;
    let quiet = app.user("bidder").await;
    for who in [&ada, &quiet] {
        expect_status(
            app.post_json(
                SAVED,
                &json!({ "q": "lamp", "status": "open" }),
                Some(&who.token),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
    }
    // `quiet` wants no digest.
    let off = gavel_store::preferences::Preferences {
        saved_search_digest: false,
        ..Default::default()
    };
    gavel_store::preferences::put(&app.db, quiet.id.parse().unwrap(), &off)
        .await
        .unwrap();

    let lamp = list_lot(&app, &seller, "Brass lamp").await;
    let stool = list_lot(&app, &seller, "Carved stool").await;
    let handle = run_digest(&app).await;
    record_history(&handle, "saved_search_digest").await;

    let sent = digests(&brevo).await;
    assert_eq!(sent.len(), 1, "one digest: {sent:?}");
    let digest = &sent[0];
    assert_eq!(digest["to"][0]["email"], ada.email.as_str());
    let text = digest["textContent"].as_str().unwrap();
    let html = digest["htmlContent"].as_str().unwrap();
    assert!(text.contains("Brass lamp"), "{text}");
    assert!(
        !text.contains("Carved stool") && !html.contains("Carved stool"),
        "{text}"
    );
    assert!(!text.contains(&stool));
    let link = format!("http://gavel.test/auctions/{lamp}");
    assert!(text.contains(&link), "{text}");
    assert!(html.contains(&format!("<a href=\"{link}\"")), "{html}");
    // The link, followed on this server, is the lot's page.
    let path = link.trim_start_matches("http://gavel.test");
    let page = app.get(path, None).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Brass lamp"));
    // Stored once, as sent.
    let stored = app
        .count("SELECT count(*) FROM emails WHERE kind = 'saved_search_digest' AND status = 'sent'")
        .await;
    assert_eq!(stored, 1);

    // Nothing new since: a second run sends nothing.
    run_digest(&app).await;
    assert_eq!(
        digests(&brevo).await.len(),
        1,
        "no email when nothing is new"
    );

    // A lot listed since is named by the next digest, alone.
    let lamp2 = list_lot(&app, &seller, "Paraffin lamp").await;
    run_digest(&app).await;
    let sent = digests(&brevo).await;
    assert_eq!(sent.len(), 2);
    let text = sent[1]["textContent"].as_str().unwrap();
    assert!(text.contains(&lamp2) && !text.contains(&lamp), "{text}");
    assert_eq!(sent[1]["to"][0]["email"], ada.email.as_str());
}

#[tokio::test]
async fn a_worker_makes_the_digest_schedule_at_start_and_a_trigger_runs_it() {
    // A Temporal server of its own: the Schedule is the deployment's one.
    let server = start_temporal();
    let brevo = gavel_testkit::mail::brevo().await;
    let mut settlement = settlement_args();
    settlement.brevo_api_key = Some(secrecy::SecretString::from("xkeysib-test"));
    settlement.brevo_base_url = brevo.uri();
    let app = spawn_api_only(server.address, settlement.clone()).await;
    let _worker = WorkerProcess::spawn(&app, &settlement);

    let schedule = app.temporal.get_schedule_handle(names::DIGEST_SCHEDULE_ID);
    let described = eventually(60, || async {
        schedule
            .describe(Default::default())
            .await
            .map_err(|e| format!("no schedule yet: {e}"))
    })
    .await;
    let ScheduleDescriptionAction::StartWorkflow(start) = described.action() else {
        panic!("the schedule starts a workflow");
    };
    assert_eq!(start.workflow_type(), "saved_search_digest");
    assert_eq!(start.task_queue(), app.task_queue);
    let every = described
        .raw()
        .schedule
        .as_ref()
        .unwrap()
        .spec
        .as_ref()
        .unwrap()
        .interval[0]
        .interval
        .unwrap();
    assert_eq!(every.seconds, 24 * 3_600, "daily");

    let seller = app.user("seller").await;
    let ada = app.user("bidder").await;
    expect_status(
        app.post_json(SAVED, &json!({ "q": "lamp" }), Some(&ada.token))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let lamp = list_lot(&app, &seller, "Desk lamp").await;
    schedule
        .trigger(ScheduleOverlapPolicy::AllowAll, Default::default())
        .await
        .unwrap();
    let sent = eventually(60, || async {
        let sent = digests(&brevo).await;
        if sent.is_empty() {
            Err("no digest yet".to_owned())
        } else {
            Ok(sent)
        }
    })
    .await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0]["textContent"].as_str().unwrap().contains(&lamp));
}
