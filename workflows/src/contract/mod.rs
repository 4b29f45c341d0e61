//! The contracts: every value the API and the activities exchange with the
//! workflows, and the activity definitions. These depend on nothing
//! workflow-internal (only [`crate::rules`], [`crate::names`] and the
//! like), and their shapes are recorded in history.
//!
//! - [`view`]: the public status, listing, outcome and live view.
//! - [`read_model`]: what the workflow publishes to the read model.
//! - [`refusals`]: the messages a workflow refused to act on.
//! - [`settlement`]: the settlement activities, payment notices and emails.
//! - [`sale`]: a sale's journey after payment: terms, views, activities.
//! - [`digest`]: the saved-search digest's pages of accounts.
//! - [`auction`]: the auction workflow's input, updates, signals and answers.
//! - [`alerts`]: "ending soon" alerts: the check activity and its signal.

pub mod alerts;
pub mod auction;
pub mod digest;
pub mod read_model;
pub mod refusals;
pub mod sale;
pub mod settlement;
pub mod view;
