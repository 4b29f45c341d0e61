//! Paystack and Brevo stand-ins (wiremock, shaped like their documented
//! contracts) and the settlement scenes built on them: a seller, two
//! bidders, an app wired to the mocks, and the fixtures the money tests
//! share (signed webhooks, verify answers, pay links, refunds).

use reqwest::StatusCode;
use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use gavel_api::routes::invoices::{InvoiceList, InvoiceResponse};

use crate::helpers::{
    TestApp, TestUser, TimeSkippingServer, auction_body, eventually, expect_json, http_args,
    settlement_args, spawn_app_on, spawn_app_with_settlement,
};

pub(crate) use gavel_testkit::paystack::{
    KEY, charge_success, checkout, sign, transaction_id, verified,
};

/// Paystack and Brevo mocks and an app wired to them.
pub(crate) struct Scene {
    pub app: TestApp,
    pub paystack: MockServer,
    pub brevo: MockServer,
    pub seller: TestUser,
    pub ada: TestUser,
    pub bola: TestUser,
    /// The time-skipping server, for scenes that step through payment windows.
    pub _server: Option<TimeSkippingServer>,
}

/// The stand-ins and the app on the shared Temporal dev server.
pub(crate) async fn scene() -> Scene {
    scene_on(None).await
}

/// The stand-ins and the app on a time-skipping test server of its own
/// (payment windows pass in milliseconds).
pub(crate) async fn skipping_paystack_scene() -> Scene {
    let server = TimeSkippingServer::start();
    let scene = scene_on(Some(server)).await;
    scene.app.add_search_attributes().await;
    scene.app.lock_time().await;
    scene
}

/// The stand-ins and the app on the Temporal server at `temporal` (one the
/// test stops and starts).
pub(crate) async fn scene_at(temporal: std::net::SocketAddr) -> Scene {
    scene_with(Some(temporal), None).await
}

async fn scene_on(server: Option<TimeSkippingServer>) -> Scene {
    let address = server.as_ref().map(|server| server.address);
    scene_with(address, server).await
}

async fn scene_with(
    temporal: Option<std::net::SocketAddr>,
    server: Option<TimeSkippingServer>,
) -> Scene {
    let paystack = MockServer::start().await;
    let brevo = gavel_testkit::mail::brevo().await;
    let settlement = gavel_testkit::paystack::wired(settlement_args(), &paystack, &brevo);
    let app = match temporal {
        Some(address) => spawn_app_on(address, http_args(), settlement).await,
        None => spawn_app_with_settlement(settlement).await,
    };
    let seller = app.user("seller").await;
    let ada = app.user("bidder").await;
    let bola = app.user("bidder").await;
    Scene {
        app,
        paystack,
        brevo,
        seller,
        ada,
        bola,
        _server: server,
    }
}

pub(crate) async fn post_webhook(
    app: &TestApp,
    body: &[u8],
    signature: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .request(reqwest::Method::POST, "/api/v1/webhooks/paystack", None)
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("x-paystack-signature", signature);
    }
    request.send().await.unwrap()
}

/// Bola wins at 1,500 over Ada's 1,000; returns the auction id once it
/// awaits payment.
pub(crate) async fn won_by_bola(s: &Scene) -> String {
    let mut body = auction_body(3);
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let auction = s.app.create_auction(&s.seller, &body).await;
    let id = auction.id.to_string();
    s.app.bid_ok(&s.ada, &id, 1_000, None).await;
    s.app.bid_ok(&s.bola, &id, 1_500, None).await;
    s.app.wait_for_status(&id, "awaiting_payment", 20).await;
    id
}

/// Bola paid before and kept his card: a reusable card bound to
/// `bola-card@example.com`.
pub(crate) async fn store_bolas_card(s: &Scene) {
    sqlx::query(
        "INSERT INTO payment_authorizations (user_id, signature, authorization_code, email,
             consented_at)
         VALUES ($1::uuid, 'SIG_card', 'AUTH_stored', 'bola-card@example.com', now())",
    )
    .bind(&s.bola.id)
    .execute(&s.app.db)
    .await
    .unwrap();
}

