//! Settlement: what happens to a sale after the close. It knows nothing of
//! the auction workflow's fields: the workflow owns a [`Settlement`] value,
//! hands the saga a [`Sale`] and answers the few questions of
//! [`SettlementHost`].
//!
//! - [`desk`]: what the workflow knows about each invoice, and the answers
//!   it gives a buyer who asks to pay or answers an offer.
//! - [`state`]: settlement's own state and its interface to the workflow.
//! - [`saga`]: the settlement of one sale, one [`Saga`] per sale.
//! - [`letters`]: the emails settlement sends, and the queue they go on.
//!
//! Its contract with the activities is [`crate::contract::settlement`].

pub mod desk;
mod letters;
pub(crate) mod saga;
pub mod state;

pub(crate) use saga::Saga;
pub use state::{Sale, Settlement, SettlementHost};
