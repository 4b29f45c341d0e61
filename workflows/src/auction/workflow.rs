//! `AuctionWorkflow`: one auction from scheduled to its outcome. Bids arrive as
//! the `bid` signal or the validated `place_bid` update and go through the pure
//! rules ([`super::open_phase`] runs the bidding); after the close the
//! settlement saga ([`crate::settlement`]) takes over. Buyers reach the
//! settlement through the `request_payment` and `answer_offer` updates and
//! payments arrive as `payment_received` signals.

use chrono::{DateTime, Utc};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ApplicationFailure, ContinueAsNewOptions, SyncWorkflowContext, WorkflowContext,
    WorkflowContextView, WorkflowResult,
};
use uuid::Uuid;

use super::{
    inbox::Refusals,
    model::{
        AuctionInput, AuctionSettings, AuctionStatus, AuctionView, BatchReceipt, BatchRefused,
        BidOutcome, BidReceipt, CancelRefusal, CancelRequest, Carried, Listing, MAX_BATCH, Outcome,
        PhotoRefusal, PhotoRemoval, PlaceBid, SettlementProblem,
    },
    open_phase::{take_bids_until_closed, wait_for_opening},
    publish::{
        AuctionEvent, AuctionSnapshot, BidRecord, EventData, LiveDelta, Publication, view_of,
    },
    steps::{index, publish_pending, time_of},
};
use crate::{
    lenient::Lenient,
    refusal::{self, HandlerError},
    rules::{Book, Phase, Rejection},
    settlement::{
        EmailJob, EmailKind, PaymentNotice, Settlement,
        desk::{Desk, OfferAnswer, OfferOutcome, PayLink, PaymentRefusal, PaymentRequest},
        legacy,
    },
};

/// Verdicts kept in the carried state; older retries are answered by the API
/// from the read model.
const VERDICTS_CARRIED: u64 = 1_000;
/// Outbid notices waiting at most (one per recipient); the oldest go first
/// when a bidding war outruns the mailer.
pub(crate) const OUTBID_QUEUE_MAX: usize = 1_000;

/// One auction. Its id is `auction-{uuid}`.
#[workflow]
pub struct AuctionWorkflow {
    pub(crate) auction_id: Uuid,
    pub(crate) listing: Listing,
    pub(crate) settings: AuctionSettings,
    pub(crate) book: Book,
    pub(crate) outcome: Option<Outcome>,
    carried: Carried,
    /// Bid and cancel messages handled in this run (continue-as-new trigger).
    pub(crate) messages_this_run: u32,
    /// Bumped by every handler, so the main loop wakes on any change.
    pub(crate) changes: u64,
    /// Accepted in this run; published again in full at the close, so the
    /// read model is whole even if an earlier write was lost.
    run_bids: Vec<BidRecord>,
    unpublished_bids: Vec<BidRecord>,
    unpublished_events: Vec<AuctionEvent>,
    snapshot_dirty: bool,
    /// What the search attributes last said: (status, ends_at, price).
    pub(crate) indexed: Option<(AuctionStatus, DateTime<Utc>, Option<i64>)>,
    /// Outbid notices waiting for the mailer.
    pub(crate) unsent_emails: Vec<EmailJob>,
    /// Outbid notices are coalesced per recipient and bounded (set once the
    /// open phase knows this run records it).
    pub(crate) outbid_batches: bool,
    /// Once settlement starts: `awaiting_payment`, `settled`, `unsold`.
    pub(crate) settlement_status: Option<AuctionStatus>,
    /// `payment_received` signals not yet looked at.
    pub(crate) notices: Vec<PaymentNotice>,
    /// The last thing that went wrong in settlement, for operators.
    pub(crate) settlement_problem: Option<String>,
    /// Every invoice of the settlement and what its buyer asked for.
    pub(crate) desk: Desk,
}

