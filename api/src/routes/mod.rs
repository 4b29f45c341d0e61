//! One module per resource, each exposing `router()`; merged in [`crate::app`].

pub mod auctions;
pub mod auth;
pub mod health;
