//! Gavel's deterministic core: the workflows the worker runs and the contracts
//! (types and activity definitions) they share with the activities and the API.
//!
//! Nothing in this crate performs I/O or reads the system clock: workflow code is
//! replayed from history and must take the same decisions every time.
//!
//! The modules form a graph without cycles; read them in this order (each
//! uses only those above it, `scripts/workflow-modules` checks it):
//!
//! 1. Leaves: [`ids`] (`AuctionId`, `UserId`, `Minor`, transparent on the
//!    wire), [`text`] (which characters typed text may hold), [`names`]
//!    (task queue, workflow types, search attributes and patch ids recorded
//!    in history), [`refusal`] (refusals as typed Temporal failures) and
//!    [`lenient`] (signal payloads decoded without trusting the sender).
//! 2. [`rules`]: the bidding rules, pure and Temporal-free.
//! 3. [`contract`]: every value the API and the activities exchange with the
//!    workflows, and the activity definitions (`view` < `read_model` <
//!    `refusals` < `settlement` < `auction`).
//! 4. `steps`: workflow time, timer lengths, activity options and retry
//!    policies, shared by every workflow.
//! 5. [`ping`]: a trivial workflow + activity pair that proves a worker is
//!    wired to the server; [`followup`]: payments and disputes that arrive
//!    after an auction ended; [`digest`]: the daily saved-search digest.
//! 6. [`sale`]: `SaleWorkflow`, a paid sale's journey to the seller's
//!    payout (`plan` decides each step from the sale's row).
//! 7. [`settlement`]: what happens after a sale (`desk` < `state` < `saga`),
//!    knowing the auction only through [`settlement::SettlementHost`].
//! 8. [`auction`]: `AuctionWorkflow` (`state` < `publishing` < `lanes` <
//!    `open_phase` < `workflow`), which owns a [`settlement::Settlement`]
//!    and hands a sale to the saga, which starts the sale's workflow once paid.

pub mod auction;
pub mod contract;
pub mod digest;
pub mod followup;
pub mod ids;
pub mod lenient;
pub mod names;
pub mod ping;
pub mod refusal;
pub mod rules;
pub mod sale;
pub mod settlement;
pub(crate) mod steps;
pub mod text;
