//! A stateful Paystack refunds stand-in: accepted refunds with ids of their
//! own, a switch for Paystack being down, and the refunds as they are now.

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::path_regex};

/// Paystack's refunds, as these tests set them: each refund request is
/// accepted (`pending`) with an id of its own, counting up from the first,
/// or answered 500 while Paystack is `down`; `GET /refund/{id}` and the
/// list `GET /refund` tell each accepted refund as it is now. (One stateful
/// mock: wiremock's scoped mocks are not used, as dropping one can retire
/// another mock of a different priority.)
#[derive(Clone)]
pub struct FakeRefunds(std::sync::Arc<std::sync::Mutex<Refunds>>);

struct Refunds {
    next_id: i64,
    down: bool,
    /// `GET /refund/{id}` answers 500.
    fetch_down: bool,
    /// id → (transaction, amount, status)
    made: std::collections::BTreeMap<i64, (String, i64, String)>,
}

impl FakeRefunds {
    pub async fn mount(paystack: &MockServer, first_id: i64) -> Self {
        let fake = Self(std::sync::Arc::new(std::sync::Mutex::new(Refunds {
            next_id: first_id,
            down: false,
            fetch_down: false,
            made: Default::default(),
        })));
        Mock::given(path_regex("^/refund(/[0-9]+)?$"))
            .respond_with(fake.clone())
            .mount(paystack)
            .await;
        fake
    }

    pub fn set_down(&self, down: bool) {
        self.0.lock().unwrap().down = down;
    }

    pub fn set_fetch_down(&self, down: bool) {
        self.0.lock().unwrap().fetch_down = down;
    }

    pub fn set_status(&self, id: i64, status: &str) {
        if let Some(refund) = self.0.lock().unwrap().made.get_mut(&id) {
            refund.2 = status.to_owned();
        }
    }
}

fn refund_json(id: i64, (transaction, amount, status): &(String, i64, String)) -> Value {
    json!({ "id": id, "transaction_reference": transaction, "amount": amount,
            "status": status, "currency": "NGN",
            "createdAt": chrono::Utc::now().to_rfc3339() })
}

impl wiremock::Respond for FakeRefunds {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let mut refunds = self.0.lock().unwrap();
        let ok = |data: Value| {
            ResponseTemplate::new(200)
                .set_body_json(json!({ "status": true, "message": "ok", "data": data }))
        };
        match (request.method.as_str(), request.url.path()) {
            ("POST", _) if refunds.down => ResponseTemplate::new(500)
                .set_body_json(json!({ "status": false, "message": "An error occurred" })),
            ("POST", _) => {
                let body: Value = serde_json::from_slice(&request.body).unwrap();
                let id = refunds.next_id;
                refunds.next_id += 1;
                let refund = (
                    body["transaction"].as_str().unwrap_or_default().to_owned(),
                    body["amount"].as_i64().unwrap_or_default(),
                    "pending".to_owned(),
                );
                let answer = refund_json(id, &refund);
                refunds.made.insert(id, refund);
                ok(answer)
            }
            ("GET", "/refund") => ok(Value::Array(
                refunds
                    .made
                    .iter()
                    .map(|(id, r)| refund_json(*id, r))
                    .collect(),
            )),
            ("GET", _) if refunds.fetch_down => ResponseTemplate::new(500)
                .set_body_json(json!({ "status": false, "message": "An error occurred" })),
            ("GET", one) => {
                let id: i64 = one.trim_start_matches("/refund/").parse().unwrap();
                match refunds.made.get(&id) {
                    Some(refund) => ok(refund_json(id, refund)),
                    None => ResponseTemplate::new(404)
                        .set_body_json(json!({ "status": false, "message": "Refund not found" })),
                }
            }
            _ => ResponseTemplate::new(405),
        }
    }
}
