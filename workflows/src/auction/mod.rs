//! The auction as a durable workflow: its contract types ([`model`]), what it
//! publishes to the read model ([`publish`]), what it refused ([`inbox`]),
//! the workflow itself ([`workflow`]) and its bidding phase
//! ([`open_phase`]), with the small steps they share ([`steps`]).

pub mod inbox;
pub mod model;
pub(crate) mod open_phase;
pub mod publish;
pub(crate) mod steps;
pub mod workflow;

pub use model::{
    AuctionInput, AuctionSettings, AuctionStatus, AuctionView, BatchReceipt, BatchRefused,
    BidOutcome, BidReceipt, CancelRefusal, CancelRequest, Listing, MAX_BATCH, MAX_WINDOW_SECS,
    NoSaleReason, Outcome, PhotoRefusal, PhotoRemoval, PlaceBid, SettlementProblem,
};
pub use workflow::{AuctionWorkflow, bid_id};

/// The workflow id of an auction.
pub fn workflow_id(auction_id: uuid::Uuid) -> String {
    format!("auction-{auction_id}")
}
