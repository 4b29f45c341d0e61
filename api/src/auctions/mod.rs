//! Auctions on the API side: request validation ([`input`]), the read model
//! (its rows are `gavel_store::auctions`), the answers ([`view`]), the workflow calls ([`gateway`]),
//! group commit for bids ([`batcher`]) and the live-event fan-out ([`hub`]).

pub mod batcher;
pub mod gateway;
pub mod hub;
pub mod input;
pub mod view;
