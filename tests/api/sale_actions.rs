//! What people do to a paid sale through the API, on sales seeded straight
//! into the database (invoice, payment and sale row; no workflow runs, so
//! nudges find none): only the seller ships, only the buyer receives and
//! claims, stages are enforced, claims are limited to what was paid, an
//! answer or a decision records the refund the sale's workflow asks for,
//! and the statements add up. The journey with its workflow is tested
//! elsewhere.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, TestUser, auction_body, expect_error, expect_status, spawn_app};

/// A paid sale of `seller`'s lot to `buyer` for `hammer` (paid through
/// Paystack), at `stage`; returns its invoice id.
async fn seed_sale(
    app: &TestApp,
    seller: &TestUser,
    buyer: &TestUser,
    hammer: i64,
    stage: &str,
) -> Uuid {
    let auction = app.create_auction(seller, &auction_body(3_600)).await;
    let invoice_id = Uuid::new_v4();
    let simple = invoice_id.simple().to_string();
    sqlx::query(
        "INSERT INTO invoices (id, auction_id, round, number, buyer_id, seller_id, currency, total,
             line_items, status, reference, due_at, paid_at, paid_via)
         VALUES ($1, $2, 1, $3, $4::uuid, $5::uuid, 'NGN', $6, '[]', 'paid', $7, now(), now(),
                 'paystack')",
    )
    .bind(invoice_id)
    .bind(auction.id)
    .bind(format!("GV-S{}", &simple[..10]))
    .bind(&buyer.id)
    .bind(&seller.id)
    .bind(hammer)
    .bind(format!("gavel-{simple}"))
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO payments (invoice_id, reference, paystack_id, amount, currency, channel)
         VALUES ($1, $2, 1, $3, 'NGN', 'paystack')",
    )
    .bind(invoice_id)
    .bind(format!("gavel-{simple}"))
    .bind(hammer)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO sales (invoice_id, auction_id, seller_id, buyer_id, currency, hammer,
             commission_bps, commission_min, ship_by, held_reason, stage)
         VALUES ($1, $2, $3::uuid, $4::uuid, 'NGN', $5, 1000, 0, now() + interval '3 days',
                 'journey', $6)",
    )
    .bind(invoice_id)
    .bind(auction.id)
    .bind(&seller.id)
    .bind(&buyer.id)
    .bind(hammer)
    .bind(stage)
    .execute(&app.db)
    .await
    .unwrap();
    invoice_id
}

async fn post(app: &TestApp, path: &str, body: &Value, user: &TestUser) -> reqwest::Response {
    app.post_json(path, body, Some(&user.token)).await
}

