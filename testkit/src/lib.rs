//! Dev-only kit shared by the end-to-end tests and the benchmark: one
//! implementation each of the Brevo stand-in, Temporal servers started for
//! a run (search attributes registered the way the worker does it), `gavel`
//! processes, and a private PostgreSQL server.
//!
//! Panics instead of returning errors: a test or a benchmark that cannot set
//! up has nothing better to do.

#![allow(clippy::unwrap_used)]

pub mod mail;
pub mod paystack;
pub mod postgres;
pub mod processes;
pub mod temporal;
