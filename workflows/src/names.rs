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
/// Everything an auction's workflow does differently since release 0.1.0,
/// decided once at the start of each run (one marker, so a lot's first
/// workflow task records one marker and one `TemporalChangeVersion` upsert,
/// not one of each per change; the SDK adds the upsert beside every marker):
///
/// - lean bidding: a batch of bids costs its update and nothing else while
///   the auction is open (search attributes follow phase changes, read-model
///   writes the API confirms are not published again, a backstop publishes
///   the rest, outbid notices gathered into at most one batch per 10 s and
///   one per bidder per 30 s);
/// - "ending soon" alerts: a timer at `ends_at - the longest lead still
///   waiting`, re-armed as the end moves; each check counts only the bids
///   written, held until every bid decided when it fell due is;
/// - after the close, the settlement's emails and the sale's journey run on
///   the settlement task queue ([`settlement_task_queue`]);
/// - a paid sale goes on as its own `SaleWorkflow` (shipping, receipt,
///   claims, payout), started as a child after the receipt emails.
///
/// Runs from 0.1.0 do none of it. The changes were separate patches while
/// unreleased and were folded into this one before release (see
/// docs/operations.md).
pub const PATCH_AUCTION_0_2: &str = "auction-0.2";
/// A run that started on 0.1.0 and is paid after the upgrade goes on as
/// its sale's `SaleWorkflow` too, so its seller is paid out by Gavel. Asked
/// only by such runs, when they are paid (0.2's runs have it in
/// [`PATCH_AUCTION_0_2`]).
pub const PATCH_SALE_JOURNEY_FOR_0_1: &str = "sale-journey-0.1";

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
