//! `AuctionWorkflow`: one auction from scheduled to its outcome. Bids arrive as
//! the `bid` signal or the validated `place_bid` update and go through the pure
//! rules ([`super::open_phase`] runs the bidding); after the close the
//! settlement saga ([`crate::settlement`]) takes over. Buyers reach the
//! settlement through the `request_payment` and `answer_offer` updates and
//! payments arrive as `payment_received` signals.

use chrono::{DateTime, Utc};
use temporalio_macros::workflow_methods;
use temporalio_sdk::{
    ApplicationFailure, ContinueAsNewOptions, SyncWorkflowContext, WorkflowContext,
    WorkflowContextView, WorkflowResult,
};
use uuid::Uuid;

use super::{
    open_phase::{take_bids_until_closed, wait_for_opening},
    publishing::{index, publish_pending},
    state::AuctionWorkflow,
};
use crate::{
    contract::{
        alerts::AlertsChanged,
        auction::{
            AuctionInput, BatchReceipt, BatchRefused, BidBatch, BidOutcome, BidReceipt,
            CancelRefusal, CancelRequest, MAX_BATCH, MAX_WRITTEN, PhotoRefusal, PhotoRemoval,
            PlaceBid, SettlementProblem,
        },
        read_model::LiveDelta,
        refusals::Refusals,
        settlement::PaymentNotice,
        view::{AuctionStatus, AuctionView, Outcome},
    },
    lenient::Lenient,
    names,
    refusal::{self, HandlerError},
    rules::{Phase, Rejection},
    settlement::{
        Saga, Settlement, SettlementHost,
        desk::{OfferAnswer, OfferOutcome, PayLink, PaymentRefusal, PaymentRequest},
    },
    steps::{now, time_of},
};

