//! `AuctionWorkflow`: one auction from scheduled to its outcome. Bids arrive as
//! the `bid` signal or the validated `place_bid` update and go through the pure
//! rules; a close timer raced against state changes re-arms when a late bid
//! moves the end; accepted bids reach the read model in batches.

use std::{error::Error, future::Future, pin::Pin, time::Duration};

use chrono::{DateTime, SubsecRound, Utc};
use futures::FutureExt;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityOptions, ApplicationFailure, CancellableFuture, ContinueAsNewOptions,
    SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult, workflows::select,
};
use temporalio_workflow::RetryPolicy;
use uuid::Uuid;

use super::{
    model::{
        AuctionInput, AuctionSettings, AuctionStatus, AuctionView, BidReceipt, CancelRefusal,
        CancelRequest, Carried, Listing, Outcome, PlaceBid,
    },
    publish::{
        AuctionEvent, AuctionSnapshot, BidRecord, EventData, Publication, ReadModelActivities,
        search_attributes_of, status_of, view_of,
    },
};
use crate::{
    rules::{Book, Phase, Rejection},
    settlement::{
        EmailJob, EmailKind, InvoiceRef, InvoiceRequest, PaymentNotice, PaymentStart,
        SettlementActivities, Verification, external_retry_policy,
    },
};

/// Verdicts kept in the carried state; older retries are answered by the API
/// from the read model.
const VERDICTS_CARRIED: u64 = 1_000;

type HandlerError = Box<dyn Error + Send + Sync>;

