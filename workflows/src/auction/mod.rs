//! The auction as a durable workflow: its contract types ([`model`]), what it
//! publishes to the read model ([`publish`]) and the workflow itself
//! ([`workflow`]).

pub mod model;
pub mod publish;
pub mod workflow;

pub use model::{
    AuctionInput, AuctionSettings, AuctionStatus, AuctionView, BidReceipt, CancelRefusal,
    CancelRequest, Listing, NoSaleReason, Outcome, PlaceBid,
};
pub use workflow::{AuctionWorkflow, bid_id};

/// The workflow id of an auction.
pub fn workflow_id(auction_id: uuid::Uuid) -> String {
    format!("auction-{auction_id}")
}