#[workflow_methods]
impl AuctionWorkflow {
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: AuctionInput) -> Self {
        Self::from_input(input)
    }

    #[run(name = "auction")]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<Outcome> {
        let release_0_2 = ctx.patched(names::PATCH_AUCTION_0_2);
        let started = now(ctx)?;
        ctx.state_mut(|s| {
            s.release_0_2 = release_0_2;
            s.run_started_at = Some(started);
        });
        index(ctx);
        if ctx.state(|s| s.book.phase == Phase::Scheduled) {
            wait_for_opening(ctx).await?;
        }
        if let Some(next) = take_bids_until_closed(ctx).await? {
            match ctx.continue_as_new(next, ContinueAsNewOptions::default())? {}
        }
        let wait_ctx = ctx.clone();
        ctx.wait_condition(move |_| wait_ctx.all_handlers_finished())
            .await?;
        ctx.state_mut(|s| s.republish_run_bids());
        publish_pending(ctx).await?;
        index(ctx);
        let outcome = ctx
            .state(|s| s.outcome.clone())
            .ok_or_else(|| ApplicationFailure::new("the auction ended without an outcome"))?;
        hand_over_to_settlement(ctx, &outcome).await?;
        // Buyers waiting on the desk get their answer before the run ends.
        let wait_ctx = ctx.clone();
        ctx.wait_condition(move |_| wait_ctx.all_handlers_finished())
            .await?;
        Ok(outcome)
    }

    #[signal(name = "bid")]
    pub fn bid(&mut self, ctx: &mut SyncWorkflowContext<Self>, bid: Lenient<PlaceBid>) {
        self.received_message();
        let at = time_of(ctx.workflow_time());
        let refusal = match bid.into_result() {
            Err(reason) => reason,
            Ok(bid) => match at.map(|at| self.accept(&bid, at)) {
                Some(Ok(_)) => return,
                Some(Err(rejection)) => {
                    self.carried.refused_signal_bids += 1;
                    format!("{}: {rejection}", rejection.code())
                }
                None => "workflow time is unknown".to_owned(),
            },
        };
        self.refuse_logged(ctx, "bid", refusal, at);
    }

    #[update_validator(place_bid)]
    pub fn validate_place_bid(
        &self,
        _ctx: &WorkflowContextView,
        bid: &PlaceBid,
    ) -> Result<(), HandlerError> {
        self.book.check(bid, None).map_err(rejected)
    }

    #[update(name = "place_bid")]
    pub fn place_bid(
        &mut self,
        ctx: &mut SyncWorkflowContext<Self>,
        bid: PlaceBid,
    ) -> Result<BidReceipt, HandlerError> {
        self.received_message();
        let at = time_of(ctx.workflow_time()).ok_or("workflow time is unknown")?;
        self.accept(&bid, at).map_err(rejected)
    }

    #[update_validator(place_bids)]
    pub fn validate_place_bids(
        &self,
        _ctx: &WorkflowContextView,
        batch: &BidBatch,
    ) -> Result<(), HandlerError> {
        let bids = batch.bids();
        // Confirmations beyond a few batches' worth are not an API's.
        if bids.is_empty() || bids.len() > MAX_BATCH || batch.written().len() > MAX_WRITTEN {
            let refused = BatchRefused {
                rejections: vec![Rejection::InvalidAmount; bids.len()],
            };
            return Err(refusal::typed("invalid_batch", &refused));
        }
        self.book
            .check_batch(bids)
            .map_err(|rejections| refusal::typed("bids_refused", &BatchRefused { rejections }))
    }

    /// A batch of bids from one API replica (bids that arrived while the
    /// previous batch was in flight), applied in arrival order. The answer
    /// carries each bid's outcome and what the API writes to the read model.
    #[update(name = "place_bids")]
    pub fn place_bids(
        &mut self,
        ctx: &mut SyncWorkflowContext<Self>,
        batch: BidBatch,
    ) -> Result<BatchReceipt, HandlerError> {
        let bids = batch.bids();
        // Every bid of the batch is one message toward continuing as new.
        self.messages_this_run = bids
            .iter()
            .fold(self.messages_this_run, |count, _| count.saturating_add(1));
        self.changes += 1;
        let at = time_of(ctx.workflow_time()).ok_or("workflow time is unknown")?;
        let (bids_before, events_before) =
            (self.unpublished_bids.len(), self.unpublished_events.len());
        let dirty_before = self.snapshot_dirty;
        let written_before = (self.book.bid_count, self.book.leader);
        let outcomes: Vec<BidOutcome> = bids
            .iter()
            .map(|bid| match self.accept(bid, at) {
                Ok(receipt) => BidOutcome::Accepted(receipt),
                Err(rejection) => BidOutcome::Refused { rejection },
            })
            .collect();
        self.carried.revision += 1;
        let mut records = self.unpublished_bids[bids_before..].to_vec();
        if self.release_0_2 {
            // A key accepted earlier in this run is answered with its record,
            // which the API writes again if its first write was lost.
            for outcome in &outcomes {
                if let BidOutcome::Accepted(receipt) = outcome
                    && !records.iter().any(|r| r.bid.seq == receipt.verdict.seq)
                    && let Some(record) = self.run_bid(receipt.verdict.seq)
                {
                    records.push(record.clone());
                }
            }
        }
        let live = LiveDelta {
            revision: self.carried.revision,
            view: self.view(),
            bids: records,
            events: self.unpublished_events[events_before..].to_vec(),
            rules: self.book.rules,
        };
        if self.release_0_2 {
            // The API writes this batch itself and says so with a later
            // batch; the backstop publishes it if nobody does.
            self.hold_unconfirmed(
                self.carried.revision,
                at,
                written_before,
                (bids_before, events_before),
            );
            self.snapshot_dirty = dirty_before;
            self.confirm(batch.written());
        } else {
            // The durable publication still carries all of it.
            self.snapshot_dirty = true;
        }
        Ok(BatchReceipt { outcomes, live })
    }

    /// Someone's "ending soon" alert may fall before the planned check (a
    /// new watcher, a longer lead): the API signals only then. Runs without
    /// alerts ignore it.
    #[signal(name = "alerts_changed")]
    pub fn alerts_changed(
        &mut self,
        ctx: &mut SyncWorkflowContext<Self>,
        news: Lenient<AlertsChanged>,
    ) {
        let at = time_of(ctx.workflow_time());
        match (news.into_result(), at) {
            (Ok(_), Some(at)) => {
                self.check_alerts_by(at);
                // A run of 0.1.0 sends no alerts (an API of 0.2 may still
                // signal it, each watch): the signal does not wake its
                // loop, which 0.1.0's code, without this handler, never
                // did, unless its history has grown long enough that
                // Temporal suggests continuing as new (the next run is
                // 0.2's). In a run's first activation this runs before
                // `run` has read the patch: the loop has not started, and
                // it reads the plan set here when it does.
                if self.release_0_2 || ctx.continue_as_new_suggested() {
                    self.changes += 1;
                }
            }
            (Ok(_), None) => {
                self.refuse_logged(ctx, "alerts_changed", "workflow time is unknown".into(), at)
            }
            (Err(reason), _) => self.refuse_logged(ctx, "alerts_changed", reason, at),
        }
    }

    #[signal(name = "cancel")]
    pub fn cancel(&mut self, ctx: &mut SyncWorkflowContext<Self>, request: Lenient<CancelRequest>) {
        self.received_message();
        let at = time_of(ctx.workflow_time());
        let refusal = match (request.into_result(), at) {
            (Err(reason), _) => reason,
            (Ok(_), None) => "workflow time is unknown".to_owned(),
            (Ok(request), Some(at)) => match self.apply_cancel(&request, at) {
                Ok(()) => return,
                Err(refusal) => format!("{}: {refusal}", refusal.code()),
            },
        };
        self.refuse_logged(ctx, "cancel", refusal, at);
    }

    #[update_validator(cancel_auction)]
    pub fn validate_cancel_auction(
        &self,
        _ctx: &WorkflowContextView,
        request: &CancelRequest,
    ) -> Result<(), HandlerError> {
        CancelRefusal::check(&self.book, request).map_err(refused)
    }

    #[update(name = "cancel_auction")]
    pub fn cancel_auction(
        &mut self,
        ctx: &mut SyncWorkflowContext<Self>,
        request: CancelRequest,
    ) -> Result<AuctionView, HandlerError> {
        self.received_message();
        let at = time_of(ctx.workflow_time()).ok_or("workflow time is unknown")?;
        self.apply_cancel(&request, at).map_err(refused)?;
        Ok(self.view())
    }

    #[update_validator(remove_photo)]
    pub fn validate_remove_photo(
        &self,
        _ctx: &WorkflowContextView,
        _removal: &PhotoRemoval,
    ) -> Result<(), HandlerError> {
        PhotoRefusal::check(&self.book).map_err(photo_refused)
    }

    /// A photo may go until the first bid. The API asks here, where bids
    /// are ordered, while it holds the removal uncommitted: granted, the
    /// removal precedes every bid accepted after it; refused, nothing is
    /// removed. Nothing in the workflow changes, so no command follows.
    #[update(name = "remove_photo")]
    pub fn remove_photo(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        removal: PhotoRemoval,
    ) -> Result<PhotoRemoval, HandlerError> {
        // Counted toward continuing as new, as every update is.
        self.messages_this_run = self.messages_this_run.saturating_add(1);
        PhotoRefusal::check(&self.book).map_err(photo_refused)?;
        Ok(removal)
    }

    /// A payment to check: from the Paystack webhook or an admin's offline
    /// payment. Settlement confirms it (and refunds money it cannot use).
    #[signal(name = "payment_received")]
    pub fn payment_received(
        &mut self,
        ctx: &mut SyncWorkflowContext<Self>,
        notice: Lenient<PaymentNotice>,
    ) {
        match notice.into_result() {
            Ok(notice) => {
                self.settlement.notify(notice);
                self.changes += 1;
            }
            Err(reason) => {
                let at = time_of(ctx.workflow_time());
                self.refuse_logged(ctx, "payment_received", reason, at);
            }
        }
    }

    #[update_validator(request_payment)]
    pub fn validate_request_payment(
        &self,
        _ctx: &WorkflowContextView,
        request: &PaymentRequest,
    ) -> Result<(), HandlerError> {
        self.settlement
            .desk()
            .check_payment(request)
            .map(|_| ())
            .map_err(desk_refused)
    }

    /// A buyer asks how to pay: the invoice's one pay link, made now if it
    /// does not exist yet (by the settlement, never twice).
    #[update(name = "request_payment")]
    pub async fn request_payment(
        ctx: &mut WorkflowContext<Self>,
        request: PaymentRequest,
    ) -> Result<PayLink, HandlerError> {
        let mut asked_at = None;
        loop {
            match ctx.state(|s| s.settlement.desk().check_payment(&request)) {
                Ok(Some(link)) => return Ok(link),
                Err(refusal) => return Err(desk_refused(refusal)),
                Ok(None) => {}
            }
            let attempts = ctx.state(|s| s.settlement.desk().link_attempts);
            if asked_at.is_some_and(|asked| attempts > asked) {
                return Err(desk_refused(PaymentRefusal::PaymentUnavailable));
            }
            let version = ctx.state_mut(|s| {
                s.settlement.desk_mut().link_wanted = true;
                s.changes += 1;
                s.settlement.desk().version
            });
            asked_at = Some(attempts);
            ctx.wait_condition(move |s| s.settlement.desk().version != version)
                .await?;
        }
    }

    #[update_validator(answer_offer)]
    pub fn validate_answer_offer(
        &self,
        _ctx: &WorkflowContextView,
        answer: &OfferAnswer,
    ) -> Result<(), HandlerError> {
        self.settlement
            .desk()
            .check_answer(answer)
            .map(|_| ())
            .map_err(desk_refused)
    }

    /// A runner-up accepts or declines a second-chance offer; answers once
    /// the settlement has acted on it.
    #[update(name = "answer_offer")]
    pub async fn answer_offer(
        ctx: &mut WorkflowContext<Self>,
        answer: OfferAnswer,
    ) -> Result<OfferOutcome, HandlerError> {
        let mut queued = false;
        loop {
            match ctx.state(|s| s.settlement.desk().check_answer(&answer)) {
                Ok(Some(outcome)) => return Ok(outcome),
                Err(refusal) => return Err(desk_refused(refusal)),
                Ok(None) => {}
            }
            let version = ctx.state_mut(|s| {
                if !queued {
                    s.settlement.desk_mut().answer(answer.clone());
                    s.changes += 1;
                }
                s.settlement.desk().version
            });
            queued = true;
            ctx.wait_condition(move |s| s.settlement.desk().version != version)
                .await?;
        }
    }

    /// What last went wrong in settlement (e.g. Paystack refusing the key).
    #[query(name = "settlement_problem")]
    pub fn settlement_problem(&self, _ctx: &WorkflowContextView) -> SettlementProblem {
        SettlementProblem {
            problem: self.settlement.problem().map(str::to_owned),
        }
    }

    /// Messages this auction refused to act on (malformed signals, bids the
    /// rules refused, offline payments by non-admins).
    #[query(name = "refusals")]
    pub fn refusals(&self, _ctx: &WorkflowContextView) -> Refusals {
        self.carried.refusals.clone()
    }

    #[query(name = "state")]
    pub fn state(&self, _ctx: &WorkflowContextView) -> AuctionView {
        self.view()
    }
}

