//! The production shape on one machine: two API replicas and two workers on
//! one Temporal and one database. Bidders use either API, live streams on
//! either see every event, a worker is SIGKILLed mid-run and an API is
//! stopped mid-stream, and every auction still closes and settles once.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    ApiProcess, BidAnswer, EventStream, SseEvent, TestUser, WorkerProcess, auction_body,
    eventually, settlement_args, shared_temporal, spawn_api_only,
};

/// Reads `stream` until the server ends it; the events it gave.
async fn drain(stream: &mut EventStream, into: &mut Vec<(i64, String)>) {
    while let Some(SseEvent { id, kind, .. }) = stream.try_next().await {
        into.push((id, kind));
    }
}

#[tokio::test]
async fn two_apis_and_two_workers_lose_no_bid_through_a_killed_worker_and_a_stopped_api() {
    let settlement = settlement_args();
    let a = spawn_api_only(shared_temporal(), settlement.clone()).await;
    let b = ApiProcess::spawn(&a, &settlement).await;
    let mut first_worker = Some(WorkerProcess::spawn(&a, &settlement));
    let _second_worker = WorkerProcess::spawn(&a, &settlement);
    let admin = a.admin().await;
    let seller = a.user("seller").await;
    let mut bidders: Vec<TestUser> = Vec::new();
    for _ in 0..4 {
        bidders.push(a.user("bidder").await);
    }
    let mut ids = Vec::new();
    for _ in 0..3 {
        let mut body = auction_body(30);
        body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
        ids.push(a.create_auction(&seller, &body).await.id.to_string());
    }
    let watched = ids[0].clone();
    let mut on_a = EventStream::open(&a, &watched, None).await;
    let mut on_b = EventStream::open_at(&a.http, &b.address, &watched, None).await;

    // Six rounds of bids, alternating between the replicas, on every auction.
    let mut accepted: HashMap<String, usize> = HashMap::new();
    let mut seen_on_b = Vec::new();
    let mut api_b = Some(b);
    for round in 0..6_usize {
        for (i, id) in ids.iter().enumerate() {
            let bidder = &bidders[(round + i) % bidders.len()];
            let base = match (&api_b, round % 2) {
                (Some(b), 1) => b.address.clone(),
                _ => a.address.clone(),
            };
            let amount = 1_000 + 500 * i64::try_from(round).unwrap();
            // As a client does: a 503 (say, while Temporal moves the
            // auction off the dead worker) is retried with the same key.
            let answer = eventually(60, || async {
                let response = a
                    .http
                    .post(format!("{base}/api/v1/auctions/{id}/bids"))
                    .bearer_auth(&bidder.token)
                    .header("Idempotency-Key", format!("r{round}-{i}"))
                    .json(&json!({ "amount": amount }))
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let answer: BidAnswer = response.json().await.unwrap();
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    Err(format!("{answer:?}"))
                } else {
                    Ok((status, answer))
                }
            })
            .await;
            match answer {
                (StatusCode::CREATED, BidAnswer::Accepted(_)) => {
                    *accepted.entry(id.clone()).or_default() += 1;
                }
                other => panic!("round {round}, auction {i}: {other:?}"),
            }
        }
        if round == 1 {
            // A worker dies holding whatever it had; the other carries on.
            first_worker.take().unwrap().kill();
        }
        if round == 3 {
            // API B is stopped gracefully mid-stream: its stream ends, and
            // the client resumes on A from the last event it saw.
            let b = api_b.take().unwrap();
            let stopping = tokio::task::spawn_blocking(move || b.stop());
            drain(&mut on_b, &mut seen_on_b).await;
            assert!(stopping.await.unwrap().success(), "B stops cleanly");
        }
    }
    let last_seen = seen_on_b.last().map(|(id, _)| *id);
    let mut resumed = EventStream::open(&a, &watched, last_seen).await;

    // Every auction closes with every accepted bid, and settles once paid.
    for id in &ids {
        let closed = a.wait_for_status(id, "awaiting_payment", 60).await;
        assert_eq!(
            closed.bid_count,
            u64::try_from(accepted[id]).unwrap(),
            "{id}: no bid lost"
        );
        let stored = a
            .count(&format!(
                "SELECT count(*) FROM bids WHERE auction_id = '{id}'"
            ))
            .await;
        assert_eq!(stored, i64::try_from(accepted[id]).unwrap(), "{id}");
    }
    let invoices: Vec<(uuid::Uuid,)> = sqlx::query_as("SELECT id FROM invoices")
        .fetch_all(&a.db)
        .await
        .unwrap();
    assert_eq!(invoices.len(), 3, "one invoice per auction");
    for (invoice,) in invoices {
        let response = a
            .post_json(
                &format!("/api/v1/admin/invoices/{invoice}/mark-paid"),
                &json!({}),
                Some(&admin.token),
            )
            .await;
        assert!(response.status().is_success(), "{}", response.status());
    }
    for id in &ids {
        a.wait_for_status(id, "settled", 60).await;
    }
    assert_eq!(
        a.count(
            "SELECT count(*) FROM (SELECT invoice_id FROM payments GROUP BY invoice_id
             HAVING count(*) > 1) twice"
        )
        .await,
        0,
        "nothing paid twice"
    );

    // The stream on A saw every event; B's stream then A's resumed one saw
    // the same, none twice.
    let mut seen_on_a = Vec::new();
    drain(&mut on_a, &mut seen_on_a).await;
    drain(&mut resumed, &mut seen_on_b).await;
    assert_eq!(seen_on_b, seen_on_a);
    assert_eq!(
        seen_on_a.last().map(|(_, kind)| kind.as_str()),
        Some("settled")
    );
}
