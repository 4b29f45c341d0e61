//! Auctions on the API side: request validation ([`input`]), the read model
//! ([`store`]), the answers ([`view`]), the workflow calls ([`gateway`]) and
//! the live-event fan-out ([`hub`]).

pub mod gateway;
pub mod hub;
pub mod input;
pub mod store;
pub mod view;
