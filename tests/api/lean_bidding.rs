//! What a bid costs the auction's workflow while it is open: its update and
//! nothing else (no search-attribute upsert, no publication the API wrote
//! itself, outbid emails at most once per window and one batch per gather
//! period), and what the workflow
//! still does when the API's write never came (the backstop).

use std::time::Duration;

use gavel_workflows::{
    auction::AuctionWorkflow,
    contract::{
        auction::{BidBatch, PlaceBid},
        read_model::{AuctionEvent, EventData, LiveDelta},
    },
};
use temporalio_client::WorkflowExecuteUpdateOptions;
use temporalio_common::protos::temporal::api::{
    enums::v1::EventType, history::v1::history_event::Attributes,
};
use uuid::Uuid;

use gavel::config::SettlementArgs;

use crate::helpers::{
    EventStream, TestApp, TestUser, auction_body, eventually, record_history, settlement_args,
    spawn_app_with_settlement,
};

/// The auction's history as (event type, activity type if any).
async fn history(app: &TestApp, id: &str) -> Vec<(EventType, Option<String>)> {
    let events = app
        .auction_handle(id)
        .fetch_history(Default::default())
        .into_events()
        .await
        .unwrap();
    events
        .iter()
        .map(|event| {
            let activity = match &event.attributes {
                Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => {
                    a.activity_type.as_ref().map(|t| t.name.clone())
                }
                _ => None,
            };
            (event.event_type(), activity)
        })
        .collect()
}

/// When each `send_emails` activity was scheduled, in seconds.
async fn email_batches(app: &TestApp, id: &str) -> Vec<f64> {
    let events = app
        .auction_handle(id)
        .fetch_history(Default::default())
        .into_events()
        .await
        .unwrap();
    events
        .iter()
        .filter(|event| {
            matches!(&event.attributes,
                Some(Attributes::ActivityTaskScheduledEventAttributes(a))
                    if a.activity_type.as_ref().is_some_and(|t| t.name == "send_emails"))
        })
        .filter_map(|event| event.event_time.as_ref())
        .map(|t| t.seconds as f64 + f64::from(t.nanos) / 1e9)
        .collect()
}

/// Ada bids 1,000 with key `lost` straight to the workflow, as if the API
/// that sent it died before writing the answer to the read model.
async fn lose_a_write(app: &TestApp, id: &str, ada: &TestUser) {
    bid_unwritten(app, id, ada, 1_000, "lost").await;
}