/// A bid's rejection as a typed failure (code `bid_too_low`, …).
fn rejected(rejection: Rejection) -> HandlerError {
    refusal::typed(rejection.code(), &rejection)
}

fn refused(refusal: CancelRefusal) -> HandlerError {
    refusal::typed(refusal.code(), &refusal)
}

fn photo_refused(refusal: PhotoRefusal) -> HandlerError {
    refusal::typed(refusal.code(), &refusal)
}

fn desk_refused(refusal: PaymentRefusal) -> HandlerError {
    refusal::typed(refusal.code(), &refusal)
}

/// Where settlement takes over from bidding: it is told of the sale and
/// keeps its state in the workflow's [`Settlement`].
async fn hand_over_to_settlement(
    ctx: &mut WorkflowContext<AuctionWorkflow>,
    outcome: &Outcome,
) -> WorkflowResult<()> {
    let sale = ctx.state(|s| s.sale());
    match outcome {
        Outcome::Sold { winner_id, price } => Saga::new(ctx, sale).sell(*winner_id, *price).await,
        Outcome::NoSale { .. } => {
            Saga::no_sale(ctx, &sale).await;
            Ok(())
        }
        Outcome::Cancelled { .. } => {
            Saga::cancelled(ctx, &sale).await;
            Ok(())
        }
    }
}

/// What settlement may ask of the auction.
impl SettlementHost for AuctionWorkflow {
    fn settlement(&self) -> &Settlement {
        &self.settlement
    }

    fn settlement_mut(&mut self) -> &mut Settlement {
        &mut self.settlement
    }

    fn next_offer(&self, offered: &[Uuid]) -> Option<(Uuid, i64)> {
        self.book.next_offer(offered)
    }

    fn refuse(&mut self, message: &str, reason: String, at: Option<DateTime<Utc>>) {
        AuctionWorkflow::refuse(self, message, reason, at);
    }

    fn release_0_2(&self) -> bool {
        self.release_0_2
    }

    async fn publish_status(
        ctx: &WorkflowContext<Self>,
        status: AuctionStatus,
        round: u32,
        at: DateTime<Utc>,
    ) -> WorkflowResult<()> {
        ctx.state_mut(|s| s.settlement_moved(status, round, at));
        index(ctx);
        publish_pending(ctx).await
    }
}
