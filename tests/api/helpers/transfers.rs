//! A programmable Paystack Transfers stand-in: the balance, `POST /transfer`
//! (every request recorded, so a test counts transfers per reference),
//! `GET /transfer/verify/{reference}` telling each transfer's status as the
//! test scripts it, `POST /transfer/finalize_transfer` for an OTP, and
//! `POST /refund` answering `processed` at once. One stateful mock, as in
//! [`super::FakeRefunds`].

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, ResponseTemplate, matchers::path_regex};

/// Paystack's transfers as a test sets them.
#[derive(Clone)]
pub struct FakeTransfers(std::sync::Arc<std::sync::Mutex<Transfers>>);

struct Transfers {
    balance: i64,
    /// The next `POST /transfer` requests answered 500 (nothing created).
    failing_posts: u32,
    /// How long `POST /transfer` takes to answer (the transfer exists at
    /// once).
    post_delay: std::time::Duration,
    /// What `POST /transfer` answers for attempt n (`pending` if unset).
    initiated: HashMap<u32, String>,
    /// What verify tells for attempt n, in turn (the last one stays).
    scripts: HashMap<u32, VecDeque<String>>,
    /// Transfers Paystack created, by reference.
    made: BTreeMap<String, Made>,
    /// Every `POST /transfer` body, as received (including refused ones).
    posts: Vec<Value>,
    /// Every `POST /transfer/finalize_transfer` body.
    finalized: Vec<Value>,
    /// Every `POST /refund` body.
    refunds: Vec<Value>,
    next_refund: i64,
}

struct Made {
    amount: i64,
    currency: String,
    transfer_code: String,
    statuses: VecDeque<String>,
}

impl Made {
    fn status(&self) -> String {
        self.statuses
            .front()
            .cloned()
            .unwrap_or_else(|| "pending".into())
    }
}

fn attempt_of(reference: &str) -> u32 {
    reference
        .rsplit_once("-a")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(1)
}

impl FakeTransfers {
    /// Mounts the stand-in with `balance` (minor units) in NGN; every
    /// transfer goes `pending` → `success` unless scripted otherwise.
    pub async fn mount(paystack: &MockServer, balance: i64) -> Self {
        let fake = Self(std::sync::Arc::new(std::sync::Mutex::new(Transfers {
            balance,
            failing_posts: 0,
            post_delay: std::time::Duration::ZERO,
            initiated: HashMap::new(),
            scripts: HashMap::new(),
            made: BTreeMap::new(),
            posts: Vec::new(),
            finalized: Vec::new(),
            refunds: Vec::new(),
            next_refund: 7_100_001,
        })));
        Mock::given(path_regex(r"^/(balance|transfer|transfer/.*|refund)$"))
            .respond_with(fake.clone())
            .with_priority(1)
            .mount(paystack)
            .await;
        fake
    }

    /// The next `n` `POST /transfer` answer 500.
    pub fn fail_posts(&self, n: u32) {
        self.0.lock().unwrap().failing_posts = n;
    }

    /// `POST /transfer` answers only after `delay` (Paystack made the
    /// transfer at once).
    pub fn delay_posts(&self, delay: std::time::Duration) {
        self.0.lock().unwrap().post_delay = delay;
    }

    /// What `POST /transfer` answers for `attempt` (`pending`, `otp`).
    pub fn initiate_as(&self, attempt: u32, status: &str) {
        self.0
            .lock()
            .unwrap()
            .initiated
            .insert(attempt, status.to_owned());
    }

    /// What verify tells of `attempt`'s transfer, one answer per verify;
    /// the last answer stays.
    pub fn script(&self, attempt: u32, statuses: &[&str]) {
        self.0
            .lock()
            .unwrap()
            .scripts
            .insert(attempt, statuses.iter().map(|s| (*s).to_owned()).collect());
    }

    /// Paystack moves the transfer `reference` to `status` now.
    pub fn set_status(&self, reference: &str, status: &str) {
        if let Some(made) = self.0.lock().unwrap().made.get_mut(reference) {
            made.statuses = VecDeque::from([status.to_owned()]);
        }
    }

    /// Every `POST /transfer` body received.
    pub fn posts(&self) -> Vec<Value> {
        self.0.lock().unwrap().posts.clone()
    }

    /// References of the transfers Paystack created.
    pub fn created(&self) -> Vec<String> {
        self.0.lock().unwrap().made.keys().cloned().collect()
    }

