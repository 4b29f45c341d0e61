//! The messages the auction workflow takes and gives: its input (and what
//! one run carries to the next), its settings, the bids, cancels and photo
//! removals it receives, and its answers and refusals.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    alerts::AlertPlan,
    read_model::{AuctionEvent, BidRecord, LiveDelta},
    refusals::Refusals,
    sale::JourneyTerms,
    settlement::EmailJob,
    view::Listing,
};
use crate::rules::{BidRequest, Book, Phase, Rejection, Verdict};

/// The longest payment or offer window a setting may ask for (a year).
pub const MAX_WINDOW_SECS: u64 = 366 * 24 * 3_600;

/// Knobs of the workflow itself, fixed per auction at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuctionSettings {
    /// Continue-as-new after this many bid messages in one run: well below
    /// Temporal's 2,000 updates per run.
    pub bids_per_run: u32,
    /// A run continues as new only once it has lived this long (up to
    /// [`AuctionSettings::bids_ceiling`] bids). Temporal holds back the first
    /// task of a run that follows one shorter than its minimal interval
    /// (`history.workflowIdReuseMinimalInterval`, 1 s by default), which
    /// stalled a hot auction's bids for most of a second. Inputs from before
    /// the setting read 0: their runs continue as they always did.
    #[serde(default = "no_minimum")]
    pub min_run_ms: u32,
    /// How long a winner has to pay (a reminder goes out halfway).
    pub payment_window_secs: u64,
    /// Offers in all: the winner's, then second-chance offers.
    pub offer_rounds: u32,
    /// How long a runner-up has to accept a second-chance offer.
    pub offer_window_secs: u64,
    /// The journey of the sale after payment (shipping, receipt, claims,
    /// payout retries); runs listed before it existed get the defaults.
    pub journey: JourneyTerms,
}

impl Default for AuctionSettings {
    fn default() -> Self {
        Self {
            bids_per_run: 500,
            min_run_ms: 1_500,
            payment_window_secs: 172_800,
            offer_rounds: 3,
            offer_window_secs: 86_400,
            journey: JourneyTerms::default(),
        }
    }
}

fn no_minimum() -> u32 {
    0
}

impl AuctionSettings {
    /// The most bids a run takes while it waits out `min_run_ms`: four
    /// times `bids_per_run`, and never past 1,500 (Temporal allows 2,000
    /// updates per run, and every update carries at least one bid).
    pub fn bids_ceiling(&self) -> u32 {
        let per_run = self.bids_per_run.max(1);
        per_run.saturating_mul(4).min(1_500).max(per_run)
    }
}

/// The workflow's input. A continued run gets the same listing and terms plus
/// everything the previous run knew in `carried`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionInput {
    pub auction_id: Uuid,
    pub listing: Listing,
    pub book: Book,
    #[serde(default)]
    pub settings: AuctionSettings,
    #[serde(default)]
    pub carried: Option<Carried>,
}

/// What one run hands the next besides the book.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carried {
    /// Sequence number of the last live event (for SSE ids).
    pub event_seq: u64,
    /// Revision of the last published snapshot.
    pub revision: u64,
    /// How many runs came before this one.
    pub runs_before: u32,
    /// Signal bids the rules refused (signals have no one to answer).
    pub refused_signal_bids: u64,
    /// Accepted but not yet in the read model when the run ended; the next
    /// run publishes them first.
    #[serde(default)]
    pub unpublished_bids: Vec<BidRecord>,
    #[serde(default)]
    pub unpublished_events: Vec<AuctionEvent>,
    /// Outbid notices not yet handed to the mailer.
    #[serde(default)]
    pub unsent_emails: Vec<EmailJob>,
    /// Messages refused so far (see [`Refusals`]).
    #[serde(default)]
    pub refusals: Refusals,
    /// The "ending soon" alert plan (runs with alerts only; inputs from
    /// before them have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertPlan>,
}

/// The `settlement_problem` query's answer (an object, so "no problem" is
/// JSON `{"problem":null}` rather than an empty payload).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementProblem {
    pub problem: Option<String>,
}

/// A bid placed through the API (`place_bid` update) or the `bid` signal.
pub type PlaceBid = BidRequest;

