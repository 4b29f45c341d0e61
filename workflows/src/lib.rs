//! Gavel's deterministic core: the workflows the worker runs and the contracts
//! (types and activity definitions) they share with the activities and the API.
//!
//! Nothing in this crate performs I/O or reads the system clock: workflow code is
//! replayed from history and must take the same decisions every time.
//!
//! - [`ping`]: a trivial workflow + activity pair that proves a worker is wired to
//!   the server (used by the health tests and by operators after a deploy).
//! - [`auction`]: `AuctionWorkflow` and the types it shares with the API and
//!   the activities.
//! - [`rules`]: the bidding rules, pure and Temporal-free.
//! - [`settlement`]: what happens after a sale: the settlement saga, the
//!   payment desk buyers talk to, and the contract of its activities.
//! - [`followup`]: payments and disputes that arrive after an auction ended.
//! - [`lenient`]: signal payloads decoded without trusting the sender.
//! - [`refusal`]: refusals as typed Temporal failures (code and data).
//! - [`ids`]: `AuctionId`, `UserId` and `Minor`, transparent on the wire.
//! - [`text`]: which characters typed text may hold (shared with the API).
//! - [`names`]: the task queue default, workflow types and search-attribute keys
//!   that outlive any refactoring because they are recorded in history.

pub mod auction;
pub mod followup;
pub mod ids;
pub mod lenient;
pub mod names;
pub mod ping;
pub mod refusal;
pub mod rules;
pub mod settlement;
pub mod text;