/// `bidder` bids `amount` with key `key` straight to the workflow: no API
/// writes it to the read model.
async fn bid_unwritten(app: &TestApp, id: &str, bidder: &TestUser, amount: i64, key: &str) {
    let bid = PlaceBid {
        bidder_id: bidder.id.parse().unwrap(),
        amount,
        max_amount: None,
        currency: None,
        idempotency_key: format!("{}:{key}", bidder.id),
    };
    let options = WorkflowExecuteUpdateOptions::builder()
        .update_id(format!("bids:{key}-write"))
        .build();
    app.auction_handle(id)
        .execute_update(
            AuctionWorkflow::place_bids,
            BidBatch::Bids(vec![bid]),
            options,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_bid_costs_its_update_and_outbid_emails_wait_for_their_window() {
    let brevo = gavel_testkit::mail::brevo().await;
    let app = spawn_app_with_settlement(SettlementArgs {
        brevo_base_url: brevo.uri(),
        ..settlement_args()
    })
    .await;
    let (_seller, [ada, bola], auction) = app.scene(&auction_body(300)).await;
    let id = &auction.id.to_string();

    // Ten bids, each a new leader: nine outbid notices, to two people.
    for round in 0..10_i64 {
        let bidder = if round % 2 == 0 { &ada } else { &bola };
        app.bid_ok(bidder, id, 1_000 + 100 * round, None).await;
    }
    let bids = app.get(&format!("/api/v1/auctions/{id}/bids"), None).await;
    let bids: serde_json::Value = bids.json().await.unwrap();
    assert_eq!(
        bids["items"].as_array().map(Vec::len),
        Some(10),
        "the API wrote every batch itself: {bids}"
    );

    let events = history(&app, id).await;
    // From the first bid, or from the run's second workflow task when the
    // first bid came in its first (a loaded machine): that task's marker
    // and search attributes are the run's start, not the bid's.
    let first_bid = events
        .iter()
        .position(|(kind, _)| *kind == EventType::WorkflowExecutionUpdateAccepted)
        .unwrap();
    let second_task = events
        .iter()
        .enumerate()
        .filter(|(_, (kind, _))| *kind == EventType::WorkflowTaskScheduled)
        .nth(1)
        .map_or(0, |(at, _)| at);
    let during_bidding = &events[first_bid.min(second_task)..];
    let after_start = &events[first_bid.max(second_task)..];
    let count = |wanted: EventType| {
        during_bidding
            .iter()
            .filter(|(kind, _)| *kind == wanted)
            .count()
    };
    let activities: Vec<&str> = during_bidding
        .iter()
        .filter_map(|(_, activity)| activity.as_deref())
        .collect();
    assert_eq!(count(EventType::WorkflowExecutionUpdateCompleted), 10);
    assert_eq!(
        after_start
            .iter()
            .filter(|(kind, _)| *kind == EventType::UpsertWorkflowSearchAttributes)
            .count(),
        0,
        "bids do not touch the search attributes"
    );
    assert_eq!(
        activities,
        ["send_emails"],
        "no publication of what the API wrote; the first outbid email at once, the others gathered"
    );
    // The backstop alarm and the mail window, armed once each.
    assert!(count(EventType::TimerStarted) <= 3, "{during_bidding:?}");
    eprintln!(
        "{} history events for 10 bids ({} workflow tasks)",
        during_bidding.len(),
        count(EventType::WorkflowTaskCompleted)
    );

    // After the window both hear of the latest price: one email each per
    // window, and nobody more than twice.
    let db = app.db.clone();
    let (ada_id, bola_id): (Uuid, Uuid) = (ada.id.parse().unwrap(), bola.id.parse().unwrap());
    eventually(60, || {
        let db = db.clone();
        async move {
            let sent: Vec<(Uuid, i64)> = sqlx::query_as(
                "SELECT recipient_id, count(*) FROM emails WHERE kind = 'outbid' GROUP BY 1",
            )
            .fetch_all(&db)
            .await
            .unwrap();
            let of = |who: Uuid| {
                sent.iter()
                    .find(|(id, _)| *id == who)
                    .map_or(0, |(_, n)| *n)
            };
            match (of(ada_id), of(bola_id)) {
                (a, b) if a > 2 || b > 2 => panic!("more than one email a window: {sent:?}"),
                (a, b) if a >= 1 && b >= 1 && a + b >= 3 => Ok(()),
                _ => Err(format!("sent so far: {sent:?}")),
            }
        }
    })
    .await;
    // One batch per gather period at most: everyone outbid meanwhile goes
    // together.
    let batches = email_batches(&app, id).await;
    assert!(batches.len() >= 2, "{batches:?}");
    for pair in batches.windows(2) {
        assert!(
            pair[1] - pair[0] >= 9.9,
            "batches closer than 10 s: {batches:?}"
        );
    }
    record_history(&app.auction_handle(id), "auction_outbid_gathered").await;
}

#[tokio::test]
async fn a_batch_no_api_confirmed_writing_is_published_by_the_backstop() {
    let app = spawn_app_with_settlement(settlement_args()).await;
    let (_seller, [ada], auction) = app.scene(&auction_body(300)).await;
    let id = &auction.id.to_string();
    // Past the opening's own publication (one a second at most), so only
    // the backstop can write what follows.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Straight to the workflow, as if the API that sent it died before
    // writing the answer to the read model. Timed from before it is sent:
    // the backstop counts from when the workflow took it.
    let started = std::time::Instant::now();
    lose_a_write(&app, id, &ada).await;
    let in_read_model = || async {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM bids WHERE auction_id = $1")
            .bind(auction.id)
            .fetch_one(&app.db)
            .await
            .unwrap();
        n
    };
    assert_eq!(in_read_model().await, 0, "nobody wrote it yet");
    eventually(40, || async {
        if in_read_model().await == 1 {
            Ok(())
        } else {
            Err("not published yet".to_owned())
        }
    })
    .await;
    assert!(
        started.elapsed() > Duration::from_secs(5),
        "published by the backstop, not at once"
    );
    let shown = app.auction(id).await;
    assert_eq!(shown.current_price, Some(1_000), "{shown:?}");
}

#[tokio::test]
async fn a_live_stream_waits_for_a_missing_event_and_keeps_the_order() {
    let app = spawn_app_with_settlement(settlement_args()).await;
    let (_seller, [ada, bola], auction) = app.scene(&auction_body(300)).await;
    let id = &auction.id.to_string();
    let mut stream = EventStream::open(&app, id, None).await;

    // Ada's bid reaches the workflow but its write is lost (as above);
    // Bola's, after it, is written by the API at once.
    lose_a_write(&app, id, &ada).await;
    app.bid_ok(&bola, id, 1_100, None).await;
    // A stream opened now, while Ada's event is missing, gets it too.
    let mut late = EventStream::open(&app, id, None).await;

    // The streams hold Bola's bid back until Ada's is published by the
    // backstop, then give both in order.
    for stream in [&mut stream, &mut late] {
        let mut bids = Vec::new();
        while bids.len() < 2 {
            let event = stream.next().await;
            if event.kind == "bid" {
                bids.push((event.id, event.data["amount"].as_i64().unwrap()));
            }
        }
        assert_eq!(bids.iter().map(|b| b.1).collect::<Vec<_>>(), [1_000, 1_100]);
        assert!(bids[0].0 < bids[1].0, "{bids:?}");
    }
}

#[tokio::test]
async fn a_retried_bid_whose_write_was_lost_is_answered_as_accepted_and_written() {
    let app = spawn_app_with_settlement(settlement_args()).await;
    let (_seller, [ada], auction) = app.scene(&auction_body(300)).await;
    let id = &auction.id.to_string();
    lose_a_write(&app, id, &ada).await;
    // Ada's client never heard back and retries with its key: the same
    // verdict, at once, and the bid is in the read model.
    let retried = app.bid(&ada, id, 1_000, None, Some("lost")).await;
    let answer: serde_json::Value = retried.json().await.unwrap();
    assert_eq!(answer["amount"], 1_000, "{answer}");
    assert_eq!(answer["seq"], 1, "{answer}");
    let (stored,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM bids WHERE auction_id = $1 AND amount = 1000")
            .bind(auction.id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored, 1, "written with the answer, not 15 s later");
    // And again, from the read model this time.
    let again = app.bid(&ada, id, 1_000, None, Some("lost")).await;
    assert_eq!(again.status(), reqwest::StatusCode::CREATED);
}

/// The API's write of a batch and the workflow's publication of the same
/// rows take the auction's row first, so neither waits on the other's
/// half-written rows: here the publication holds the auction (as its
/// snapshot does) while the API's write starts, then writes the same event;
/// both finish, with no deadlock for PostgreSQL to break after a second.
#[tokio::test]
async fn the_apis_write_and_a_publication_of_the_same_rows_never_deadlock() {
    let app = spawn_app_with_settlement(settlement_args()).await;
    let seller = app.user("seller").await;
    let id = app
        .create_auction(&seller, &auction_body(120))
        .await
        .id
        .to_string();
    let view = app
        .auction_handle(&id)
        .query(AuctionWorkflow::state, (), Default::default())
        .await
        .unwrap();
    let auction_id: Uuid = id.parse().unwrap();
    let event = AuctionEvent {
        seq: 1_000,
        at: chrono::Utc::now(),
        data: EventData::Cancelled {
            reason: "test".to_owned(),
        },
    };
    let delta = LiveDelta {
        revision: 1_000,
        view,
        bids: Vec::new(),
        events: vec![event.clone()],
        rules: 0,
    };

    let mut publication = app.db.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM auctions WHERE id = $1 FOR UPDATE")
        .bind(auction_id)
        .execute(&mut *publication)
        .await
        .unwrap();
    let read_model = gavel_store::read_model::ReadModel::new(app.db.clone());
    let api_write = tokio::spawn(async move { read_model.apply_live(auction_id, &delta).await });
    // The API's statement is under way and waits on the auction's row.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    sqlx::query(
        "INSERT INTO auction_events (auction_id, seq, kind, data, at)
         VALUES ($1, $2, 'cancelled', '{}', $3) ON CONFLICT DO NOTHING",
    )
    .bind(auction_id)
    .bind(1_000_i64)
    .bind(event.at)
    .execute(&mut *publication)
    .await
    .expect("the publication's write is not chosen as a deadlock victim");
    publication.commit().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "the publication waited {:?} for the API's write",
        started.elapsed()
    );
    api_write
        .await
        .unwrap()
        .expect("the API's write is not chosen as a deadlock victim");
    let (revision,): (i64,) = sqlx::query_as("SELECT revision FROM auctions WHERE id = $1")
        .bind(auction_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        revision, 1_000,
        "the API's figures landed after the publication"
    );
}

/// A bid whose write no API confirms is left out of the alert check (which
/// asks for another a period later), so the close, which waits for a check
/// on its way, is not held up by a write that only the workflow's backstop
/// or its close will make.
#[tokio::test]
async fn an_unwritten_bid_holds_up_neither_the_alert_check_nor_the_close() {
    let app = spawn_app_with_settlement(settlement_args()).await;
    let mut body = auction_body(40);
    body["anti_sniping"] = serde_json::json!({ "window_secs": 0, "extension_secs": 1 });
    let (_seller, [ada, bola], auction) = app.scene(&body).await;
    let id = &auction.id.to_string();
    app.bid_ok(&bola, id, 1_000, Some(100_000)).await;
    // Over 30 s since the lot's first check: an outbid asks for one at once.
    tokio::time::sleep(Duration::from_secs(31)).await;
    // Ada's bid straight to the workflow, never written by an API: Bola's
    // maximum outbids her at once, and the check counts her bid.
    bid_unwritten(&app, id, &ada, 1_100, "unwritten").await;
    let until_end = (auction.ends_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(until_end).await;
    // Closed and invoiced within seconds of the end (it waited a minute for
    // a check retried until the bid was a row).
    app.wait_for_status(id, "awaiting_payment", 15).await;
}

/// Outbid notices are not gathered in an auction's last minute: each
/// bidder outbid there hears at once, while they can still bid (notices
/// still held at the close are dropped: everyone hears how it ended).
#[tokio::test]
async fn near_the_end_every_outbid_bidder_hears_before_the_close() {
    let brevo = gavel_testkit::mail::brevo().await;
    let app = spawn_app_with_settlement(SettlementArgs {
        brevo_base_url: brevo.uri(),
        ..settlement_args()
    })
    .await;
    let mut body = auction_body(8);
    body["anti_sniping"] = serde_json::json!({ "window_secs": 0, "extension_secs": 1 });
    let (_seller, [ada, bola, chidi], auction) = app.scene(&body).await;
    let id = &auction.id.to_string();
    app.bid_ok(&ada, id, 1_000, None).await;
    app.bid_ok(&bola, id, 1_100, None).await;
    app.bid_ok(&chidi, id, 1_200, None).await;
    app.wait_for_status(id, "awaiting_payment", 30).await;
    let told: Vec<(Uuid,)> =
        sqlx::query_as("SELECT recipient_id FROM emails WHERE kind = 'outbid' ORDER BY 1")
            .fetch_all(&app.db)
            .await
            .unwrap();
    let mut expected: Vec<(Uuid,)> = vec![(ada.id.parse().unwrap(),), (bola.id.parse().unwrap(),)];
    expected.sort();
    assert_eq!(told, expected, "both outbid bidders told before the close");
}
