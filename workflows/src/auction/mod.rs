//! The auction as a durable workflow, in reading order: its state and what
//! changes it ([`state`]) and its ending-soon plan ([`alert_plan`]), how it keeps the read model and search attributes
//! in step ([`publishing`]), the lanes of the open phase ([`lanes`]), the
//! bidding phase itself ([`open_phase`]), and the workflow's handlers and
//! run ([`workflow`]), which hands a sale to [`crate::settlement`].
//!
//! Its contract types live in [`crate::contract`].

pub(crate) mod alert_plan;
pub(crate) mod lanes;
pub(crate) mod open_phase;
pub(crate) mod publishing;
pub mod state;
pub mod workflow;

pub use state::{AuctionWorkflow, bid_id};

/// The workflow id of an auction.
pub fn workflow_id(auction_id: uuid::Uuid) -> String {
    format!("auction-{auction_id}")
}
