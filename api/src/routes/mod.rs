//! One module per resource, each exposing `router()`; merged in [`crate::app`].

pub mod admin;
pub mod auctions;
pub mod auth;
pub mod bids;
pub mod cards;
pub mod events;
pub mod health;
pub mod images;
pub mod invoices;
pub mod notices;
pub mod payout_accounts;
pub mod payouts;
pub mod refunds;
pub mod sales;
pub mod saved_searches;
pub mod watchlist;
pub mod webhooks;
pub mod your_data;