#[tokio::test]
async fn only_the_seller_ships_and_only_the_buyer_receives_in_stage_order() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let buyer = app.user("bidder").await;
    let stranger = app.user("bidder").await;
    let sale = seed_sale(&app, &seller, &buyer, 100_000, "awaiting_shipment").await;
    let shipped = format!("/api/v1/invoices/{sale}/shipped");
    let received = format!("/api/v1/invoices/{sale}/received");
    let shipping = json!({ "carrier": "GIG Logistics", "tracking": "GIG-1" });

    // The buyer may not ship; to a stranger the sale does not exist.
    expect_error(
        post(&app, &shipped, &shipping, &buyer).await,
        StatusCode::FORBIDDEN,
        "not_your_sale",
    )
    .await;
    expect_error(
        post(&app, &shipped, &shipping, &stranger).await,
        StatusCode::NOT_FOUND,
        "sale_not_found",
    )
    .await;
    let missing = format!("/api/v1/invoices/{}/shipped", Uuid::new_v4());
    expect_error(
        post(&app, &missing, &shipping, &seller).await,
        StatusCode::NOT_FOUND,
        "sale_not_found",
    )
    .await;
    // Not received before it is shipped.
    let err = expect_error(
        post(&app, &received, &json!({}), &buyer).await,
        StatusCode::CONFLICT,
        "wrong_stage",
    )
    .await;
    assert_eq!(err.error.details.unwrap()["stage"], "awaiting_shipment");
    // Text rules: too long, hidden characters.
    let long = "x".repeat(101);
    expect_error(
        post(&app, &shipped, &json!({ "tracking": long }), &seller).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_shipping",
    )
    .await;
    expect_error(
        post(
            &app,
            &shipped,
            &json!({ "carrier": "evil\u{202E}" }),
            &seller,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_text",
    )
    .await;

    let body = expect_status(
        post(&app, &shipped, &shipping, &seller).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["stage"], "shipped");
    assert_eq!(body["carrier"], "GIG Logistics");
    assert_eq!(body["tracking"], "GIG-1");
    // Once only.
    let err = expect_error(
        post(&app, &shipped, &shipping, &seller).await,
        StatusCode::CONFLICT,
        "wrong_stage",
    )
    .await;
    assert_eq!(err.error.details.unwrap()["stage"], "shipped");

    expect_error(
        post(&app, &received, &json!({}), &seller).await,
        StatusCode::FORBIDDEN,
        "not_your_sale",
    )
    .await;
    let body = expect_status(
        post(&app, &received, &json!({}), &buyer).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["stage"], "received");
    assert!(body["received_at"].is_string());
    // The buyer does not see the seller's money.
    assert!(body["payout"].is_null(), "{body}");

    // The sale as each party reads it; a stranger gets 404.
    let seen = expect_status(
        app.get(
            &format!("/api/v1/invoices/{sale}/sale"),
            Some(&seller.token),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(seen["sale"]["stage"], "received");
    assert_eq!(seen["sale"]["payout"]["hammer"], 100_000);
    assert!(seen["money"].is_null(), "no workflow runs: {seen}");
    expect_error(
        app.get(
            &format!("/api/v1/invoices/{sale}/sale"),
            Some(&stranger.token),
        )
        .await,
        StatusCode::NOT_FOUND,
        "sale_not_found",
    )
    .await;
}

#[tokio::test]
async fn a_race_of_two_ships_has_one_winner() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let buyer = app.user("bidder").await;
    let sale = seed_sale(&app, &seller, &buyer, 50_000, "awaiting_shipment").await;
    let shipped = format!("/api/v1/invoices/{sale}/shipped");
    let tries = (0..8).map(|i| {
        let body = json!({ "tracking": format!("T-{i}") });
        let app = &app;
        let shipped = &shipped;
        let seller = &seller;
        async move { post(app, shipped, &body, seller).await.status() }
    });
    let statuses = futures::future::join_all(tries).await;
    let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let lost = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((won, lost), (1, 7), "{statuses:?}");
}

#[tokio::test]
async fn claims_are_the_buyers_within_the_stage_and_what_was_paid_and_one_per_sale() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let buyer = app.user("bidder").await;
    let waiting = seed_sale(&app, &seller, &buyer, 100_000, "awaiting_shipment").await;
    let closed = seed_sale(&app, &seller, &buyer, 100_000, "closed").await;
    let sale = seed_sale(&app, &seller, &buyer, 100_000, "shipped").await;
    let claim = json!({ "reason": "the frame arrived chipped", "amount": 20_000 });

    for (id, stage) in [(waiting, "awaiting_shipment"), (closed, "closed")] {
        let err = expect_error(
            post(
                &app,
                &format!("/api/v1/invoices/{id}/claims"),
                &claim,
                &buyer,
            )
            .await,
            StatusCode::CONFLICT,
            "claims_closed",
        )
        .await;
        assert_eq!(err.error.details.unwrap()["stage"], stage);
    }
    let claims = format!("/api/v1/invoices/{sale}/claims");
    expect_error(
        post(&app, &claims, &claim, &seller).await,
        StatusCode::FORBIDDEN,
        "not_your_sale",
    )
    .await;
    expect_error(
        post(
            &app,
            &claims,
            &json!({ "reason": "x", "amount": 100_001 }),
            &buyer,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "claim_exceeds_payment",
    )
    .await;
    expect_error(
        post(
            &app,
            &claims,
            &json!({ "reason": "x", "amount": 0 }),
            &buyer,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_amount",
    )
    .await;
    expect_error(
        post(&app, &claims, &json!({ "reason": "  " }), &buyer).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_reason",
    )
    .await;

    let opened = expect_status(
        post(&app, &claims, &claim, &buyer).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(opened["state"], "open");
    assert_eq!(opened["amount"], 20_000);
    let err = expect_error(
        post(&app, &claims, &claim, &buyer).await,
        StatusCode::CONFLICT,
        "claim_exists",
    )
    .await;
    assert_eq!(err.error.details.unwrap()["claim_id"], opened["id"]);
}

#[tokio::test]
async fn an_accepted_claim_records_its_refund_and_the_statement_adds_up() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let buyer = app.user("bidder").await;
    let admin = app.admin().await;
    let sale = seed_sale(&app, &seller, &buyer, 100_000, "received").await;
    let opened = expect_status(
        post(
            &app,
            &format!("/api/v1/invoices/{sale}/claims"),
            &json!({ "reason": "chipped", "amount": 20_000 }),
            &buyer,
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let claim_id = opened["id"].as_i64().unwrap();
    let answer = format!("/api/v1/claims/{claim_id}/answer");

    expect_error(
        post(&app, &answer, &json!({ "accept": true }), &buyer).await,
        StatusCode::FORBIDDEN,
        "not_your_sale",
    )
    .await;
    expect_error(
        post(
            &app,
            "/api/v1/claims/999999/answer",
            &json!({ "accept": true }),
            &seller,
        )
        .await,
        StatusCode::NOT_FOUND,
        "claim_not_found",
    )
    .await;
    expect_error(
        post(
            &app,
            &answer,
            &json!({ "accept": true, "refund_amount": 0 }),
            &seller,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_amount",
    )
    .await;
    let err = expect_error(
        post(
            &app,
            &answer,
            &json!({ "accept": true, "refund_amount": 100_001 }),
            &seller,
        )
        .await,
        StatusCode::CONFLICT,
        "refund_exceeds_payment",
    )
    .await;
    assert_eq!(err.error.details.unwrap()["left"], 100_000);

    // Accepted at what the buyer asked.
    let answered = expect_status(
        post(&app, &answer, &json!({ "accept": true }), &seller).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answered["state"], "accepted");
    assert_eq!(answered["refund_amount"], 20_000);
    let (amount, state, key, asked_by): (i64, String, String, Option<Uuid>) = sqlx::query_as(
        "SELECT amount, state, idempotency_key, asked_by FROM refunds WHERE id = $1",
    )
    .bind(answered["refund_id"].as_i64().unwrap())
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        (amount, state.as_str(), key, asked_by),
        (
            20_000,
            "requested",
            gavel_store::sales::claim_refund_key(claim_id),
            None
        )
    );
    // Answered once; an admin decides only what is contested or unanswered.
    let err = expect_error(
        post(&app, &answer, &json!({ "accept": false }), &seller).await,
        StatusCode::CONFLICT,
        "claim_not_open",
    )
    .await;
    assert_eq!(err.error.details.unwrap()["state"], "accepted");
    expect_error(
        post(
            &app,
            &format!("/api/v1/admin/claims/{claim_id}/decide"),
            &json!({ "refund_amount": 1 }),
            &admin,
        )
        .await,
        StatusCode::CONFLICT,
        "claim_not_open",
    )
    .await;

    // The statement: 100,000 − 20,000 in flight − 8,000 (10 %) = 72,000.
    let statement = expect_status(
        app.get("/api/v1/me/payouts", Some(&seller.token)).await,
        StatusCode::OK,
    )
    .await;
    let items = statement["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{statement}");
    let payout = &items[0]["payout"];
    assert_eq!(payout["hammer"], 100_000);
    assert_eq!(payout["refunds"], 20_000);
    assert_eq!(payout["refunds_in_flight"], 20_000);
    assert_eq!(payout["refunds_processed"], 0);
    assert_eq!(payout["commission"], 8_000);
    assert_eq!(payout["payout"], 72_000);
    assert_eq!(payout["fixed"], false);
    assert_eq!(payout["state"], "held");
    assert_eq!(items[0]["claim"]["state"], "accepted");
    let purchases = expect_status(
        app.get("/api/v1/me/purchases", Some(&buyer.token)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(purchases["items"][0]["claim"]["id"], claim_id);
    assert!(purchases["items"][0]["payout"].is_null());
}

#[tokio::test]
async fn an_admin_decides_a_contested_claim() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let buyer = app.user("bidder").await;
    let admin = app.admin().await;
    let mut claims = Vec::new();
    for _ in 0..2 {
        let sale = seed_sale(&app, &seller, &buyer, 60_000, "shipped").await;
        let opened = expect_status(
            post(
                &app,
                &format!("/api/v1/invoices/{sale}/claims"),
                &json!({ "reason": "never arrived" }),
                &buyer,
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        let id = opened["id"].as_i64().unwrap();
        let contested = expect_status(
            post(
                &app,
                &format!("/api/v1/claims/{id}/answer"),
                &json!({ "accept": false }),
                &seller,
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(contested["state"], "contested");
        claims.push(id);
    }
    let decide = |id: i64| format!("/api/v1/admin/claims/{id}/decide");

    expect_error(
        post(
            &app,
            &decide(claims[0]),
            &json!({ "refund_amount": 1 }),
            &seller,
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        post(
            &app,
            &decide(claims[0]),
            &json!({ "refund_amount": -1 }),
            &admin,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_amount",
    )
    .await;
    expect_error(
        post(
            &app,
            &decide(claims[0]),
            &json!({ "refund_amount": 60_001 }),
            &admin,
        )
        .await,
        StatusCode::CONFLICT,
        "refund_exceeds_payment",
    )
    .await;
    // All of it back.
    let decided = expect_status(
        post(
            &app,
            &decide(claims[0]),
            &json!({ "refund_amount": 60_000 }),
            &admin,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(decided["state"], "decided");
    assert_eq!(decided["refund_amount"], 60_000);
    let key: String = sqlx::query_scalar("SELECT idempotency_key FROM refunds WHERE id = $1")
        .bind(decided["refund_id"].as_i64().unwrap())
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(key, gavel_store::sales::claim_refund_key(claims[0]));
    // Nothing back: no refund row.
    let decided = expect_status(
        post(
            &app,
            &decide(claims[1]),
            &json!({ "refund_amount": 0 }),
            &admin,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(decided["state"], "decided");
    assert_eq!(decided["refund_amount"], 0);
    assert!(decided["refund_id"].is_null());
    assert_eq!(
        app.count("SELECT count(*) FROM refunds").await,
        1,
        "only the first decision gave money back"
    );
}

#[tokio::test]
async fn admins_list_payouts_by_state_with_what_the_ledger_holds() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let buyer = app.user("bidder").await;
    let admin = app.admin().await;
    let held = seed_sale(&app, &seller, &buyer, 30_000, "shipped").await;
    let paid = seed_sale(&app, &seller, &buyer, 40_000, "closed").await;
    sqlx::query(
        "UPDATE sales SET payout_state = 'paid', refunded = 0, commission = 4000, payout = 36000,
                paid_out_at = now()
          WHERE invoice_id = $1",
    )
    .bind(paid)
    .execute(&app.db)
    .await
    .unwrap();

    expect_error(
        app.get("/api/v1/admin/payouts", Some(&seller.token)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.get("/api/v1/admin/payouts?state=lost", Some(&admin.token))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_state",
    )
    .await;
    let all = expect_status(
        app.get("/api/v1/admin/payouts", Some(&admin.token)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    // Only the sale not paid out is held for.
    assert_eq!(all["ledger_needs"]["held_for_sales"], 30_000);
    assert_eq!(all["ledger_needs"]["total"], 30_000);

    let list = expect_status(
        app.get("/api/v1/admin/payouts?state=paid", Some(&admin.token))
            .await,
        StatusCode::OK,
    )
    .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["invoice_id"], paid.to_string());
    let payout = &items[0]["payout"];
    assert_eq!(payout["fixed"], true);
    assert_eq!(
        payout["hammer"].as_i64().unwrap(),
        payout["refunds"].as_i64().unwrap()
            + payout["commission"].as_i64().unwrap()
            + payout["payout"].as_i64().unwrap()
    );
    let list = expect_status(
        app.get("/api/v1/admin/payouts?state=held", Some(&admin.token))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"][0]["invoice_id"], held.to_string());
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

/// `/me` of `user` (signed in by the session cookie) and the CSRF token its
/// forms carry.
async fn me_page(app: &TestApp, cookie: &str) -> (String, String) {
    let page = app
        .request(reqwest::Method::GET, "/me", None)
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::helpers::form_token(&page);
    (page, csrf)
}

async fn post_form(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let response = app
        .http
        .post(app.url(path))
        .header(reqwest::header::COOKIE, cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn the_me_page_ships_receives_claims_and_answers_through_the_service() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let buyer = app.user("bidder").await;
    let sale = seed_sale(&app, &seller, &buyer, 100_000, "awaiting_shipment").await;
    let csrf_cookie = "c0de".repeat(16);
    let seller_cookie = format!("gavel_session={}; gavel_csrf={csrf_cookie}", seller.token);
    let buyer_cookie = format!("gavel_session={}; gavel_csrf={csrf_cookie}", buyer.token);
    let stage = || async {
        sqlx::query_scalar::<_, String>("SELECT stage FROM sales WHERE invoice_id = $1")
            .bind(sale)
            .fetch_one(&app.db)
            .await
            .unwrap()
    };

    let (page, seller_csrf) = me_page(&app, &seller_cookie).await;
    assert!(
        page.contains("Your sales") && page.contains("Mark shipped"),
        "{page}"
    );
    let (_, buyer_csrf) = me_page(&app, &buyer_cookie).await;
    // The buyer may not ship: the refusal is worded, nothing moves.
    let (status, text) = post_form(
        &app,
        &buyer_cookie,
        &format!("/me/sales/{sale}/shipped"),
        &[("csrf", &buyer_csrf), ("carrier", "GIG")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(text.contains("Only the sale"), "{text}");
    // Without the page's token nothing moves either.
    let (status, _) = post_form(
        &app,
        &seller_cookie,
        &format!("/me/sales/{sale}/shipped"),
        &[("csrf", "wrong"), ("carrier", "GIG")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(stage().await, "awaiting_shipment");

    let (status, _) = post_form(
        &app,
        &seller_cookie,
        &format!("/me/sales/{sale}/shipped"),
        &[
            ("csrf", &seller_csrf),
            ("carrier", "GIG"),
            ("tracking", "T-9"),
        ],
    )
    .await;
    assert!(status.is_success() || status.is_redirection(), "{status}");
    assert_eq!(stage().await, "shipped");

    let (page, buyer_csrf) = me_page(&app, &buyer_cookie).await;
    assert!(
        page.contains("Your purchases") && page.contains("I have received it"),
        "{page}"
    );
    post_form(
        &app,
        &buyer_cookie,
        &format!("/me/sales/{sale}/received"),
        &[("csrf", &buyer_csrf)],
    )
    .await;
    assert_eq!(stage().await, "received");
    let (status, text) = post_form(
        &app,
        &buyer_cookie,
        &format!("/me/sales/{sale}/claim"),
        &[
            ("csrf", &buyer_csrf),
            ("reason", "chipped"),
            ("amount", "lots"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text.contains("Enter an amount"), "{text}");
    post_form(
        &app,
        &buyer_cookie,
        &format!("/me/sales/{sale}/claim"),
        &[
            ("csrf", &buyer_csrf),
            ("reason", "chipped"),
            ("amount", "200"),
        ],
    )
    .await;
    let claim_id: i64 = sqlx::query_scalar("SELECT id FROM claims WHERE invoice_id = $1")
        .bind(sale)
        .fetch_one(&app.db)
        .await
        .unwrap();

    let (page, seller_csrf) = me_page(&app, &seller_cookie).await;
    assert!(page.contains("Accept with refund of"), "{page}");
    post_form(
        &app,
        &seller_cookie,
        &format!("/me/claims/{claim_id}/answer"),
        &[
            ("csrf", &seller_csrf),
            ("answer", "accept"),
            ("refund_amount", "150"),
        ],
    )
    .await;
    let (state, refund): (String, Option<i64>) =
        sqlx::query_as("SELECT state, refund_amount FROM claims WHERE id = $1")
            .bind(claim_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((state.as_str(), refund), ("accepted", Some(15_000)));
    // The statement: 100,000 − 15,000 − 8,500 = 76,500 (shown in naira).
    let (page, _) = me_page(&app, &seller_cookie).await;
    for amount in ["₦1,000", "₦150", "₦85", "₦765"] {
        assert!(
            page.contains(&format!("<td>{amount}</td>")),
            "{amount}: {page}"
        );
    }
}
