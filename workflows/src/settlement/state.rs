//! What settlement keeps between steps, and the narrow interface it has to
//! the workflow that owns it: [`Settlement`] is a value the auction workflow
//! holds (its handlers push payment notices and read the desk through it);
//! [`Sale`] is what settlement is told of the auction at the close; and
//! [`SettlementHost`] is all it may ask of the workflow while it runs.

use chrono::{DateTime, Utc};
use temporalio_sdk::{WorkflowContext, WorkflowResult};
use uuid::Uuid;

use super::desk::Desk;
use crate::{
    contract::{
        auction::{AuctionSettings, MAX_WINDOW_SECS},
        settlement::PaymentNotice,
        view::AuctionStatus,
    },
    rules::Currency,
};

/// Settlement's own state: its public status, the payment notices not yet
/// looked at, the last problem for operators, and the payment desk.
#[derive(Debug, Default)]
pub struct Settlement {
    /// Once settlement starts: `awaiting_payment`, `settled`, `unsold`.
    pub(super) status: Option<AuctionStatus>,
    /// `payment_received` signals not yet looked at.
    pub(super) notices: Vec<PaymentNotice>,
    /// The last thing that went wrong in settlement, for operators.
    pub(super) problem: Option<String>,
    /// Every invoice of the settlement and what its buyer asked for.
    pub(super) desk: Desk,
}

impl Settlement {
    pub fn status(&self) -> Option<AuctionStatus> {
        self.status
    }

    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// A payment to check, whenever it arrives (the saga confirms it, or
    /// refunds money it cannot use).
    pub fn notify(&mut self, notice: PaymentNotice) {
        self.notices.push(notice);
    }

    pub fn desk(&self) -> &Desk {
        &self.desk
    }

    /// The desk, for the update handlers that record what a buyer asked.
    pub fn desk_mut(&mut self) -> &mut Desk {
        &mut self.desk
    }
}

/// What settlement needs to know of the auction, fixed at the close.
#[derive(Debug, Clone)]
pub struct Sale {
    pub auction_id: Uuid,
    pub seller_id: Uuid,
    pub currency: Currency,
    pub title: String,
    pub settings: AuctionSettings,
    pub second_chance_offers: bool,
    pub has_bids: bool,
}

impl Sale {
    /// A payment or offer window of `secs` seconds. The settings are bounded
    /// where they are read (2 s to a year); a recorded input outside that is
    /// held to the same bounds, so the conversion below cannot fail.
    pub(super) fn window(secs: u64) -> chrono::Duration {
        let secs = secs.clamp(2, MAX_WINDOW_SECS);
        chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
    }
}

/// Notes what went wrong for the `settlement_problem` query.
pub(super) fn note_problem<H: SettlementHost>(ctx: &WorkflowContext<H>, problem: String) {
    ctx.state_mut(|s| s.settlement_mut().problem = Some(problem));
}

/// All settlement may ask of the workflow that runs it.
pub trait SettlementHost: Sized {
    fn settlement(&self) -> &Settlement;
    fn settlement_mut(&mut self) -> &mut Settlement;
    /// The next runner-up to offer the lot to, passing over `offered`.
    fn next_offer(&self, offered: &[Uuid]) -> Option<(Uuid, i64)>;
    /// Counts a refused message for the workflow's `refusals` query.
    fn refuse(&mut self, message: &str, reason: String, at: Option<DateTime<Utc>>);
    /// Settlement moved on to `status` (already in [`Settlement::status`]):
    /// the workflow tells the read model and the search attributes.
    fn publish_status(
        ctx: &WorkflowContext<Self>,
        status: AuctionStatus,
        round: u32,
        at: DateTime<Utc>,
    ) -> impl Future<Output = WorkflowResult<()>>;
    /// The run settles as release 0.2 does (patch
    /// [`crate::names::PATCH_AUCTION_0_2`]): steps that touch only Gavel's
    /// own database run as local activities, the emails of a sale paid at
    /// once go out together, work off the close's critical path runs on the
    /// settlement queue, and a paid sale goes on as its own workflow.
    fn release_0_2(&self) -> bool;
}
