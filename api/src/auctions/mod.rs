//! Auctions on the API side: request validation ([`input`]), the read model
//! ([`store`]), the answers ([`view`]), the workflow calls ([`gateway`]),
//! group commit for bids ([`batcher`]) and the live-event fan-out ([`hub`]).

pub mod batcher;
pub mod gateway;
pub mod hub;
pub mod input;
/// The read model's tables are `gavel_store`'s; `store` keeps its old path.
pub use gavel_store::auctions as store;
pub mod view;