    pub fn finalized(&self) -> Vec<Value> {
        self.0.lock().unwrap().finalized.clone()
    }

    pub fn refunds(&self) -> Vec<Value> {
        self.0.lock().unwrap().refunds.clone()
    }

    /// Paystack's answer for one transfer.
    fn transfer_json(reference: &str, made: &Made) -> Value {
        json!({
            "reference": reference, "amount": made.amount, "currency": made.currency,
            "status": made.status(), "transfer_code": made.transfer_code,
            "recipient": { "recipient_code": "RCP_test1" }, "fee_charged": 1000
        })
    }
}

impl wiremock::Respond for FakeTransfers {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        let ok = |message: &str, data: Value| {
            ResponseTemplate::new(200)
                .set_body_json(json!({ "status": true, "message": message, "data": data }))
        };
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        match (request.method.as_str(), request.url.path()) {
            ("GET", "/balance") => ok(
                "Balances retrieved",
                json!([{ "currency": "NGN", "balance": state.balance }]),
            ),
            ("POST", "/transfer") => {
                state.posts.push(body.clone());
                if state.failing_posts > 0 {
                    state.failing_posts -= 1;
                    return ResponseTemplate::new(500)
                        .set_body_json(json!({ "status": false, "message": "An error occurred" }));
                }
                let reference = body["reference"].as_str().unwrap_or_default().to_owned();
                if state.made.contains_key(&reference) {
                    return ResponseTemplate::new(400).set_body_json(json!({
                        "status": false,
                        "message": "Please provide a unique reference. Reference already exists on a transfer",
                        "code": "duplicate_transfer_reference"
                    }));
                }
                let attempt = attempt_of(&reference);
                let first = state
                    .initiated
                    .get(&attempt)
                    .cloned()
                    .unwrap_or_else(|| "pending".into());
                let mut statuses = state
                    .scripts
                    .get(&attempt)
                    .cloned()
                    .unwrap_or_else(|| VecDeque::from(["success".to_owned()]));
                if first == "otp" {
                    // Waits for an admin's OTP (finalize), whatever else is scripted.
                    statuses = VecDeque::from(["otp".to_owned()]);
                }
                let amount = body["amount"].as_i64().unwrap_or_default();
                state.balance -= amount;
                let made = Made {
                    amount,
                    currency: body["currency"].as_str().unwrap_or("NGN").to_owned(),
                    transfer_code: format!("TRF_{}", state.made.len() + 1),
                    statuses,
                };
                let mut data = Self::transfer_json(&reference, &made);
                data["status"] = json!(first);
                data["recipient"] = json!(123);
                state.made.insert(reference, made);
                ok("Transfer has been queued", data).set_delay(state.post_delay)
            }
            ("POST", "/transfer/finalize_transfer") => {
                state.finalized.push(body.clone());
                let code = body["transfer_code"].as_str().unwrap_or_default();
                let found = state.made.iter_mut().find(|(_, m)| m.transfer_code == code);
                match found {
                    Some((reference, made)) => {
                        made.statuses = VecDeque::from(["success".to_owned()]);
                        let data = Self::transfer_json(reference, made);
                        ok("Transfer has been queued", data)
                    }
                    None => ResponseTemplate::new(400).set_body_json(
                        json!({ "status": false, "message": "Transfer code is invalid" }),
                    ),
                }
            }
            ("GET", verify) if verify.starts_with("/transfer/verify/") => {
                let reference = verify.trim_start_matches("/transfer/verify/");
                match state.made.get_mut(reference) {
                    Some(made) => {
                        let data = Self::transfer_json(reference, made);
                        if made.statuses.len() > 1 {
                            made.statuses.pop_front();
                        }
                        ok("Transfer retrieved", data)
                    }
                    None => ResponseTemplate::new(404)
                        .set_body_json(json!({ "status": false, "message": "Transfer not found" })),
                }
            }
            ("POST", "/refund") => {
                state.refunds.push(body.clone());
                let id = state.next_refund;
                state.next_refund += 1;
                ok(
                    "Refund has been queued for processing",
                    json!({ "id": id, "status": "processed", "amount": body["amount"],
                            "currency": "NGN",
                            "transaction": { "reference": body["transaction"] } }),
                )
            }
            _ => ResponseTemplate::new(404)
                .set_body_json(json!({ "status": false, "message": "Not found" })),
        }
    }
}
