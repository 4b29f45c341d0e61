//! The test harness, by what it helps with: Temporal servers and workers,
//! test databases, the application under test, HTTP, emails, scenes, and a
//! paid sale's journey.

use std::{
    net::SocketAddr,
    sync::{
        OnceLock,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use gavel::{
    app::{self, ApiParts, Application},
    config::{HttpArgs, LimitArgs, SettlementArgs, TemporalArgs},
    database,
    dev_server::{self, DevServer},
    temporal,
};
use std::any::type_name;

use gavel_api::{
    auctions::view::{AuctionResponse, BidResponse},
    error::ErrorBody,
    limits::bidders::BidRate,
    routes::auth::AuthResponse,
};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool};
use temporalio_client::Client;
use tokio_util::sync::CancellationToken;

mod app_under_test;
mod emails;
mod fake_refunds;
mod http;
mod python_tools;
pub mod sale_journey;
mod scene;
mod sse;
mod temporal_servers;
mod test_database;
mod transfers;

pub use app_under_test::*;
pub use emails::*;
pub use fake_refunds::FakeRefunds;
pub use gavel_testkit::{postgres::*, temporal::TimeSkippingServer};
pub use http::*;
pub use python_tools::*;
pub use scene::*;
pub use sse::*;
pub use temporal_servers::*;
pub use test_database::*;
pub use transfers::FakeTransfers;

/// Polls `check` every 50 ms until it answers `Ok`, for up to `secs`
/// seconds; then fails with its last `Err`.
pub async fn eventually<T, F, Fut>(secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) => assert!(std::time::Instant::now() < deadline, "{last}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