/// The answer to an accepted bid: the rules' verdict and the bid's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidReceipt {
    pub bid_id: Uuid,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Most bids one `place_bids` update carries.
pub const MAX_BATCH: usize = 64;
/// Most written revisions one `place_bids` update confirms (an API sends the
/// few it wrote since its last batch; older ones the backstop publishes).
pub const MAX_WRITTEN: usize = 2 * MAX_BATCH;

/// A `place_bids` update's input: the bids, in arrival order, and the
/// revisions of earlier batches that this API replica has written to the read
/// model since its last batch. A confirmed revision needs no durable
/// publication from the workflow; what nobody confirms is published by the
/// workflow's backstop. Replicas from before confirmations send the bare list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BidBatch {
    Bids(Vec<PlaceBid>),
    Confirming {
        bids: Vec<PlaceBid>,
        written: Vec<u64>,
    },
}

impl BidBatch {
    pub fn bids(&self) -> &[PlaceBid] {
        match self {
            BidBatch::Confirming { bids, .. } | BidBatch::Bids(bids) => bids,
        }
    }

    /// Revisions the sender wrote to the read model.
    pub fn written(&self) -> &[u64] {
        match self {
            BidBatch::Confirming { written, .. } => written,
            BidBatch::Bids(_) => &[],
        }
    }
}

/// What became of one bid of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum BidOutcome {
    Accepted(BidReceipt),
    Refused { rejection: Rejection },
}

/// The answer to a `place_bids` batch: one outcome per bid, in order, and
/// what the batch changed for the read model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchReceipt {
    pub outcomes: Vec<BidOutcome>,
    pub live: LiveDelta,
}

/// Why a whole batch was refused (nothing of it reaches the history): each
/// bid's rejection, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("every bid of the batch was refused")]
pub struct BatchRefused {
    pub rejections: Vec<Rejection>,
}

/// A request to cancel. The API checks who may ask; the workflow checks again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRequest {
    pub requested_by: Uuid,
    /// Admins may cancel at any time; the seller only before the first bid.
    pub as_admin: bool,
    pub reason: String,
}

/// Why a cancel was refused. Codes are part of the public API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum CancelRefusal {
    #[error("only the seller or an admin may cancel this auction")]
    NotAllowed,
    #[error("the auction has bids; only an admin may cancel it now")]
    HasBids,
    #[error("the auction is already over")]
    AuctionClosed,
    /// Only from a hand-sent signal: the API checks the reason itself.
    #[error("the reason holds a character that is not allowed in text")]
    InvalidText,
}

impl CancelRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            CancelRefusal::NotAllowed => "cancel_not_allowed",
            CancelRefusal::HasBids => "auction_has_bids",
            CancelRefusal::AuctionClosed => "auction_closed",
            CancelRefusal::InvalidText => "invalid_text",
        }
    }

    /// Checks `request` against the book; `Ok` means the cancel applies.
    pub fn check(book: &Book, request: &CancelRequest) -> Result<(), CancelRefusal> {
        if crate::text::forbidden(&request.reason, crate::text::Lines::Many).is_some() {
            return Err(CancelRefusal::InvalidText);
        }
        if matches!(book.phase, Phase::Closed | Phase::Cancelled) {
            return Err(CancelRefusal::AuctionClosed);
        }
        if request.as_admin {
            return Ok(());
        }
        if request.requested_by != book.terms.seller_id {
            return Err(CancelRefusal::NotAllowed);
        }
        if book.bid_count > 0 {
            return Err(CancelRefusal::HasBids);
        }
        Ok(())
    }
}

/// A seller's (or an admin's) removal of one of the lot's photos, asked of
/// the workflow because it is the one place that orders bids: granted, it
/// comes before every bid accepted after it; refused once a bid is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoRemoval {
    pub photo_id: Uuid,
}

/// Why a photo removal was refused. Codes are part of the public API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum PhotoRefusal {
    #[error("this lot has bids: bidders bid on what they saw, so its photos stay")]
    AuctionHasBids,
}