/// One auction. Its id is `auction-{uuid}`.
#[workflow]
pub struct AuctionWorkflow {
    auction_id: Uuid,
    listing: Listing,
    settings: AuctionSettings,
    book: Book,
    outcome: Option<Outcome>,
    carried: Carried,
    /// Bid and cancel messages handled in this run (continue-as-new trigger).
    messages_this_run: u32,
    /// Bumped by every handler, so the main loop wakes on any change.
    changes: u64,
    /// Accepted in this run; published again in full at the close, so the
    /// read model is whole even if an earlier write was lost.
    run_bids: Vec<BidRecord>,
    unpublished_bids: Vec<BidRecord>,
    unpublished_events: Vec<AuctionEvent>,
    snapshot_dirty: bool,
    /// What the search attributes last said: (status, ends_at, price).
    indexed: Option<(AuctionStatus, DateTime<Utc>, Option<i64>)>,
    /// Outbid notices waiting for the mailer.
    unsent_emails: Vec<EmailJob>,
    /// Once settlement starts: `awaiting_payment`, `settled`, `unsold`.
    settlement_status: Option<AuctionStatus>,
    /// `payment_received` signals not yet looked at.
    notices: Vec<PaymentNotice>,
    /// The last thing that went wrong in settlement, for the `state` query.
    settlement_problem: Option<String>,
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
            settlement_status: None,
            notices: Vec::new(),
            settlement_problem: None,
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
        Ok(outcome)
    }

    #[signal(name = "bid")]
    pub fn bid(&mut self, ctx: &mut SyncWorkflowContext<Self>, bid: PlaceBid) {
        self.received_message();
        let Some(at) = time_of(ctx.workflow_time()) else {
            return;
        };
        if self.accept(&bid, at).is_err() {
            self.carried.refused_signal_bids += 1;
        }
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

    #[signal(name = "cancel")]
    pub fn cancel(&mut self, ctx: &mut SyncWorkflowContext<Self>, request: CancelRequest) {
        self.received_message();
        if let Some(at) = time_of(ctx.workflow_time()) {
            let _ = self.apply_cancel(&request, at);
        }
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

    /// A payment to check: from the Paystack webhook or an admin's offline
    /// payment. Verification happens in the workflow, with retries.
    #[signal(name = "payment_received")]
    pub fn payment_received(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        notice: PaymentNotice,
    ) {
        self.notices.push(notice);
        self.changes += 1;
    }

    /// What last went wrong in settlement (e.g. Paystack refusing the key).
    #[query(name = "settlement_problem")]
    pub fn settlement_problem(&self, _ctx: &WorkflowContextView) -> Option<String> {
        self.settlement_problem.clone()
    }

    #[query(name = "state")]
    pub fn state(&self, _ctx: &WorkflowContextView) -> AuctionView {
        self.view()
    }
}

/// A rejection travels to the client as its JSON (`{"code":"bid_too_low",…}`)
/// so the API can answer with the same code and details.
fn rejected(rejection: Rejection) -> HandlerError {
    serde_json::to_string(&rejection)
        .unwrap_or_else(|_| rejection.code().to_owned())
        .into()
}

fn refused(refusal: CancelRefusal) -> HandlerError {
    serde_json::to_string(&refusal)
        .unwrap_or_else(|_| refusal.code().to_owned())
        .into()
}

/// Workflow time at microsecond precision: what PostgreSQL stores, so a
/// verdict read back from the read model equals the one first given.
fn time_of(time: Option<std::time::SystemTime>) -> Option<DateTime<Utc>> {
    time.map(|t| DateTime::<Utc>::from(t).trunc_subsecs(6))
}

fn now(ctx: &WorkflowContext<AuctionWorkflow>) -> WorkflowResult<DateTime<Utc>> {
    Ok(time_of(ctx.workflow_time())
        .ok_or_else(|| ApplicationFailure::new("workflow time is unknown"))?)
}

/// The timer length from `now` to `until`, at least a millisecond.
fn until(now: DateTime<Utc>, until: DateTime<Utc>) -> Duration {
    (until - now)
        .to_std()
        .unwrap_or_default()
        .max(Duration::from_millis(1))
}

/// The bid's id: stable for (auction, sequence number), so every retry and
/// every replay names the same bid.
pub fn bid_id(auction_id: Uuid, seq: u64) -> Uuid {
    Uuid::new_v5(&auction_id, format!("bid-{seq}").as_bytes())
}

impl AuctionWorkflow {
    fn received_message(&mut self) {
        self.messages_this_run = self.messages_this_run.saturating_add(1);
        self.changes += 1;
    }

    fn view(&self) -> AuctionView {
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
                self.unsent_emails.push(EmailJob {
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

    fn open(&mut self, at: DateTime<Utc>) {
        self.book.phase = Phase::Open;
        self.push_event(
            at,
            EventData::Opened {
                ends_at: self.book.ends_at,
            },
        );
    }

    fn close(&mut self, at: DateTime<Utc>) {
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

    fn has_unpublished(&self) -> bool {
        self.snapshot_dirty
            || !self.unpublished_bids.is_empty()
            || !self.unpublished_events.is_empty()
    }

    /// Takes what is waiting for the read model.
    fn take_publication(&mut self) -> Publication {
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

    fn set_settlement_status(&mut self, status: AuctionStatus, round: u32, at: DateTime<Utc>) {
        self.settlement_status = Some(status);
        self.push_event(at, EventData::Status { status, round });
    }

    /// The oldest unhandled notice for `invoice_id`; notices for other
    /// (voided) invoices are dropped.
    fn take_notice_for(&mut self, invoice_id: Uuid) -> Option<PaymentNotice> {
        self.notices.retain(|n| n.invoice_id == invoice_id);
        (!self.notices.is_empty()).then(|| self.notices.remove(0))
    }

    fn republish_run_bids(&mut self) {
        self.unpublished_bids = self.run_bids.clone();
        self.snapshot_dirty = true;
    }

    fn continue_as_new_input(&mut self) -> AuctionInput {
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

/// Keeps the search attributes in step with the auction (one command, only
/// when something an operator filters on changed).
fn index(ctx: &WorkflowContext<AuctionWorkflow>) {
    let (current, updates) = ctx.state(|s| {
        let status = status_of(&s.book, s.outcome.as_ref(), s.settlement_status);
        let current = (status, s.book.ends_at, s.book.price);
        let updates = (s.indexed != Some(current)).then(|| search_attributes_of(&s.book, status));
        (current, updates)
    });
    if let Some(updates) = updates {
        ctx.upsert_search_attributes(updates);
        ctx.state_mut(|s| s.indexed = Some(current));
    }
}

fn publish_options() -> ActivityOptions {
    // The database may be down for a while: keep trying (no attempt limit),
    // never give up on a write that reflects an accepted bid.
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_millis(200))
                .backoff_coefficient(2.0)
                .maximum_interval(Duration::from_secs(30))
                .build(),
        )
        .build()
}

/// Publishes everything waiting, until nothing is (bids may arrive meanwhile).
async fn publish_pending(ctx: &WorkflowContext<AuctionWorkflow>) -> WorkflowResult<()> {
    while ctx.state(|s| s.has_unpublished()) {
        let publication = ctx.state_mut(|s| s.take_publication());
        ctx.execute_activity(
            ReadModelActivities::publish_auction,
            publication,
            publish_options(),
        )
        .await?;
    }
    Ok(())
}

async fn wait_for_opening(ctx: &mut WorkflowContext<AuctionWorkflow>) -> WorkflowResult<()> {
    let starts_at = ctx.state(|s| s.book.terms.starts_at);
    let started = now(ctx)?;
    if starts_at > started {
        publish_pending(ctx).await?;
        let timer = ctx.timer(until(now(ctx)?, starts_at));
        futures::pin_mut!(timer);
        select! {
            _ = timer => {}
            _ = ctx.wait_condition(|s| s.book.phase != Phase::Scheduled).fuse() => timer.cancel(),
        }
    }
    let at = now(ctx)?;
    ctx.state_mut(|s| {
        if s.book.phase == Phase::Scheduled {
            s.open(at);
        }
    });
    index(ctx);
    Ok(())
}

/// Waits for `future` if there is one, forever otherwise.
async fn or_never<F: Future + Unpin>(future: Option<&mut F>) -> F::Output {
    match future {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

/// Cancels an armed timer, so history shows it cancelled rather than firing
/// later for nothing.
fn cancel_timer<F: CancellableFuture>(armed: Option<(DateTime<Utc>, Pin<Box<F>>)>) {
    if let Some((_, timer)) = armed {
        timer.cancel();
    }
}

/// Waits for an in-flight activity, if any.
async fn finish<F, T, E>(in_flight: Option<Pin<Box<F>>>) -> Result<(), E>
where
    F: Future<Output = Result<T, E>>,
{
    if let Some(activity) = in_flight {
        activity.await?;
    }
    Ok(())
}

/// The open phase: arms the close timer, publishes bids as they come, and
/// returns the next run's input when it is time to continue as new (or
/// `None` once the auction is closed or cancelled).
async fn take_bids_until_closed(
    ctx: &mut WorkflowContext<AuctionWorkflow>,
) -> WorkflowResult<Option<AuctionInput>> {
    let mut close_timer: Option<(DateTime<Utc>, Pin<Box<_>>)> = None;
    let mut in_flight: Option<Pin<Box<_>>> = None;
    let mut mailing: Option<Pin<Box<_>>> = None;
    // Auctions recorded before outbid emails existed replay without them.
    let outbid_emails = ctx.patched("outbid-emails");
    loop {
        if ctx.state(|s| s.book.phase != Phase::Open) {
            break;
        }
        let due = ctx.state(|s| s.messages_this_run >= s.settings.bids_per_run.max(1))
            || ctx.continue_as_new_suggested();
        if due {
            cancel_timer(close_timer.take());
            // Let the write in flight land (an abandoned activity of a
            // finished run is not retried); what is still unpublished
            // travels with the next run's input.
            finish(in_flight.take()).await?;
            let _ = finish(mailing.take()).await;
            let wait_ctx = ctx.clone();
            ctx.wait_condition(move |_| wait_ctx.all_handlers_finished())
                .await?;
            return Ok(Some(ctx.state_mut(|s| s.continue_as_new_input())));
        }
        index(ctx);

        let at = now(ctx)?;
        let ends_at = ctx.state(|s| s.book.ends_at);
        if at >= ends_at {
            ctx.state_mut(|s| s.close(at));
            break;
        }
        if close_timer
            .as_ref()
            .is_none_or(|(armed, _)| *armed != ends_at)
        {
            cancel_timer(close_timer.take());
            close_timer = Some((ends_at, Box::pin(ctx.timer(until(at, ends_at)))));
        }
        if in_flight.is_none() && ctx.state(|s| s.has_unpublished()) {
            let publication = ctx.state_mut(|s| s.take_publication());
            in_flight = Some(Box::pin(ctx.execute_activity(
                ReadModelActivities::publish_auction,
                publication,
                publish_options(),
            )));
        }

        if !outbid_emails {
            ctx.state_mut(|s| s.unsent_emails.clear());
        }
        if mailing.is_none()
            && let Some(job) =
                ctx.state_mut(|s| (!s.unsent_emails.is_empty()).then(|| s.unsent_emails.remove(0)))
        {
            mailing = Some(Box::pin(ctx.execute_activity(
                SettlementActivities::send_email,
                job,
                external_options(),
            )));
        }

        let seen = ctx.state(|s| s.changes);
        select! {
            _ = or_never(close_timer.as_mut().map(|(_, t)| t)).fuse() => {
                close_timer = None;
            }
            published = or_never(in_flight.as_mut()).fuse() => {
                in_flight = None;
                published?;
            }
            // A failed email shows in the history; it never stops the auction.
            _ = or_never(mailing.as_mut()).fuse() => {
                mailing = None;
            }
            _ = ctx.wait_condition(|s| s.changes != seen).fuse() => {}
        }
    }
    cancel_timer(close_timer.take());
    finish(in_flight.take()).await?;
    let _ = finish(mailing.take()).await;
    while let Some(job) =
        ctx.state_mut(|s| (!s.unsent_emails.is_empty()).then(|| s.unsent_emails.remove(0)))
    {
        send(ctx, job).await;
    }
    Ok(None)
}

fn db_options() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(1))
                .backoff_coefficient(2.0)
                .maximum_interval(Duration::from_secs(60))
                .build(),
        )
        .build()
}

fn external_options() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
        .retry_policy(external_retry_policy())
        .build()
}

/// Sends (or records) one email. A permanent failure is visible in the
/// history and noted for the `settlement_problem` query; it never blocks
/// the sale.
async fn send(ctx: &WorkflowContext<AuctionWorkflow>, job: EmailJob) {
    if let Err(err) = ctx
        .execute_activity(SettlementActivities::send_email, job, external_options())
        .await
    {
        ctx.state_mut(|s| s.settlement_problem = Some(format!("email: {err}")));
    }
}

/// Sends several emails at once (one workflow task schedules them all).
async fn send_all(ctx: &WorkflowContext<AuctionWorkflow>, jobs: Vec<EmailJob>) {
    let sends = jobs
        .into_iter()
        .map(|job| ctx.execute_activity(SettlementActivities::send_email, job, external_options()));
    for result in temporalio_sdk::workflows::join_all(sends).await {
        if let Err(err) = result {
            ctx.state_mut(|s| s.settlement_problem = Some(format!("email: {err}")));
        }
    }
}

fn email(
    ctx: &WorkflowContext<AuctionWorkflow>,
    kind: EmailKind,
    recipient_id: Uuid,
    occasion: u64,
) -> EmailJob {
    EmailJob {
        kind,
        auction_id: ctx.state(|s| s.auction_id),
        recipient_id,
        occasion,
        invoice_id: None,
        pay_link: None,
        amount: None,
        card_pending: false,
    }
}

async fn set_status(
    ctx: &WorkflowContext<AuctionWorkflow>,
    status: AuctionStatus,
    round: u32,
) -> WorkflowResult<()> {
    let at = now(ctx)?;
    ctx.state_mut(|s| s.set_settlement_status(status, round, at));
    index(ctx);
    publish_pending(ctx).await
}

/// Where settlement takes over from bidding: a sale is invoiced and paid (or
/// offered down the line), a no-sale is announced. Guarded by a patch so
/// auctions recorded before settlement existed replay as they ran.
async fn hand_over_to_settlement(
    ctx: &mut WorkflowContext<AuctionWorkflow>,
    outcome: &Outcome,
) -> WorkflowResult<()> {
    if !ctx.patched("settlement") {
        return Ok(());
    }
    match outcome {
        Outcome::Sold { winner_id, price } => settle(ctx, *winner_id, *price).await,
        Outcome::NoSale { .. } => {
            let (seller, bidders) = ctx.state(|s| {
                (
                    s.book.terms.seller_id,
                    s.book.maxes.keys().copied().collect::<Vec<_>>(),
                )
            });
            let jobs = std::iter::once(seller)
                .chain(bidders)
                .map(|to| email(ctx, EmailKind::NoSale, to, 1))
                .collect();
            send_all(ctx, jobs).await;
            Ok(())
        }
        Outcome::Cancelled { .. } => Ok(()),
    }
}

/// Offers the lot to the winner, then (unpaid) to the next eligible bidder
/// at their own highest bid, up to the configured number of rounds.
async fn settle(
    ctx: &mut WorkflowContext<AuctionWorkflow>,
    winner: Uuid,
    price: i64,
) -> WorkflowResult<()> {
    let (seller, bidders, settings) = ctx.state(|s| {
        (
            s.book.terms.seller_id,
            s.book.maxes.keys().copied().collect::<Vec<_>>(),
            s.settings,
        )
    });
    let window = Duration::from_secs(settings.payment_window_secs.max(2));
    let mut offered = Vec::new();
    let mut next = Some((winner, price));
    let mut round = 0_u32;
    while let Some((buyer, amount)) = next.take() {
        round += 1;
        offered.push(buyer);
        let invoice = invoice_for(ctx, round, buyer, amount, window).await?;
        set_status(ctx, AuctionStatus::AwaitingPayment, round).await?;
        let charged = present_offer(ctx, &invoice, round, buyer).await;
        if round == 1 {
            // The winner hears first; then the seller and the others, at once.
            let mut sold = email(ctx, EmailKind::Sold, seller, 1);
            sold.amount = Some(price);
            let lost = bidders
                .iter()
                .filter(|b| **b != winner)
                .map(|b| email(ctx, EmailKind::AuctionLost, *b, 1));
            send_all(ctx, std::iter::once(sold).chain(lost).collect()).await;
        }
        if charged || await_payment(ctx, &invoice, round, buyer, window).await? {
            let mut receipt = email(ctx, EmailKind::Receipt, buyer, u64::from(round));
            receipt.invoice_id = Some(invoice.invoice_id);
            receipt.amount = Some(invoice.total);
            send(ctx, receipt).await;
            let mut completed = email(ctx, EmailKind::SaleCompleted, seller, u64::from(round));
            completed.invoice_id = Some(invoice.invoice_id);
            completed.amount = Some(invoice.total);
            send(ctx, completed).await;
            return set_status(ctx, AuctionStatus::Settled, round).await;
        }
        ctx.execute_activity(
            SettlementActivities::void_invoice,
            invoice.invoice_id,
            db_options(),
        )
        .await?;
        if round < settings.offer_rounds {
            next = ctx.state(|s| s.book.next_offer(&offered));
        }
    }
    send(ctx, email(ctx, EmailKind::Unsold, seller, u64::from(round))).await;
    set_status(ctx, AuctionStatus::Unsold, round).await
}

async fn invoice_for(
    ctx: &WorkflowContext<AuctionWorkflow>,
    round: u32,
    buyer: Uuid,
    amount: i64,
    window: Duration,
) -> WorkflowResult<InvoiceRef> {
    let due_at = now(ctx)? + chrono::Duration::from_std(window).unwrap_or_default();
    let request = ctx.state(|s| InvoiceRequest {
        auction_id: s.auction_id,
        round,
        buyer_id: buyer,
        seller_id: s.book.terms.seller_id,
        currency: s.book.terms.currency,
        amount,
        title: s.listing.title.clone(),
        due_at,
    });
    Ok(ctx
        .execute_activity(SettlementActivities::create_invoice, request, db_options())
        .await?)
}

/// Charges the buyer's stored card or emails the offer with its pay link;
/// `true` when the card paid at once.
async fn present_offer(
    ctx: &WorkflowContext<AuctionWorkflow>,
    invoice: &InvoiceRef,
    round: u32,
    buyer: Uuid,
) -> bool {
    let start = match ctx
        .execute_activity(
            SettlementActivities::start_payment,
            invoice.invoice_id,
            external_options(),
        )
        .await
    {
        Ok(start) => start,
        Err(err) => {
            // The failure (e.g. `PaystackBadKey`) is in the history for the
            // operator; the buyer can still pay offline.
            ctx.state_mut(|s| s.settlement_problem = Some(format!("payment: {err}")));
            PaymentStart::OfflineOnly
        }
    };
    if start == PaymentStart::Charged {
        return true;
    }
    let kind = if round == 1 {
        EmailKind::Won
    } else {
        EmailKind::SecondChance
    };
    let mut offer = email(ctx, kind, buyer, u64::from(round));
    offer.invoice_id = Some(invoice.invoice_id);
    offer.amount = Some(invoice.total);
    match start {
        PaymentStart::PayLink { authorization_url } => offer.pay_link = Some(authorization_url),
        PaymentStart::CardPending => offer.card_pending = true,
        PaymentStart::Charged | PaymentStart::OfflineOnly => {}
    }
    send(ctx, offer).await;
    false
}

/// Waits for a verified payment of `invoice`, reminding halfway through the
/// window; `false` when the window closed unpaid.
async fn await_payment(
    ctx: &mut WorkflowContext<AuctionWorkflow>,
    invoice: &InvoiceRef,
    round: u32,
    buyer: Uuid,
    window: Duration,
) -> WorkflowResult<bool> {
    let started = now(ctx)?;
    let window = chrono::Duration::from_std(window).unwrap_or_default();
    let reminder_at = started + window / 2;
    let deadline = started + window;
    let mut reminded = false;
    // A verification that failed outright (Paystack down past every retry)
    // keeps its notice and is tried again: a paid invoice must not be voided
    // because Paystack was unreachable for a while.
    let mut verify_again_at: Option<DateTime<Utc>> = None;
    loop {
        let at = now(ctx)?;
        // At the deadline a pending notice gets one last try.
        if at >= deadline || verify_again_at.is_none_or(|again| at >= again) {
            verify_again_at = None;
            while let Some(notice) = ctx.state_mut(|s| s.take_notice_for(invoice.invoice_id)) {
                match ctx
                    .execute_activity(
                        SettlementActivities::verify_payment,
                        notice.clone(),
                        external_options(),
                    )
                    .await
                {
                    Ok(Verification::Paid) => return Ok(true),
                    Ok(Verification::NotPaid { reason }) => {
                        ctx.state_mut(|s| {
                            s.settlement_problem = Some(format!("not paid: {reason}"))
                        });
                    }
                    Err(err) => {
                        let again = now(ctx)? + chrono::Duration::minutes(5);
                        ctx.state_mut(|s| {
                            s.settlement_problem = Some(format!("verify: {err}"));
                            s.notices.insert(0, notice);
                        });
                        verify_again_at = Some(again);
                        break;
                    }
                }
            }
        }
        let at = now(ctx)?;
        if at >= deadline {
            return Ok(false);
        }
        if !reminded && at >= reminder_at {
            reminded = true;
            let mut reminder = email(ctx, EmailKind::PaymentReminder, buyer, u64::from(round));
            reminder.invoice_id = Some(invoice.invoice_id);
            reminder.amount = Some(invoice.total);
            send(ctx, reminder).await;
            continue;
        }
        let mut wake = if reminded { deadline } else { reminder_at };
        if let Some(again) = verify_again_at {
            wake = wake.min(again);
        }
        let seen = ctx.state(|s| s.notices.len());
        let timer = ctx.timer(until(at, wake));
        futures::pin_mut!(timer);
        select! {
            _ = timer => {}
            _ = ctx.wait_condition(|s| s.notices.len() > seen).fuse() => {
                timer.cancel();
                // Someone says it is paid: look now, not after the pause.
                verify_again_at = None;
            }
        }
    }
}
