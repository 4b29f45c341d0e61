//! Gavel's HTTP API (axum): routes, auth, the error shape, OpenAPI and metrics.
//!
//! - [`app`]: the [`Router`](axum::Router) with every layer (request ids, tracing,
//!   timeouts, body limit, CORS, panics → JSON) and [`serve`] with graceful shutdown.
//! - [`error`] / [`extract`]: one error type and extractors whose rejections use it.
//! - [`auth`] / [`accounts`]: parsed account fields, Argon2id, JWT with token
//!   versions, the login and sign-up limits.
//! - [`limits`]: shared rate windows, the client address, stream slots, bid rates.
//! - [`auctions`]: auction input, read model, workflow gateway, live events.
//! - [`service`]: the operations routes and pages share, with typed errors.
//! - [`routes`]: one module per resource, thin callers of [`service`].
//! - [`cards`]: saved cards in PostgreSQL.
//! - [`commission`]: the house's commission, as settings give it and auctions carry it.
//! - [`openapi`]: the OpenAPI document and the offline docs page.
//! - [`web`]: the pages for bidders and sellers (templates, session cookie,
//!   CSRF, CSP, embedded assets, photos).
//! - [`metrics`]: Prometheus counters and histograms labelled by matched route.

pub mod accounts;
pub mod app;
pub mod auctions;
pub mod auth;
pub mod cards;
pub mod commission;
pub mod error;
pub mod extract;
pub mod input_error;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod service;
pub mod state;
pub mod text;
pub mod web;

pub use app::{router, serve};
pub use state::{ApiConfig, AppState, StrikePolicy};