/// The one invoice's Paystack reference.
pub(crate) async fn invoice_reference(app: &TestApp) -> String {
    let (reference,): (String,) = sqlx::query_as("SELECT reference FROM invoices")
        .fetch_one(&app.db)
        .await
        .unwrap();
    reference
}

/// Bola's invoice once its pay link is there.
pub(crate) async fn bola_pay_link(s: &Scene) -> InvoiceResponse {
    eventually(30, || async {
        let invoice = bola_invoice(s).await;
        if invoice.pay_link.is_none() {
            Err(format!("no pay link: {invoice:?}"))
        } else {
            Ok(invoice)
        }
    })
    .await
}

/// Paystack makes pay links at `url`; Bola wins and gets one. Returns the
/// auction id and the invoice's reference.
pub(crate) async fn awaiting_pay_link(s: &Scene, url: &str) -> (String, String) {
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .respond_with(checkout(url))
        .mount(&s.paystack)
        .await;
    let id = won_by_bola(s).await;
    bola_pay_link(s).await;
    (id, invoice_reference(&s.app).await)
}

/// Paystack verifies `reference` as paid `amount` NGN.
pub(crate) async fn mount_verified(paystack: &MockServer, reference: &str, amount: i64) {
    Mock::given(method("GET"))
        .and(path(format!("/transaction/verify/{reference}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(verified(reference, amount)))
        .mount(paystack)
        .await;
}

pub(crate) async fn bola_invoice(s: &Scene) -> InvoiceResponse {
    let mut list: InvoiceList = expect_json(
        s.app.get("/api/v1/me/invoices", Some(&s.bola.token)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list.items.len(), 1, "{list:?}");
    list.items.remove(0)
}

/// Paystack accepts refunds (a `pending` refund, as it answers).
pub(crate) async fn mount_refunds(paystack: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/refund"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": true, "message": "Refund has been queued for processing",
            "data": { "id": 3_018_284, "status": "pending", "amount": 999, "currency": "NGN" }
        })))
        .mount(paystack)
        .await;
}

pub(crate) async fn wait_for_problem(app: &TestApp, id: &str) -> String {
    eventually(20, || async {
        app.auction_handle(id)
            .query(
                gavel_workflows::auction::AuctionWorkflow::settlement_problem,
                (),
                Default::default(),
            )
            .await
            .unwrap()
            .problem
            .ok_or_else(|| "no problem reported".to_owned())
    })
    .await
}

/// The time-skipping server with the app on it (no Paystack: offline payment).
pub(crate) async fn skipping_scene() -> (TimeSkippingServer, TestApp) {
    let server = TimeSkippingServer::start();
    let app = spawn_app_on(server.address, http_args(), settlement_args()).await;
    app.add_search_attributes().await;
    app.lock_time().await;
    (server, app)
}

/// Lets time pass on the test server, then a moment of real time for the
/// worker to act on what came due.
pub(crate) async fn skip_and_settle(app: &TestApp, secs: i64) {
    app.skip_time(secs).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
}

pub(crate) async fn wait_until<F, Fut>(condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually(20, || async {
        condition()
            .await
            .then_some(())
            .ok_or_else(|| "condition never held".to_owned())
    })
    .await;
}