impl PhotoRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            PhotoRefusal::AuctionHasBids => "auction_has_bids",
        }
    }

    /// `Ok` while no bid is in.
    pub fn check(book: &Book) -> Result<(), PhotoRefusal> {
        if book.bid_count > 0 {
            return Err(PhotoRefusal::AuctionHasBids);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::{
        contract::view::{AuctionStatus, NoSaleReason, Outcome},
        rules::{AntiSniping, Currency, Terms},
    };

    const SELLER: Uuid = Uuid::from_u128(1);
    const ALICE: Uuid = Uuid::from_u128(2);
    const ADMIN: Uuid = Uuid::from_u128(9);

    fn book(reserve: Option<i64>) -> Book {
        let start = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let mut book = Book::new(Terms {
            seller_id: SELLER,
            currency: Currency::Ngn,
            starting_price: 1_000,
            reserve_price: reserve,
            buy_now_price: None,
            min_increment: None,
            starts_at: start,
            ends_at: start + chrono::Duration::hours(1),
            anti_sniping: AntiSniping::default(),
            hard_close_at: None,
            second_chance_offers: true,
        });
        book.phase = Phase::Open;
        book
    }

    fn bid(book: &mut Book, amount: i64) {
        let request = BidRequest {
            bidder_id: ALICE,
            amount,
            max_amount: None,
            currency: None,
            idempotency_key: format!("k{amount}"),
        };
        let at = book.terms.starts_at;
        book.place(&request, at).unwrap();
    }

    fn cancel(by: Uuid, as_admin: bool) -> CancelRequest {
        CancelRequest {
            requested_by: by,
            as_admin,
            reason: "test".into(),
        }
    }

    #[test]
    fn outcomes_name_the_winner_or_why_nothing_sold() {
        let mut empty = book(None);
        empty.phase = Phase::Closed;
        assert_eq!(
            Outcome::of_closed(&empty),
            Outcome::NoSale {
                reason: NoSaleReason::NoBids
            }
        );
        let mut short = book(Some(5_000));
        bid(&mut short, 2_000);
        assert_eq!(
            Outcome::of_closed(&short),
            Outcome::NoSale {
                reason: NoSaleReason::ReserveNotMet
            }
        );
        let mut sold = book(Some(5_000));
        bid(&mut sold, 5_000);
        assert_eq!(
            Outcome::of_closed(&sold),
            Outcome::Sold {
                winner_id: ALICE,
                price: 5_000
            }
        );
        assert_eq!(Outcome::of_closed(&sold).status(), AuctionStatus::Closed);
    }

    #[test]
    fn sellers_cancel_before_bids_admins_any_time_nobody_after_the_end() {
        let mut auction = book(None);
        assert_eq!(
            CancelRefusal::check(&auction, &cancel(SELLER, false)),
            Ok(())
        );
        assert_eq!(
            CancelRefusal::check(&auction, &cancel(ALICE, false)),
            Err(CancelRefusal::NotAllowed)
        );
        bid(&mut auction, 1_000);
        assert_eq!(
            CancelRefusal::check(&auction, &cancel(SELLER, false)),
            Err(CancelRefusal::HasBids)
        );
        assert_eq!(CancelRefusal::check(&auction, &cancel(ADMIN, true)), Ok(()));
        auction.phase = Phase::Closed;
        assert_eq!(
            CancelRefusal::check(&auction, &cancel(ADMIN, true)),
            Err(CancelRefusal::AuctionClosed)
        );
    }

    #[test]
    fn a_young_run_takes_at_most_four_times_its_share_and_never_past_1500() {
        let with = |bids_per_run| AuctionSettings {
            bids_per_run,
            ..AuctionSettings::default()
        };
        assert_eq!(with(500).bids_ceiling(), 1_500);
        assert_eq!(with(40).bids_ceiling(), 160);
        assert_eq!(with(1_500).bids_ceiling(), 1_500);
        assert_eq!(with(0).bids_ceiling(), 4);
    }

    #[test]
    fn inputs_from_before_the_minimum_run_continue_as_they_did() {
        let old: AuctionSettings = serde_json::from_str(r#"{"bids_per_run": 500}"#).unwrap();
        assert_eq!(old.min_run_ms, 0);
        assert_eq!(AuctionSettings::default().min_run_ms, 1_500);
    }
}
