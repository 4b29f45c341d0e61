//! The auction as a durable workflow, in reading order: its state and what
//! changes it ([`state`]), how it keeps the read model and search attributes
//! in step ([`publishing`]), the lanes of the open phase ([`lanes`]), the
//! bidding phase itself ([`open_phase`]), and the workflow's handlers and
//! run ([`workflow`]), which hands a sale to [`crate::settlement`].
//!
//! Its contract types live in [`crate::contract`] and are re-exported here
//! (the read-model contract also under its old path, `auction::publish`).

pub(crate) mod lanes;
pub(crate) mod open_phase;
pub(crate) mod publishing;
pub mod state;
pub mod workflow;

pub use crate::contract::{
    auction::{
        AuctionInput, AuctionSettings, BatchReceipt, BatchRefused, BidOutcome, BidReceipt,
        CancelRefusal, CancelRequest, Carried, MAX_BATCH, MAX_WINDOW_SECS, PhotoRefusal,
        PhotoRemoval, PlaceBid, SettlementProblem,
    },
    view::{AuctionStatus, AuctionView, Listing, NoSaleReason, Outcome},
};
pub use state::{AuctionWorkflow, bid_id};

/// The read-model contract under its old path.
pub mod publish {
    pub use crate::contract::read_model::*;
    pub use crate::contract::view::{search_attributes_of, status_of, view_of};
}

/// The workflow id of an auction.
pub fn workflow_id(auction_id: uuid::Uuid) -> String {
    format!("auction-{auction_id}")
}