/// `gavel dev`'s Paystack stand-in pays sellers: banks, account names and
/// recipients, then a transfer answered `pending` whose signed
/// `transfer.success` reaches the API; its page switches the next transfer
/// to fail, and a duplicate reference or a short balance is refused.
#[tokio::test]
async fn the_paystack_stand_in_makes_transfers_and_signs_their_webhooks() {
    use secrecy::ExposeSecret;
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/webhooks/paystack"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&api)
        .await;
    let api_url = std::sync::Arc::new(std::sync::OnceLock::new());
    api_url.set(api.uri()).unwrap();
    let stand_in = gavel::paystack_stand_in::start(api_url).await.unwrap();
    let key = stand_in.secret_key();
    let base = stand_in.base_url.clone();
    let http = reqwest::Client::new();
    let bearer = format!("Bearer {}", key.expose_secret());
    let get = |p: &str| {
        http.get(format!("{base}{p}"))
            .header("authorization", &bearer)
            .send()
    };

    let banks: serde_json::Value = get("/bank?currency=NGN")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let codes: Vec<&str> = banks["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["code"].as_str())
        .collect();
    for code in ["001", "058", "044"] {
        assert!(codes.contains(&code), "{codes:?}");
    }
    let resolved: serde_json::Value = get("/bank/resolve?account_number=0001234567&bank_code=058")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let name = resolved["data"]["account_name"]
        .as_str()
        .unwrap()
        .to_owned();
    let again: serde_json::Value = get("/bank/resolve?account_number=0001234567&bank_code=058")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["data"]["account_name"], name.as_str(), "stable");
    let unknown = get("/bank/resolve?account_number=0000000000&bank_code=058")
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let post = |p: &str, body: serde_json::Value| {
        http.post(format!("{base}{p}"))
            .header("authorization", &bearer)
            .json(&body)
            .send()
    };
    let recipient = json!({ "type": "nuban", "name": name, "account_number": "0001234567",
                            "bank_code": "058", "currency": "NGN" });
    let created = post("/transferrecipient", recipient.clone()).await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: serde_json::Value = created.json().await.unwrap();
    let code = created["data"]["recipient_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let same: serde_json::Value = post("/transferrecipient", recipient)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(same["data"]["recipient_code"], code.as_str());

    let transfer = |reference: &str, amount: i64| {
        post(
            "/transfer",
            json!({ "source": "balance", "amount": amount, "recipient": code,
                    "reference": reference, "reason": "payout", "currency": "NGN" }),
        )
    };
    let queued: serde_json::Value = transfer("gvl-po-standin-a1", 250_000)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(queued["data"]["status"], "pending");
    let duplicate = transfer("gvl-po-standin-a1", 250_000).await.unwrap();
    assert_eq!(duplicate.status(), StatusCode::BAD_REQUEST);
    let duplicate: serde_json::Value = duplicate.json().await.unwrap();
    assert_eq!(duplicate["code"], "duplicate_transfer_reference");

    let webhooks = |count: usize| {
        let api = &api;
        async move {
            eventually(10, || async move {
                let received = api.received_requests().await.unwrap_or_default();
                if received.len() >= count {
                    Ok(received)
                } else {
                    Err(format!("{} of {count} webhooks", received.len()))
                }
            })
            .await
        }
    };
    let received = webhooks(1).await;
    let first = &received[0];
    let signature = first
        .headers
        .get("x-paystack-signature")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(gavel_api::routes::webhooks::signature_ok(
        &key,
        &first.body,
        signature
    ));
    let event: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(event["event"], "transfer.success");
    assert_eq!(event["data"]["reference"], "gvl-po-standin-a1");
    assert_eq!(event["data"]["recipient"]["recipient_code"], code.as_str());
    let verified: serde_json::Value = get("/transfer/verify/gvl-po-standin-a1")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verified["data"]["status"], "success");

    // The page's switch: the next transfer fails.
    let page = http
        .get(format!("{base}/_gavel/transfers"))
        .send()
        .await
        .unwrap();
    assert!(page.text().await.unwrap().contains("gvl-po-standin-a1"));
    let switched = http
        .post(format!("{base}/_gavel/transfers/next"))
        .form(&[("outcome", "fail")])
        .send()
        .await
        .unwrap();
    assert!(switched.status().is_success(), "{}", switched.status());
    transfer("gvl-po-standin-a2", 100_000).await.unwrap();
    let received = webhooks(2).await;
    let event: serde_json::Value = serde_json::from_slice(&received[1].body).unwrap();
    assert_eq!(event["event"], "transfer.failed");

    // A balance too small refuses the next one.
    http.post(format!("{base}/_gavel/transfers/balance"))
        .form(&[("naira", "100")])
        .send()
        .await
        .unwrap();
    let short = transfer("gvl-po-standin-a3", 250_000).await.unwrap();
    assert_eq!(short.status(), StatusCode::BAD_REQUEST);
    let short: serde_json::Value = short.json().await.unwrap();
    assert!(
        short["message"]
            .as_str()
            .unwrap()
            .contains("balance is not enough")
    );
}
