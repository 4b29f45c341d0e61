//! What happens to a sale after it is paid for: the terms it runs under, what
//! the sale's workflow reads of it (a [`SaleView`] of its row) and the
//! activities it asks for. People act on a sale through the API, which moves
//! its row in one conditional UPDATE and then nudges the workflow; the
//! workflow keeps the deadlines and moves the money.
//!
//! Activity names and these shapes are recorded in history.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use temporalio_macros::activity_definitions;
use temporalio_sdk::activities::ActivityError;
use uuid::Uuid;

use crate::rules::Currency;

/// The windows of a sale's journey and its payout's retries, fixed per
/// auction when it is listed (settings of the API), so a config change never
/// changes a running sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JourneyTerms {
    /// How long the seller has to mark a paid lot shipped.
    pub ship_within_secs: u64,
    /// After shipping, when receipt is assumed if the buyer says nothing.
    pub delivery_window_secs: u64,
    /// After receipt, how long the buyer may open a claim.
    pub claim_window_secs: u64,
    /// How long the seller has to answer a claim.
    pub claim_answer_secs: u64,
    /// Transfers tried at most (each failed or reversed one starts another).
    pub payout_attempts: u32,
    /// The first wait after a failed transfer (doubling, at most an hour).
    pub payout_backoff_secs: u64,
}

impl Default for JourneyTerms {
    fn default() -> Self {
        Self {
            ship_within_secs: 3 * 86_400,
            delivery_window_secs: 14 * 86_400,
            claim_window_secs: 3 * 86_400,
            claim_answer_secs: 3 * 86_400,
            payout_attempts: 5,
            payout_backoff_secs: 60,
        }
    }
}

/// The sale workflow's input: one paid invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleStart {
    pub invoice_id: Uuid,
    pub auction_id: Uuid,
    pub seller_id: Uuid,
    pub buyer_id: Uuid,
    pub currency: Currency,
    /// What the buyer paid, minor units.
    pub amount: i64,
    pub terms: JourneyTerms,
}

/// `open_sale`'s input: the sale and the shipping deadline the workflow set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenSale {
    pub start: SaleStart,
    pub ship_by: DateTime<Utc>,
}

/// Where the lot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleStage {
    AwaitingShipment,
    Shipped,
    Received,
    /// Claims are closed; the payout is under way or done.
    Closed,
    CancelledUnshipped,
}

/// Where a claim is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimState {
    /// Waiting for the seller's answer.
    Open,
    /// The seller gave back what they chose (maybe all).
    Accepted,
    /// The seller contested: an admin decides.
    Contested,
    /// The seller let the answer window pass: an admin decides.
    Unanswered,
    /// An admin decided.
    Decided,
}

impl ClaimState {
    /// Settled: whatever is given back is known.
    pub fn settled(self) -> bool {
        matches!(self, ClaimState::Accepted | ClaimState::Decided)
    }
}

/// Where the money is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutState {
    Held,
    Scheduled,
    Sending,
    Otp,
    Paid,
    Failed,
    Cancelled,
}

/// A claim as the workflow sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimView {
    pub id: i64,
    pub state: ClaimState,
}

/// The sale's row as the workflow reads it after every nudge and deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleView {
    pub stage: SaleStage,
    pub claim: Option<ClaimView>,
    /// Refunds of this sale's payment not yet asked of Paystack.
    pub refunds_to_ask: Vec<i64>,
    /// A dispute Paystack has not resolved.
    pub disputed: bool,
    pub payout: PayoutState,
    /// Transfer attempts made so far.
    pub attempts: u32,
}

/// A deadline the workflow's timer reached; applied only if the sale is
/// still where the deadline finds it (a person's action may have come first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deadline {
    /// Not shipped in time: refund in full, strike the seller, cancel.
    ShipBy,
    /// Shipped long enough ago: receipt is assumed, claims open until `claims_until`.
    Delivery { claims_until: DateTime<Utc> },
    /// Claims are closed (no claim, or the claim is settled): pay out.
    Claims,
    /// The seller did not answer the claim: an admin decides.
    ClaimAnswer,
}

/// `sale_deadline`'s input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineReached {
    pub invoice_id: Uuid,
    pub deadline: Deadline,
}

/// `note_deadlines`' input: deadlines the workflow set as it saw the sale
/// move (shown to people; the workflow's timers enforce them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleDeadlines {
    pub invoice_id: Uuid,
    pub receipt_assumed_at: Option<DateTime<Utc>>,
    pub claim_answer_by: Option<DateTime<Utc>>,
    #[serde(default)]
    pub claims_until: Option<DateTime<Utc>>,
}

/// What `prepare_payout` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum PayoutPlan {
    /// Hammer − refunds − commission, to `recipient_code`.
    Ready { amount: i64 },
    /// Waits: `reason` is `dispute`, `no_payout_account` or `refunds`
    /// (a refund still on its way; nothing can be fixed yet).
    Held { reason: String },
    /// Nothing to pay (refunded in full).
    Nothing,
}

/// `send_transfer`'s and `check_transfer`'s input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferAttempt {
    pub invoice_id: Uuid,
    pub attempt: u32,
}

