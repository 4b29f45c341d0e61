//! Settlement: what happens to a sale after the close.
//!
//! - [`contract`]: the types and activity definitions shared with the
//!   activities (invoice, payment, confirmation, close, email).
//! - [`desk`]: what the workflow knows about each invoice, and the answers
//!   it gives a buyer who asks to pay or answers an offer.
//! - [`saga`]: today's settlement, one [`Settlement`] per sale.
//! - [`legacy`]: the first settlement, kept so recorded auctions replay.

pub mod contract;
pub mod desk;
pub(crate) mod legacy;
pub(crate) mod saga;

pub use contract::*;
pub(crate) use saga::Settlement;
