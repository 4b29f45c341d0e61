//! A stand-in for Paystack, run by `gavel dev` when no `PAYSTACK_SECRET_KEY`
//! is set, so the whole sale can be tried on one machine: Gavel calls it as
//! it calls Paystack (initialize, verify, charge, refund), and its checkout
//! page takes a "payment" with one click, then sends the signed
//! `charge.success` webhook exactly as Paystack does and sends the buyer
//! back to Gavel. No money moves and nothing leaves the machine. Its secret
//! key (which signs the webhooks) is made for each run and handed to the API
//! in-process, never logged: no one who reaches a dev API can sign events.
//! Its API answers only that key as a bearer token, as Paystack's does, so
//! no one else on the machine can start a checkout (and with it a signed
//! webhook); the checkout page is the buyer's and open, but only for
//! references Gavel started.
//!
//! It pays sellers too: banks (`/bank`, `/bank/resolve`: a made-up name,
//! stable per account number; `0000000000` does not resolve), transfer
//! recipients (a stable `RCP_` code per bank and account, valid across runs),
//! transfers from a stand-in balance (`/transfer`, `/transfer/verify`,
//! `/transfer/finalize_transfer`, `/balance`) that answer `pending` and about
//! a second later send the signed `transfer.success` webhook. Its open page
//! `/_gavel/transfers` lists the transfers, sets the stand-in balance and
//! picks what the NEXT transfer does: succeed, fail (`transfer.failed`),
//! reverse (`transfer.reversed`) or ask for an OTP (finalized with
//! `123456`; any other OTP fails it). That page moves no money either.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use axum::{
    Json, Router,
    extract::{Path, Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{delete, get, post},
};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::webhook;

#[derive(Debug, Clone)]
struct Checkout {
    id: u64,
    amount: i64,
    currency: String,
    email: String,
    callback: Option<String>,
    paid_at: Option<String>,
}

struct Inner {
    checkouts: Mutex<HashMap<String, Checkout>>,
    payouts: Mutex<payouts::Payouts>,
    base: String,
    /// Where the API listens (known once it is bound).
    api: Arc<OnceLock<String>>,
    http: reqwest::Client,
    /// Signs the webhooks; Gavel checks them with the same key.
    key: SecretString,
}

type Shared = Arc<Inner>;

/// A running stand-in.
pub struct StandIn {
    /// Use as `PAYSTACK_BASE_URL`.
    pub base_url: String,
    key: SecretString,
}

impl StandIn {
    /// Use as `PAYSTACK_SECRET_KEY`: this run's own key.
    pub fn secret_key(&self) -> SecretString {
        self.key.clone()
    }
}

/// A fresh random key, shaped like Paystack's test keys.
fn run_key() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    SecretString::from(format!("sk_test_{}", hex::encode(bytes)))
}

/// Starts the stand-in on a free local port. Webhooks go to the address
/// `api` holds once set (`http://host:port`).
pub async fn start(api: Arc<OnceLock<String>>) -> anyhow::Result<StandIn> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let key = run_key();
    let shared: Shared = Arc::new(Inner {
        checkouts: Mutex::default(),
        payouts: Mutex::new(payouts::Payouts::default()),
        base: base.clone(),
        api,
        http: reqwest::Client::new(),
        key: key.clone(),
    });
    let app = Router::new()
        .route("/transaction/initialize", post(initialize))
        .route("/transaction/verify/{reference}", get(verify))
        .route(
            "/transaction/charge_authorization",
            post(charge_authorization),
        )
        .route("/refund", post(refund).get(refunds))
        .route("/bank", get(payouts::banks))
        .route("/bank/resolve", get(payouts::resolve))
        .route("/transferrecipient", post(payouts::create_recipient))
        .route(
            "/transferrecipient/{code}",
            delete(payouts::delete_recipient),
        )
        .route("/transfer", post(payouts::transfer))
        .route(
            "/transfer/verify/{reference}",
            get(payouts::verify_transfer),
        )
        .route("/transfer/finalize_transfer", post(payouts::finalize))
        .route("/balance", get(payouts::balance))
        .route_layer(middleware::from_fn_with_state(shared.clone(), run_key_only))
        .route("/checkout/{reference}", get(checkout).post(pay))
        .route("/_gavel/transfers", get(payouts::page))
        .route("/_gavel/transfers/next", post(payouts::set_next))
        .route("/_gavel/transfers/balance", post(payouts::set_balance))
        .with_state(shared);
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!("the Paystack stand-in stopped: {err}");
        }
    });
    Ok(StandIn {
        base_url: base,
        key,
    })
}

