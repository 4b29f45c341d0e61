//! The service layer: every operation the JSON routes and the pages share,
//! with typed inputs and typed errors and no HTTP in sight. Routes turn the
//! errors into API answers (`impl From<…> for ApiError`, each module); pages
//! turn them into sentences with an exhaustive `match`.
//!
//! Field checks, rate limits and the database still answer in the API's own
//! error shape from the layers below (`auth`, `auctions::input`, `limits`):
//! those pass through each error enum's `Api` variant unchanged.

pub mod account_email;
pub mod accounts;
pub mod bidding;
pub mod invoices;
pub mod lots;
pub mod notices;
pub mod payout_accounts;
pub mod payouts;
pub mod photos;
pub mod sales;
pub mod saved_searches;
pub mod selling;
pub mod watchlist;
pub mod your_data;
