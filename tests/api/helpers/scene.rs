//! Scenes: an admin, sellers and bidders, auctions and their bids, and
//! waiting for an auction to reach a state.

use super::*;

/// Auction terms for tests: open now, ending in `secs` seconds, NGN,
/// starting at 1,000, anti-sniping 2 s / 3 s.
pub fn auction_body(secs: i64) -> Value {
    json!({
        "title": "Carved stool",
        "description": "Iroko, hand carved",
        "currency": "NGN",
        "starting_price": 1_000,
        "ends_at": (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339(),
        "anti_sniping": { "window_secs": 2, "extension_secs": 3 },
    })
}

impl TestApp {
    /// The scene most tests start from: a seller, `N` bidders and the
    /// seller's auction made from `body`.
    pub async fn scene<const N: usize>(
        &self,
        body: &Value,
    ) -> (TestUser, [TestUser; N], AuctionResponse) {
        let seller = self.user("seller").await;
        let mut bidders = Vec::with_capacity(N);
        for _ in 0..N {
            bidders.push(self.user("bidder").await);
        }
        let auction = self.create_auction(&seller, body).await;
        let bidders = bidders.try_into().expect("N bidders");
        (seller, bidders, auction)
    }

    /// An admin (only the CLI makes admins; this does what it does).
    pub async fn admin(&self) -> TestUser {
        use gavel_api::{
            accounts,
            auth::{DisplayName, Email, Password, Role},
        };
        let email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
        let parsed = Email::parse(&email).unwrap();
        let user = accounts::create(
            &self.db,
            &gavel_api::auth::password::Hashing::new(1),
            accounts::NewUser {
                password: Password::parse(PASSWORD, &parsed).unwrap(),
                email: parsed,
                name: DisplayName::parse("Site Admin").unwrap(),
                role: Role::Admin,
                email_verified: true,
            },
        )
        .await
        .unwrap();
        let body: AuthResponse =
            expect_json(self.login(&email, PASSWORD).await, StatusCode::OK).await;
        TestUser {
            id: user.id.to_string(),
            email,
            handle: user.handle,
            token: body.token,
        }
    }

    /// Creates an auction as `seller`.
    pub async fn create_auction(&self, seller: &TestUser, body: &Value) -> AuctionResponse {
        let response = self
            .post_json("/api/v1/auctions", body, Some(&seller.token))
            .await;
        expect_json(response, StatusCode::CREATED).await
    }

    /// Places a bid with the given idempotency key (a fresh one when `None`);
    /// returns the response.
    pub async fn bid(
        &self,
        bidder: &TestUser,
        auction_id: &str,
        amount: i64,
        max_amount: Option<i64>,
        key: Option<&str>,
    ) -> Response {
        let mut body = json!({ "amount": amount });
        if let Some(max) = max_amount {
            body["max_amount"] = json!(max);
        }
        let key = key.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        self.request(
            Method::POST,
            &format!("/api/v1/auctions/{auction_id}/bids"),
            Some(&bidder.token),
        )
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
    }

    /// Posts `body` as a bid (with a fresh idempotency key).
    pub async fn post_bid_json(
        &self,
        auction_id: &str,
        body: &Value,
        bidder: &TestUser,
    ) -> Response {
        self.request(
            Method::POST,
            &format!("/api/v1/auctions/{auction_id}/bids"),
            Some(&bidder.token),
        )
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .json(body)
        .send()
        .await
        .unwrap()
    }

    /// Places a bid that must be accepted; returns the verdict.
    pub async fn bid_ok(
        &self,
        bidder: &TestUser,
        auction_id: &str,
        amount: i64,
        max_amount: Option<i64>,
    ) -> BidResponse {
        let response = self.bid(bidder, auction_id, amount, max_amount, None).await;
        expect_json(response, StatusCode::CREATED).await
    }

    pub async fn auction(&self, auction_id: &str) -> AuctionResponse {
        let response = self
            .get(&format!("/api/v1/auctions/{auction_id}"), None)
            .await;
        expect_json(response, StatusCode::OK).await
    }

    /// Polls the auction until `done` holds, for up to `secs` seconds.
    pub async fn wait_for_auction(
        &self,
        auction_id: &str,
        secs: u64,
        done: impl Fn(&AuctionResponse) -> bool,
    ) -> AuctionResponse {
        eventually(secs, || async {
            let auction = self.auction(auction_id).await;
            if done(&auction) {
                Ok(auction)
            } else {
                Err(format!("auction never got there: {auction:?}"))
            }
        })
        .await
    }

    /// `SELECT count(*) …` as a number.
    pub async fn count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&self.db).await.unwrap();
        n
    }

    /// Waits until the read model says `status` (the workflow published it).
    pub async fn wait_for_status(
        &self,
        auction_id: &str,
        status: &str,
        secs: u64,
    ) -> AuctionResponse {
        self.wait_for_auction(auction_id, secs, |a| a.status == status && !a.live)
            .await
    }

    /// Where the app's Temporal server listens (`host:port`).
    pub fn temporal_address(&self) -> String {
        self.temporal_address.to_string()
    }

    /// The auction's workflow handle (latest run).
    /// Every event of the auction's current run, oldest first.
    pub async fn auction_history(
        &self,
        auction_id: &str,
    ) -> Vec<temporalio_common::protos::temporal::api::history::v1::HistoryEvent> {
        self.auction_handle(auction_id)
            .fetch_history(Default::default())
            .into_events()
            .await
            .unwrap()
    }

    pub fn auction_handle(
        &self,
        auction_id: &str,
    ) -> temporalio_client::WorkflowHandle<Client, gavel_workflows::auction::AuctionWorkflow> {
        self.temporal
            .get_workflow_handle(format!("auction-{auction_id}"))
    }
}