/// Lets through only requests bearing this run's key (compared in constant
/// time), else 401 as Paystack answers a wrong key.
async fn run_key_only(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let expected = format!("Bearer {}", shared.key.expose_secret());
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let same = given.len() == expected.len()
        && given
            .iter()
            .zip(expected.as_bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0;
    if same {
        next.run(request).await
    } else {
        refused(StatusCode::UNAUTHORIZED, "Invalid key")
    }
}

fn ok(message: &str, data: Value) -> Response {
    Json(json!({ "status": true, "message": message, "data": data })).into_response()
}

fn refused(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "status": false, "message": message }))).into_response()
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, HashMap<String, Checkout>> {
    shared
        .checkouts
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn initialize(State(shared): State<Shared>, Json(body): Json<Value>) -> Response {
    let (Some(reference), Some(amount)) = (body["reference"].as_str(), body["amount"].as_i64())
    else {
        return refused(StatusCode::BAD_REQUEST, "reference and amount are required");
    };
    let mut checkouts = lock(&shared);
    let id = 4_000_000_000 + checkouts.len() as u64;
    let checkout = checkouts
        .entry(reference.to_owned())
        .or_insert_with(|| Checkout {
            id,
            amount,
            currency: body["currency"].as_str().unwrap_or("NGN").to_owned(),
            email: body["email"].as_str().unwrap_or_default().to_owned(),
            callback: body["callback_url"].as_str().map(str::to_owned),
            paid_at: None,
        });
    let _ = checkout;
    ok(
        "Authorization URL created",
        json!({
            "authorization_url": format!("{}/checkout/{reference}", shared.base),
            "access_code": format!("stand-in-{reference}"),
            "reference": reference,
        }),
    )
}

fn transaction(reference: &str, checkout: &Checkout) -> Value {
    json!({
        "id": checkout.id,
        "status": if checkout.paid_at.is_some() { "success" } else { "abandoned" },
        "reference": reference,
        "amount": checkout.amount,
        "currency": checkout.currency,
        "gateway_response": if checkout.paid_at.is_some() { "Successful" } else { "The transaction was not completed" },
        "paid_at": checkout.paid_at,
        "channel": "card",
        "customer": { "email": checkout.email },
        "metadata": {},
    })
}

async fn verify(State(shared): State<Shared>, Path(reference): Path<String>) -> Response {
    match lock(&shared).get(&reference) {
        Some(checkout) => ok("Verification successful", transaction(&reference, checkout)),
        None => refused(StatusCode::BAD_REQUEST, "Transaction reference not found"),
    }
}

/// The stand-in keeps no cards: a saved-card charge fails, and Gavel falls
/// back to a checkout.
async fn charge_authorization(Json(body): Json<Value>) -> Response {
    ok(
        "Charge attempted",
        json!({
            "status": "failed",
            "reference": body["reference"],
            "amount": body["amount"],
            "currency": body["currency"],
            "gateway_response": "Declined: the stand-in keeps no cards",
        }),
    )
}

/// Every refund is done at once, each with an id of its own and the amount
/// asked (a partial refund) or none (the whole transaction).
async fn refund(Json(body): Json<Value>) -> Response {
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ok(
        "Refund has been queued for processing",
        json!({ "id": id, "status": "processed", "amount": body["amount"] }),
    )
}

async fn refunds() -> Response {
    ok("Refunds retrieved", json!([]))
}

async fn checkout(State(shared): State<Shared>, Path(reference): Path<String>) -> Response {
    let Some(found) = lock(&shared).get(&reference).cloned() else {
        return (StatusCode::NOT_FOUND, "no such checkout").into_response();
    };
    let amount = gavel_api::web::money::format(found.amount, &found.currency);
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let state = if found.paid_at.is_some() {
        "<p><strong>Paid.</strong></p>".to_owned()
    } else {
        format!(
            "<form method=\"post\"><button id=\"pay\" type=\"submit\">Pay {amount}</button></form>"
        )
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Paystack stand-in</title></head><body>\
         <h1>Paystack stand-in</h1>\
         <p>Gavel's local stand-in for Paystack's checkout: no money moves.</p>\
         <p>{amount} from {}</p><p>Reference {}</p>{state}</body></html>",
        escape(&found.email),
        escape(&reference),
    ))
    .into_response()
}

/// The buyer "pays": Paystack's webhook goes to Gavel, and the buyer back.
async fn pay(State(shared): State<Shared>, Path(reference): Path<String>) -> Response {
    let found = {
        let mut checkouts = lock(&shared);
        let Some(found) = checkouts.get_mut(&reference) else {
            return (StatusCode::NOT_FOUND, "no such checkout").into_response();
        };
        found
            .paid_at
            .get_or_insert_with(|| chrono::Utc::now().to_rfc3339());
        found.clone()
    };
    let body = webhook::event_body("charge.success", &reference, found.amount, &found.currency);
    deliver(&shared, &body).await;
    let back = found
        .callback
        .map(|url| format!("{url}?trxref={reference}&reference={reference}"))
        .or_else(|| shared.api.get().map(|api| format!("{api}/me")))
        .unwrap_or_else(|| "/".to_owned());
    Redirect::to(&back).into_response()
}

/// Posts a signed event to the API, as Paystack does (once; a failure is
/// logged).
async fn deliver(shared: &Shared, body: &Value) {
    let bytes = body.to_string().into_bytes();
    if let (Some(api), Ok(signature)) = (
        shared.api.get(),
        webhook::sign(shared.key.expose_secret(), &bytes),
    ) {
        let sent = shared
            .http
            .post(format!("{api}/api/v1/webhooks/paystack"))
            .header("content-type", "application/json")
            .header("x-paystack-signature", signature)
            .body(bytes)
            .send()
            .await;
        if let Err(err) = sent {
            tracing::warn!("the stand-in could not deliver its webhook: {err}");
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

mod payouts;