/// What a transfer attempt came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum TransferOutcome {
    /// Paystack says `success` (verified).
    Paid,
    /// Paystack has not finished (`pending`, `received`, an unknown word):
    /// the `transfer.*` webhook or a later check decides.
    Pending,
    /// Waiting for an admin's OTP.
    Otp,
    /// Conclusively not paid (`failed`, `reversed`, `abandoned`, `blocked`,
    /// `rejected`): a new attempt may follow. `status` is Paystack's word.
    Failed { status: String },
    /// The Paystack balance cannot cover this payout and the money held for
    /// other sales: nothing was sent; try the same attempt later.
    ShortBalance,
    /// Paystack refused the request itself (bad recipient, transfers not
    /// enabled): an admin must act; `message` is Paystack's.
    Refused { message: String },
}

/// `payout_failed`'s input: the last attempt failed or Paystack refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutFailed {
    pub invoice_id: Uuid,
    pub why: String,
}

/// Activities of a sale's journey, implemented in `gavel-activities`.
pub struct SaleActivities;

#[activity_definitions]
impl SaleActivities {
    /// Records the sale (once) and returns its view.
    #[activity(name = "open_sale")]
    pub fn open_sale(input: OpenSale) -> Result<SaleView, ActivityError> {
        unimplemented!()
    }

    /// The sale's row as it is now.
    #[activity(name = "sale_state")]
    pub fn sale_state(invoice_id: Uuid) -> Result<SaleView, ActivityError> {
        unimplemented!()
    }

    /// Applies a deadline if it still applies; returns the view after it.
    #[activity(name = "sale_deadline")]
    pub fn sale_deadline(input: DeadlineReached) -> Result<SaleView, ActivityError> {
        unimplemented!()
    }

    /// Writes deadlines the workflow set, for people to see.
    #[activity(name = "note_deadlines")]
    pub fn note_deadlines(input: SaleDeadlines) -> Result<(), ActivityError> {
        unimplemented!()
    }

    /// Fixes hammer − refunds − commission = payout and finds the seller's
    /// payout account; marks the payout held (and says why) or scheduled.
    #[activity(name = "prepare_payout")]
    pub fn prepare_payout(invoice_id: Uuid) -> Result<PayoutPlan, ActivityError> {
        unimplemented!()
    }

    /// Sends the attempt's transfer (its reference written first; a retry
    /// sends the same one) unless the balance is short.
    #[activity(name = "send_transfer")]
    pub fn send_transfer(attempt: TransferAttempt) -> Result<TransferOutcome, ActivityError> {
        unimplemented!()
    }

    /// Asks Paystack where the attempt's transfer is and records it.
    #[activity(name = "check_transfer")]
    pub fn check_transfer(attempt: TransferAttempt) -> Result<TransferOutcome, ActivityError> {
        unimplemented!()
    }

    /// Marks the payout failed for an admin to act on.
    #[activity(name = "payout_failed")]
    pub fn payout_failed(input: PayoutFailed) -> Result<(), ActivityError> {
        unimplemented!()
    }
}

pub use sale_activities::{
    CheckTransfer as CheckTransferDefinition, NoteDeadlines as NoteDeadlinesDefinition,
    OpenSale as OpenSaleDefinition, PayoutFailed as PayoutFailedDefinition,
    PreparePayout as PreparePayoutDefinition, SaleDeadline as SaleDeadlineDefinition,
    SaleState as SaleStateDefinition, SendTransfer as SendTransferDefinition,
};

/// The Paystack transfer reference of a payout attempt: lowercase
/// `[a-z0-9-]`, 16–50 characters, derived from the invoice and the attempt
/// only, so every retry of one attempt sends the same reference.
pub fn transfer_reference(invoice_id: Uuid, attempt: u32) -> String {
    format!("gvl-po-{}-a{attempt}", invoice_id.simple())
}

/// Commission on what the buyer finally paid and kept: `bps` basis points,
/// at least `min`, never more than `kept` (nothing is kept: nothing taken).
pub fn commission(kept: i64, bps: i32, min: i64) -> i64 {
    if kept <= 0 {
        return 0;
    }
    // Rounded half up, in i128 so no amount can overflow.
    let share = (i128::from(kept) * i128::from(bps.max(0)) + 5_000) / 10_000;
    let share = i64::try_from(share).unwrap_or(i64::MAX);
    share.max(min.max(0)).min(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_follow_paystack_rules() {
        for attempt in [1, 9, 10, 99_999] {
            let reference = transfer_reference(Uuid::max(), attempt);
            assert!((16..=50).contains(&reference.len()), "{reference}");
            assert!(
                reference
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{reference}"
            );
        }
        assert_eq!(
            transfer_reference(Uuid::nil(), 1),
            transfer_reference(Uuid::nil(), 1)
        );
        assert_ne!(
            transfer_reference(Uuid::nil(), 1),
            transfer_reference(Uuid::nil(), 2)
        );
    }

    #[test]
    fn commission_is_a_share_of_what_was_kept() {
        assert_eq!(commission(100_000, 1000, 0), 10_000);
        assert_eq!(commission(100_005, 1000, 0), 10_001); // 10,000.5 rounds up
        assert_eq!(commission(1_000, 1000, 500), 500); // the minimum
        assert_eq!(commission(300, 1000, 500), 300); // never more than kept
        assert_eq!(commission(0, 1000, 500), 0); // refunded in full
        assert_eq!(commission(100_000, 0, 0), 0);
        assert_eq!(commission(i64::MAX, 10_000, 0), i64::MAX);
    }
}
