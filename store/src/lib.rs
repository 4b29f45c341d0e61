//! Gavel's PostgreSQL tables, reads and writes, one module per table or
//! tight group; the API and the worker's activities call these functions and
//! never write SQL on the tables themselves:
//! - [`auctions`] — `auctions`, `bids` and `auction_events` (the read model the
//!   workflows publish, and the API's reads of it);
//! - [`users`] — `users`, and `strikes` (given by [`invoices`] when one is voided);
//! - [`sessions`] — `sessions`;
//! - [`login_windows`] — `rate_windows`, the shared fixed-window counters;
//! - [`photos`] — `auction_images`;
//! - [`invoices`] — `invoices` and `invoice_references`;
//! - [`ledger`] — `payments` (and a dispute's end, with what it gave back);
//! - [`refunds`] — `refunds`, each under a payment;
//! - [`cards`] — `payment_authorizations`, the cards kept for later wins;
//! - [`emails`] — `emails`;
//! - [`preferences`] — `notice_preferences`: which optional notices an
//!   account wants;
//! - [`saved_searches`] — `saved_searches`: a listing's filters an account
//!   keeps, and how far the daily digest has looked for each;
//! - [`watchlist`] — `watchlist`, `ending_soon_alerts` and
//!   `ending_soon_schedules`: watched lots and "ending soon" alerts;
//! - [`sales`] — `sales`, `payout_transfers` and `seller_strikes`: a paid
//!   sale's journey and payout, as its workflow moves them;
//! - [`sale_statements`] — the rows people read about sales: statements,
//!   purchases, the admins' payouts and what the ledger holds;
//! - [`sale_actions`] — `claims`, and what people do to a sale (ship,
//!   receive, claim, answer, decide);
//! - [`payout_accounts`] — `payout_accounts`: the bank account a seller is
//!   paid into (pending until its seller confirms the name), and the sales
//!   held for want of one;
//! - [`payout_admin`] — an admin's reads of a payout by its public number;
//! - [`paystack_events`] — `paystack_events`, the webhook deliveries;
//! - [`your_data`] — an account's own data: its export, what blocks its
//!   deletion, and the deletion (pseudonymising `users`);
//! - [`health`] — the readiness probe.
//!
//! Every database error is classified next to its query as a [`StoreError`].

pub mod account_tokens;
pub mod auctions;
pub mod cards;
pub mod emails;
mod error;
pub mod health;
pub mod invoices;
pub mod ledger;
pub mod login_windows;
pub mod payout_accounts;
pub mod payout_admin;
pub mod paystack_events;
pub mod photos;
pub mod preferences;
pub mod read_model;
pub mod refunds;
pub mod sale_actions;
pub mod sale_statements;
pub mod sales;
pub mod saved_searches;
pub mod sessions;
pub mod users;
pub mod watchlist;
pub mod your_data;

pub use error::{Result, StoreError, database_unavailable, is_bad_data, on_constraint};
pub use sqlx::PgPool;

/// A number that must fit its column: too big is an error, never a clamp.
pub(crate) fn fits<T, S>(value: S) -> sqlx::Result<T>
where
    T: TryFrom<S, Error = std::num::TryFromIntError>,
{
    T::try_from(value).map_err(|err| sqlx::Error::Encode(Box::new(err)))
}