#[workflow_methods]
impl AuctionWorkflow {
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: AuctionInput) -> Self {
        let mut carried = input.carried.unwrap_or_default();
        let unpublished_bids = std::mem::take(&mut carried.unpublished_bids);
        let unpublished_events = std::mem::take(&mut carried.unpublished_events);
        let unsent_emails = std::mem::take(&mut carried.unsent_emails);
        Self {
            auction_id: input.auction_id,
            listing: input.listing,
            settings: input.settings,
            book: input.book,
            outcome: None,
            carried,
            messages_this_run: 0,
            changes: 0,
            run_bids: unpublished_bids.clone(),
            unpublished_bids,
            unpublished_events,
            snapshot_dirty: true,
            indexed: None,
            unsent_emails,
            outbid_batches: false,
            settlement_status: None,
            notices: Vec::new(),
            settlement_problem: None,
            desk: Desk::default(),
        }
    }

    #[run(name = "auction")]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<Outcome> {
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

    // The macro hands validators `&Input`, and the input is a `Vec`.
    #[allow(clippy::ptr_arg)]
    #[update_validator(place_bids)]
    pub fn validate_place_bids(
        &self,
        _ctx: &WorkflowContextView,
        bids: &Vec<PlaceBid>,
    ) -> Result<(), HandlerError> {
        if bids.is_empty() || bids.len() > MAX_BATCH {
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
        bids: Vec<PlaceBid>,
    ) -> Result<BatchReceipt, HandlerError> {
        let count = u32::try_from(bids.len()).unwrap_or(u32::MAX);
        self.messages_this_run = self.messages_this_run.saturating_add(count);
        self.changes += 1;
        let at = time_of(ctx.workflow_time()).ok_or("workflow time is unknown")?;
        let (bids_before, events_before) =
            (self.unpublished_bids.len(), self.unpublished_events.len());
        let outcomes = bids
            .iter()
            .map(|bid| match self.accept(bid, at) {
                Ok(receipt) => BidOutcome::Accepted(receipt),
                Err(rejection) => BidOutcome::Refused { rejection },
            })
            .collect();
        self.carried.revision += 1;
        let live = LiveDelta {
            revision: self.carried.revision,
            view: self.view(),
            bids: self.unpublished_bids[bids_before..].to_vec(),
            events: self.unpublished_events[events_before..].to_vec(),
            rules: self.book.rules,
        };
        // The durable publication still carries all of it.
        self.snapshot_dirty = true;
        Ok(BatchReceipt { outcomes, live })
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
                self.notices.push(notice);
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
        self.desk
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
            match ctx.state(|s| s.desk.check_payment(&request)) {
                Ok(Some(link)) => return Ok(link),
                Err(refusal) => return Err(desk_refused(refusal)),
                Ok(None) => {}
            }
            let attempts = ctx.state(|s| s.desk.link_attempts);
            if asked_at.is_some_and(|asked| attempts > asked) {
                return Err(desk_refused(PaymentRefusal::PaymentUnavailable));
            }
            let version = ctx.state_mut(|s| {
                s.desk.link_wanted = true;
                s.changes += 1;
                s.desk.version
            });
            asked_at = Some(attempts);
            ctx.wait_condition(move |s| s.desk.version != version)
                .await?;
        }
    }

    #[update_validator(answer_offer)]
    pub fn validate_answer_offer(
        &self,
        _ctx: &WorkflowContextView,
        answer: &OfferAnswer,
    ) -> Result<(), HandlerError> {
        self.desk
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
            match ctx.state(|s| s.desk.check_answer(&answer)) {
                Ok(Some(outcome)) => return Ok(outcome),
                Err(refusal) => return Err(desk_refused(refusal)),
                Ok(None) => {}
            }
            let version = ctx.state_mut(|s| {
                if !queued {
                    s.desk.answer(answer.clone());
                    s.changes += 1;
                }
                s.desk.version
            });
            queued = true;
            ctx.wait_condition(move |s| s.desk.version != version)
                .await?;
        }
    }

    /// What last went wrong in settlement (e.g. Paystack refusing the key).
    #[query(name = "settlement_problem")]
    pub fn settlement_problem(&self, _ctx: &WorkflowContextView) -> SettlementProblem {
        SettlementProblem {
            problem: self.settlement_problem.clone(),
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

/// The bid's id: stable for (auction, sequence number), so every retry and
/// every replay names the same bid.
pub fn bid_id(auction_id: Uuid, seq: u64) -> Uuid {
    Uuid::new_v5(&auction_id, format!("bid-{seq}").as_bytes())
}

/// Where settlement takes over from bidding. Guarded by patches so auctions
/// recorded before settlement, and before the money rules, replay as they ran.
async fn hand_over_to_settlement(
    ctx: &mut WorkflowContext<AuctionWorkflow>,
    outcome: &Outcome,
) -> WorkflowResult<()> {
    if !ctx.patched("settlement") {
        return Ok(());
    }
    if !ctx.patched("money-rules") {
        return match outcome {
            Outcome::Sold { winner_id, price } => legacy::settle(ctx, *winner_id, *price).await,
            Outcome::NoSale { .. } => {
                legacy::no_sale(ctx).await;
                Ok(())
            }
            Outcome::Cancelled { .. } => Ok(()),
        };
    }
    match outcome {
        Outcome::Sold { winner_id, price } => Settlement::new(ctx).sell(*winner_id, *price).await,
        Outcome::NoSale { .. } => {
            Settlement::no_sale(ctx).await;
            Ok(())
        }
        Outcome::Cancelled { .. } => {
            Settlement::cancelled(ctx).await;
            Ok(())
        }
    }
}

impl AuctionWorkflow {
    pub(crate) fn received_message(&mut self) {
        self.messages_this_run = self.messages_this_run.saturating_add(1);
        self.changes += 1;
    }

    /// Counts a refused message for the `refusals` query.
    pub(crate) fn refuse(&mut self, message: &str, reason: String, at: Option<DateTime<Utc>>) {
        self.carried.refusals.record(message, reason, at);
    }

    /// [`Self::refuse`], and a log line the first time (not on replay).
    fn refuse_logged(
        &mut self,
        ctx: &SyncWorkflowContext<Self>,
        message: &str,
        reason: String,
        at: Option<DateTime<Utc>>,
    ) {
        if !ctx.is_replaying() {
            tracing::warn!(auction_id = %self.auction_id, message, %reason, "refused a message");
        }
        self.refuse(message, reason, at);
    }

    pub(crate) fn view(&self) -> AuctionView {
        view_of(
            self.auction_id,
            &self.book,
            self.outcome.as_ref(),
            self.settlement_status,
            self.carried.runs_before,
        )
    }

    fn push_event(&mut self, at: DateTime<Utc>, data: EventData) {
        self.carried.event_seq += 1;
        self.unpublished_events.push(AuctionEvent {
            seq: self.carried.event_seq,
            at,
            data,
        });
        self.snapshot_dirty = true;
    }

    /// The one door for bids, whether signal or update.
    fn accept(&mut self, bid: &PlaceBid, at: DateTime<Utc>) -> Result<BidReceipt, Rejection> {
        let (verdict, accepted) = self.book.place(bid, at)?;
        let bid_id = bid_id(self.auction_id, verdict.seq);
        if let Some(accepted) = accepted {
            let record = BidRecord {
                bid_id,
                standing: verdict.standing,
                ends_at_after: verdict.ends_at,
                extended: verdict.extended,
                bought_now: verdict.bought_now,
                reserve_met: verdict.reserve_met,
                bid: accepted,
            };
            self.run_bids.push(record.clone());
            self.unpublished_bids.push(record);
            self.push_event(
                at,
                EventData::Bid {
                    bid_id,
                    bid_seq: verdict.seq,
                    amount: bid.amount,
                    current_price: verdict.current_price,
                    leader_id: self.book.leader,
                    bid_count: self.book.bid_count,
                    reserve_met: verdict.reserve_met,
                    ends_at: verdict.ends_at,
                },
            );
            if let Some(outbid) = verdict.outbid {
                self.queue_outbid(EmailJob {
                    kind: EmailKind::Outbid,
                    auction_id: self.auction_id,
                    recipient_id: outbid,
                    occasion: verdict.seq,
                    invoice_id: None,
                    pay_link: None,
                    amount: Some(verdict.current_price),
                    card_pending: false,
                });
            }
            if verdict.extended {
                self.push_event(
                    at,
                    EventData::Extended {
                        ends_at: verdict.ends_at,
                    },
                );
            }
            if verdict.bought_now {
                self.close(at);
            }
        }
        Ok(BidReceipt { bid_id, verdict })
    }

    /// Queues an outbid notice: one per recipient (the latest price wins)
    /// and at most [`OUTBID_QUEUE_MAX`] recipients, once batching is on.
    fn queue_outbid(&mut self, job: EmailJob) {
        if self.outbid_batches {
            self.unsent_emails
                .retain(|queued| queued.recipient_id != job.recipient_id);
            if self.unsent_emails.len() >= OUTBID_QUEUE_MAX {
                self.unsent_emails.remove(0);
            }
        }
        self.unsent_emails.push(job);
    }

    fn apply_cancel(
        &mut self,
        request: &CancelRequest,
        at: DateTime<Utc>,
    ) -> Result<(), CancelRefusal> {
        CancelRefusal::check(&self.book, request)?;
        self.book.phase = Phase::Cancelled;
        let outcome = Outcome::Cancelled {
            reason: request.reason.clone(),
        };
        self.outcome = Some(outcome);
        self.push_event(
            at,
            EventData::Cancelled {
                reason: request.reason.clone(),
            },
        );
        Ok(())
    }

    pub(crate) fn open(&mut self, at: DateTime<Utc>) {
        self.book.phase = Phase::Open;
        self.push_event(
            at,
            EventData::Opened {
                ends_at: self.book.ends_at,
            },
        );
    }

    pub(crate) fn close(&mut self, at: DateTime<Utc>) {
        self.book.phase = Phase::Closed;
        let outcome = Outcome::of_closed(&self.book);
        self.push_event(
            at,
            EventData::Closed {
                status: outcome.status(),
                outcome: outcome.clone(),
            },
        );
        self.outcome = Some(outcome);
    }

    pub(crate) fn has_unpublished(&self) -> bool {
        self.snapshot_dirty
            || !self.unpublished_bids.is_empty()
            || !self.unpublished_events.is_empty()
    }

    /// Takes what is waiting for the read model.
    pub(crate) fn take_publication(&mut self) -> Publication {
        self.carried.revision += 1;
        self.snapshot_dirty = false;
        Publication {
            snapshot: AuctionSnapshot {
                auction_id: self.auction_id,
                revision: self.carried.revision,
                listing: self.listing.clone(),
                terms: self.book.terms.clone(),
                view: self.view(),
            },
            bids: std::mem::take(&mut self.unpublished_bids),
            events: std::mem::take(&mut self.unpublished_events),
        }
    }

    pub(crate) fn set_settlement_status(
        &mut self,
        status: AuctionStatus,
        round: u32,
        at: DateTime<Utc>,
    ) {
        self.settlement_status = Some(status);
        self.push_event(at, EventData::Status { status, round });
    }

    /// The first settlement's notice queue: the oldest unhandled notice for
    /// `invoice_id`; notices for other (voided) invoices are dropped.
    pub(crate) fn take_notice_for(&mut self, invoice_id: Uuid) -> Option<PaymentNotice> {
        self.notices.retain(|n| n.invoice_id == invoice_id);
        (!self.notices.is_empty()).then(|| self.notices.remove(0))
    }

    fn republish_run_bids(&mut self) {
        self.unpublished_bids = self.run_bids.clone();
        self.snapshot_dirty = true;
    }

    pub(crate) fn continue_as_new_input(&mut self) -> AuctionInput {
        let mut book = self.book.clone();
        book.forget_old_verdicts(VERDICTS_CARRIED);
        let mut carried = self.carried.clone();
        carried.runs_before += 1;
        carried.unpublished_bids = std::mem::take(&mut self.unpublished_bids);
        carried.unpublished_events = std::mem::take(&mut self.unpublished_events);
        carried.unsent_emails = std::mem::take(&mut self.unsent_emails);
        AuctionInput {
            auction_id: self.auction_id,
            listing: self.listing.clone(),
            book,
            settings: self.settings,
            carried: Some(carried),
        }
    }
}
