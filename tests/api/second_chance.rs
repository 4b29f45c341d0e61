//! The unpaid winner's path on the time-skipping test server: a reminder
//! halfway through the payment window, the invoice voided and a strike at
//! its end, an optional second-chance offer to the runner-up (accepted and
//! paid offline), and a lot left unsold when no one is eligible.

use gavel_api::routes::invoices::InvoiceResponse;
use gavel_workflows::rules::Standing;
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    helpers::{
        all_emails, auction_body, emails, eventually, expect_error, expect_json, optional_notices,
        record_history, sent_become, sent_kinds,
    },
    stand_ins::{skip_and_settle, skipping_scene, wait_until},
};

#[tokio::test]
async fn an_unpaid_winner_is_reminded_then_voided_and_the_runner_up_accepts_an_optional_offer() {
    let (_server, app) = skipping_scene().await;
    let seller = app.user("seller").await;
    let ada = app.user("bidder").await;
    let bola = app.user("bidder").await;
    let admin = app.admin().await;
    let mut body = auction_body(60);
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let auction = app.create_auction(&seller, &body).await;
    let id = &auction.id.to_string();
    app.bid_ok(&ada, id, 1_000, Some(5_000)).await;
    let verdict = app.bid_ok(&bola, id, 2_000, None).await;
    assert_eq!(verdict.status, Standing::Outbid);

    app.skip_time(61).await;
    app.wait_for_status(id, "awaiting_payment", 20).await;
    // A minute before half the 48-hour window: no reminder yet…
    skip_and_settle(&app, 24 * 3_600 - 60).await;
    let reminder = ("payment_reminder".to_owned(), ada.email.clone());
    assert!(
        !sent_kinds(&app, id).await.contains(&reminder),
        "reminded early"
    );
    // …and just after it, one.
    app.skip_time(61).await;
    wait_until(|| async { sent_kinds(&app, id).await.contains(&reminder) }).await;
    // A minute before the deadline the invoice is still Ada's to pay (the
    // window opened a second before the first skip ended).
    skip_and_settle(&app, 24 * 3_600 - 62).await;
    let status = |round: i32| {
        let app = &app;
        async move {
            let (status,): (String,) =
                sqlx::query_as("SELECT status FROM invoices WHERE round = $1")
                    .bind(round)
                    .fetch_one(&app.db)
                    .await
                    .unwrap();
            status
        }
    };
    assert_eq!(status(1).await, "open", "voided before the deadline");
    assert_eq!(app.count("SELECT count(*) FROM invoices").await, 1);
    // The deadline: void, strike, and an offer to Bola at her own 2,000.
    app.skip_time(61).await;
    let offer = ("second_chance".to_owned(), bola.email.clone());
    wait_until(|| async { sent_kinds(&app, id).await.contains(&offer) }).await;
    let rows: Vec<(i32, String, i64, uuid::Uuid)> =
        sqlx::query_as("SELECT round, status, total, buyer_id FROM invoices ORDER BY round")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].0, rows[0].1.as_str(), rows[0].2),
        (1, "void", 2_100)
    );
    assert_eq!(
        (rows[1].0, rows[1].1.as_str(), rows[1].2),
        (2, "offered", 2_000)
    );
    assert_eq!(rows[1].3.to_string(), bola.id);
    let (struck,): (uuid::Uuid,) = sqlx::query_as("SELECT user_id FROM strikes")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(struck.to_string(), ada.id);
    assert_eq!(app.count("SELECT count(*) FROM strikes").await, 1);
    let (letter,): (String,) =
        sqlx::query_as("SELECT text_body FROM emails WHERE kind = 'second_chance'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(letter.contains("This offer is optional"), "{letter}");
    assert!(letter.contains("costs you nothing"), "{letter}");

    // An offer is not an invoice to pay until accepted.
    let (invoice_id,): (uuid::Uuid,) = sqlx::query_as("SELECT id FROM invoices WHERE round = 2")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let invoice_path = format!("/api/v1/invoices/{invoice_id}");
    let response = app
        .post_json(
            &format!("{invoice_path}/pay"),
            &json!({}),
            Some(&bola.token),
        )
        .await;
    expect_error(response, StatusCode::CONFLICT, "offer_not_accepted").await;
    let response = app
        .post_json(
            &format!("{invoice_path}/accept"),
            &json!({}),
            Some(&ada.token),
        )
        .await;
    expect_error(response, StatusCode::NOT_FOUND, "invoice_not_found").await;
    let accepted: InvoiceResponse = expect_json(
        app.post_json(
            &format!("{invoice_path}/accept"),
            &json!({}),
            Some(&bola.token),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(accepted.status, "open");
    let again: InvoiceResponse = expect_json(
        app.post_json(
            &format!("{invoice_path}/accept"),
            &json!({}),
            Some(&bola.token),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again.status, "open", "accepting twice is harmless");
    let response = app
        .post_json(
            &format!("{invoice_path}/decline"),
            &json!({}),
            Some(&bola.token),
        )
        .await;
    expect_error(response, StatusCode::CONFLICT, "not_an_offer").await;

    // Bola pays by bank transfer; an admin records it.
    let path = format!("/api/v1/admin/invoices/{invoice_id}/mark-paid");
    let response = app.post_json(&path, &json!({}), Some(&bola.token)).await;
    expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;
    let response = app.post_json(&path, &json!({}), Some(&admin.token)).await;
    let paid: InvoiceResponse = expect_json(response, StatusCode::OK).await;
    assert_eq!(paid.status, "paid");
    app.wait_for_status(id, "settled", 20).await;

    // The sale's own workflow then asks the seller to ship.
    let mut expected: Vec<(String, String)> = [
        ("auction_lost", &bola.email),
        ("offer_accepted", &bola.email),
        ("payment_reminder", &ada.email),
        ("receipt", &bola.email),
        ("sale_completed", &seller.email),
        ("second_chance", &bola.email),
        ("ship_by", &seller.email),
        ("sold", &seller.email),
        ("won", &ada.email),
    ]
    .into_iter()
    .map(|(k, to)| (k.to_owned(), to.clone()))
    .collect();
    expected.sort();
    sent_become(20, &expected, || sent_kinds(&app, id)).await;
    // Bola's "ending soon" is certain here, no race: outbid at once, with
    // an hour's lead on a one-minute lot.
    let notice = [("ending_soon".to_owned(), bola.email.clone())];
    sent_become(20, &notice, || optional_notices(&app, id)).await;
    // Without BREVO_API_KEY emails are recorded: every one, once the last
    // in flight (stored, then marked) has landed.
    eventually(20, || async {
        let all = all_emails(&app, id).await;
        if all.iter().all(|e| e.2 == "recorded") {
            Ok(())
        } else {
            Err(format!("not all recorded: {all:?}"))
        }
    })
    .await;
    record_history(&app.auction_handle(id), "settlement_offer_accepted").await;
}

#[tokio::test]
async fn with_no_eligible_runner_up_the_lot_is_unsold() {
    let (_server, app) = skipping_scene().await;
    let mut body = auction_body(60);
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let (_seller, [ada], auction) = app.scene(&body).await;
    let id = &auction.id.to_string();
    app.bid_ok(&ada, id, 1_000, None).await;
    app.skip_time(61).await;
    app.wait_for_status(id, "awaiting_payment", 20).await;
    app.skip_time(48 * 3_600 + 1).await;
    app.wait_for_status(id, "unsold", 20).await;
    assert_eq!(app.count("SELECT count(*) FROM strikes").await, 1);
    let kinds: Vec<String> = emails(&app, id).await.into_iter().map(|e| e.0).collect();
    assert!(kinds.contains(&"unsold".to_owned()), "{kinds:?}");
    record_history(&app.auction_handle(id), "settlement_unsold").await;
}
