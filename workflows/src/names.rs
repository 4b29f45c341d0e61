//! Names recorded in Temporal history or visibility. Changing one breaks running
//! workflows or operators' saved queries, so every one is pinned here.

use temporalio_common::{
    protos::temporal::api::enums::v1::IndexedValueType,
    search_attributes::{SearchAttributeKey, Timestamp},
};

/// Default task queue shared by the API (starter) and the worker.
pub const DEFAULT_TASK_QUEUE: &str = "gavel-auctions";

/// The deployment's one Schedule that starts the saved-search digest daily
/// (`temporal schedule trigger --schedule-id saved-search-digest` runs it now).
pub const DIGEST_SCHEDULE_ID: &str = "saved-search-digest";

/// PostgreSQL `NOTIFY` channel for new auction events; the payload is the
/// auction id. The read-model activity notifies, every API replica listens.
pub const EVENTS_CHANNEL: &str = "gavel_auction_events";

/// Public auction status (`scheduled`, `open`, …), the same words as the API.
pub const AUCTION_STATUS: SearchAttributeKey<String> = SearchAttributeKey::keyword("AuctionStatus");
/// The seller's user id.
pub const SELLER_ID: SearchAttributeKey<String> = SearchAttributeKey::keyword("SellerId");
/// When the auction closes (moves with anti-sniping extensions).
pub const AUCTION_ENDS_AT: SearchAttributeKey<Timestamp> =
    SearchAttributeKey::datetime("AuctionEndsAt");
/// Current visible price in minor units.
pub const CURRENT_BID: SearchAttributeKey<i64> = SearchAttributeKey::int("CurrentBid");

/// Every custom search attribute Gavel uses, with its index type; the worker and
/// `gavel dev` register the missing ones at start.
pub fn search_attributes() -> [(&'static str, IndexedValueType); 4] {
    [
        (AUCTION_STATUS.name(), AUCTION_STATUS.indexed_value_type()),
        (SELLER_ID.name(), SELLER_ID.indexed_value_type()),
        (AUCTION_ENDS_AT.name(), AUCTION_ENDS_AT.indexed_value_type()),
        (CURRENT_BID.name(), CURRENT_BID.indexed_value_type()),
    ]
}

// Patch ids.
//
/// A paid sale goes on as its own `SaleWorkflow` (shipping, receipt, claims,
/// payout): the auction's workflow starts it as a child after the receipt
/// emails. Runs that paid before it end there, as in 0.1.0.
pub const PATCH_SALE_JOURNEY: &str = "sale-journey";
/// A batch of bids costs its update and nothing else while the auction is
/// open: search attributes follow phase changes only, read-model writes the
/// API confirms are not published again (a backstop publishes the rest),
/// and outbid notices go out at most once per window. Runs from before it
/// index every price and publish every batch.
pub const PATCH_LEAN_BIDDING: &str = "lean-bidding";
/// Watchers and bidders who are not leading get an "ending soon" email a
/// chosen time before the end: a timer at `ends_at - the longest lead still
/// waiting`, re-armed as the end moves, and the `send_ending_soon` activity
/// when it rings. Runs from before it send no such alerts.
pub const PATCH_ENDING_SOON: &str = "ending-soon-alerts";
/// An ending-soon check names how many bids its leader accounts for
/// ([`crate::contract::alerts::AlertCheck::bids_seen`]), so a bidder whose
/// first bid the API wrote after the check was asked for, and who leads, is
/// not told as a bidder not leading. Runs from before it count every bid.
pub const PATCH_ALERT_BIDS_SEEN: &str = "alert-bids-seen";
/// Outbid notices are gathered: an auction sends at most one batch of them
/// every 10 seconds (each bidder still at most one per 30 s, the latest
/// price), so a lot bid on every few seconds costs one `send_emails`
/// activity per period rather than one per change of leader. A lone outbid
/// in a quiet lot still goes at once. Runs from before it send a batch as
/// soon as one is due.
pub const PATCH_OUTBID_GATHER: &str = "outbid-gather";
/// After the close, the settlement's emails and the sale's own workflow run
/// on the settlement task queue ([`settlement_task_queue`]), which every
/// worker polls with few slots: when many lots end together, their closes
/// and payments are not queued behind the emails and journeys of those that
/// ended first (the letters, the winner's with its pay link among them,
/// follow; the invoice and its pay link are on `/me` at once). Runs from
/// before it do that work on the auction's queue.
pub const PATCH_SETTLEMENT_QUEUE: &str = "settlement-queue";
/// An ending-soon check counts only the bids written (confirmed by an API
/// replica, or published by the workflow), with the leader after them; a
/// due check is held until every bid decided when it fell due is written,
/// handing the batches no API has confirmed to the workflow's publication
/// at once, and an outbid decided meanwhile is counted by a check 30 s
/// later. Runs from before it count every bid decided, and check again 5 s
/// later when some were not rows yet.
pub const PATCH_ALERT_COUNTS_WRITTEN: &str = "alert-counts-written";

/// The task queue of the work that follows a close off its critical path
/// (emails, the sale's journey), beside the auctions' `task_queue`.
pub fn settlement_task_queue(task_queue: &str) -> String {
    format!("{task_queue}-settlement")
}

//
// A change to the commands a workflow task produces (a new, removed or
// reordered activity, timer or search-attribute update, or another activity
// input) must not reach running workflows unguarded: add a constant here,
// `pub const PATCH_<WHAT>: &str = "<what>";`, branch on
// `ctx.patched(names::PATCH_<WHAT>)`, and record a history for both paths.
// Once `gavel replay --query` finds no open run on the old path, switch the
// call to `ctx.deprecate_patch(..)`; once no open run carries the marker,
// remove the call and the constant. See docs/operations.md.
