//! End-to-end tests: one real Temporal dev server per test binary, a fresh
//! PostgreSQL database per test, the app on port 0, requests over real HTTP.
//! Logs are silent unless `TEST_LOG=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts_email;
mod accounts_email_limits;
mod auctions;
mod auth;
mod batching;
mod bidding;
mod browser;
mod cards;
mod cli;
mod commission;
mod errors;
mod faults;
mod fuzzing;
mod generated_client;
mod health;
mod helpers;
mod hostile;
mod lean_bidding;
mod listing;
mod live_streams;
mod money;
mod money_at_scale;
mod notice_preferences;
mod operators;
mod outage;
mod pages;
mod password_reset;
mod payout_accounts;
mod payouts;
mod photo_flood;
mod photo_forms;
mod photo_removal;
mod ping;
mod refunds;
mod replicas;
mod resilience;
mod sale_actions;
mod sessions;
mod settlement;
mod sign_in_redirects;
mod stand_ins;
mod transfer_webhooks;
mod webhooks;
