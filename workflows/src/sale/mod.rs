//! `SaleWorkflow`: one paid sale from payment to the seller's payout, a
//! child of the auction's workflow (`sale-{invoice_id}`, left running when
//! the auction's workflow ends).
//!
//! Why a child and not more of the auction's workflow: the journey lasts
//! weeks and has its own messages, while the auction's history is already
//! long with bids; a workflow of its own keeps both histories short, and
//! operators find a sale under its own id, linked to its auction.
//!
//! People act through the API: shipping, receipt, claims and their answers
//! move the sale's row in one conditional UPDATE each, and the API then
//! `nudge`s this workflow, which reads the row again. The workflow keeps
//! every deadline (applied by `sale_deadline` only if the sale is still
//! where the deadline finds it), asks Paystack for refunds, and pays the
//! seller: one transfer per attempt, its reference derived from the invoice
//! and the attempt, new attempts with backoff after a failed or reversed one.

mod plan;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    CancellableFuture, SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult,
    workflows::select,
};
use uuid::Uuid;

use self::plan::{Clock, Step, next_step};
use crate::{
    contract::{
        sale::{
            ClaimState, DeadlineReached, OpenSale, PayoutFailed, PayoutPlan, PayoutState,
            SaleActivities, SaleDeadlines, SaleStage, SaleStart, SaleView, TransferAttempt,
            TransferOutcome,
        },
        settlement::{EmailJob, EmailKind, SettlementActivities},
    },
    lenient::Lenient,
    steps::{db_options, external_options, failure_summary, now, payment_options, until},
};

/// The workflow id of the sale of `invoice_id`.
pub fn sale_workflow_id(invoice_id: Uuid) -> String {
    format!("sale-{invoice_id}")
}

/// How often a transfer Paystack has not finished, or a held payout, is
/// looked at again without news (the webhook and the API's nudges are the
/// fast path).
const CHECK_EVERY: chrono::Duration = chrono::Duration::minutes(10);
/// How often a sale waiting for an admin's decision reads its row again
/// without news (the decision's nudge is the fast path).
const DECISION_CHECK_EVERY: chrono::Duration = chrono::Duration::days(1);
/// How long after a payout a reversal is still listened for.
const REVERSAL_WATCH: chrono::Duration = chrono::Duration::days(7);
/// The longest wait between two transfer attempts.
const BACKOFF_MAX: chrono::Duration = chrono::Duration::hours(1);

/// Where a sale's money is, for the `money` query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleMoney {
    pub view: Option<SaleView>,
    /// What the workflow waits for, in words.
    pub waiting_for: String,
    /// The transfer attempt under way (0: none yet).
    pub attempt: u32,
}

#[workflow]
pub struct SaleWorkflow {
    start: SaleStart,
    view: Option<SaleView>,
    waiting_for: String,
    attempt: u32,
    /// Counts nudges, so a wait ends on any news.
    nudges: u64,
}

#[workflow_methods]
impl SaleWorkflow {
    #[init]
    pub fn new(_ctx: &WorkflowContextView, start: SaleStart) -> Self {
        Self {
            start,
            view: None,
            waiting_for: "the sale to be recorded".into(),
            attempt: 0,
            nudges: 0,
        }
    }

    /// Returns where the money ended, for the operator reading the UI.
    #[run(name = "sale")]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<String> {
        Journey::new(ctx)?.run().await
    }

    /// The sale's row changed (shipped, received, a claim, a payout account,
    /// a transfer event): read it again.
    #[signal(name = "nudge")]
    pub fn nudge(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _why: Lenient<String>) {
        self.nudges += 1;
    }

    #[query(name = "money")]
    pub fn money(&self, _ctx: &WorkflowContextView) -> SaleMoney {
        SaleMoney {
            view: self.view.clone(),
            waiting_for: self.waiting_for.clone(),
            attempt: self.attempt,
        }
    }
}

/// One run of the journey, holding what every step needs.
struct Journey {
    ctx: WorkflowContext<SaleWorkflow>,
    start: SaleStart,
    clock: Clock,
    /// Refunds asked of Paystack once already: one whose asking failed for
    /// good stays `requested` for an admin, and is not asked in a loop.
    asked: Vec<i64>,
    /// Nudges counted when the row was last read: one that came after (while
    /// an email went out, say) wakes the next pause at once.
    seen: std::cell::Cell<u64>,
}

impl Journey {
    fn new(ctx: &WorkflowContext<SaleWorkflow>) -> WorkflowResult<Self> {
        let start = ctx.state(|s| s.start.clone());
        let ship_by = now(ctx)? + secs(start.terms.ship_within_secs);
        Ok(Self {
            ctx: ctx.clone(),
            start,
            clock: Clock {
                ship_by: Some(ship_by),
                ..Clock::default()
            },
            asked: Vec::new(),
            seen: std::cell::Cell::new(0),
        })
    }

    async fn run(mut self) -> WorkflowResult<String> {
        let opened = OpenSale {
            start: self.start.clone(),
            ship_by: self.clock.ship_by.unwrap_or_default(),
        };
        let mut view = self
            .ctx
            .execute_activity(SaleActivities::open_sale, opened, db_options())
            .await?;
        let mut ship_by = self.email(EmailKind::ShipBy, self.start.seller_id, 1);
        ship_by.amount = Some(self.start.amount);
        deliver(&self.ctx, ship_by).await;
        let claim_window = secs(self.start.terms.claim_window_secs);
        loop {
            self.take(&view).await;
            let mut unasked = view.clone();
            unasked.refunds_to_ask.retain(|id| !self.asked.contains(id));
            match next_step(&unasked, &self.clock, claim_window) {
                Step::AskRefunds(ids) => {
                    for id in ids {
                        self.asked.push(id);
                        self.refund(id).await;
                    }
                    view = self.read().await?;
                }
                Step::Apply(deadline) => view = self.apply(deadline).await?,
                Step::Wait(Some((at, deadline))) => {
                    self.waiting("a person, or the deadline");
                    view = if self.pause(Some(at)).await? {
                        self.apply(deadline).await?
                    } else {
                        self.read().await?
                    };
                }
                Step::Wait(None) => {
                    // Looked at again now and then, should a nudge be lost.
                    self.waiting("an admin's decision");
                    self.pause(Some(now(&self.ctx)? + DECISION_CHECK_EVERY))
                        .await?;
                    view = self.read().await?;
                }
                Step::Payout => return self.pay_out().await,
                Step::Done => return Ok(format!("{:?}; payout {:?}", view.stage, view.payout)),
            }
        }
    }

    /// Takes in a fresh view: deadlines for what is seen the first time
    /// (written for people to see), then the emails of what changed.
    async fn take(&mut self, view: &SaleView) {
        let before = self.ctx.state(|s| s.view.clone());
        self.ctx.state_mut(|s| s.view = Some(view.clone()));
        let Ok(at) = now(&self.ctx) else { return };
        let terms = self.start.terms;
        let mut noted = SaleDeadlines {
            invoice_id: self.start.invoice_id,
            receipt_assumed_at: None,
            claim_answer_by: None,
            claims_until: None,
        };
        if view.stage == SaleStage::Shipped && self.clock.receipt_at.is_none() {
            let receipt_at = at + secs(terms.delivery_window_secs);
            self.clock.receipt_at = Some(receipt_at);
            noted.receipt_assumed_at = Some(receipt_at);
        }
        if view.stage == SaleStage::Received && self.clock.claims_until.is_none() {
            let claims_until = at + secs(terms.claim_window_secs);
            self.clock.claims_until = Some(claims_until);
            noted.claims_until = Some(claims_until);
        }
        if view.claim.as_ref().map(|c| c.state) == Some(ClaimState::Open)
            && self.clock.answer_by.is_none()
        {
            let answer_by = at + secs(terms.claim_answer_secs);
            self.clock.answer_by = Some(answer_by);
            noted.claim_answer_by = Some(answer_by);
        }
        if noted.receipt_assumed_at.is_some()
            || noted.claim_answer_by.is_some()
            || noted.claims_until.is_some()
        {
            // Display only: the timers above are what enforce them.
            if let Err(err) = self
                .ctx
                .execute_activity(SaleActivities::note_deadlines, noted, db_options())
                .await
            {
                tracing::warn!("deadlines not noted: {}", failure_summary(&err));
            }
        }
        for job in emails_for(before.as_ref(), view, &self.start) {
            deliver(&self.ctx, job).await;
        }
    }

    /// Notes the nudges so far: the row about to be read reflects them.
    fn reading(&self) {
        self.seen.set(self.ctx.state(|s| s.nudges));
    }

    async fn read(&self) -> WorkflowResult<SaleView> {
        self.reading();
        Ok(self
            .ctx
            .execute_activity(
                SaleActivities::sale_state,
                self.start.invoice_id,
                db_options(),
            )
            .await?)
    }

    async fn apply(&self, deadline: crate::contract::sale::Deadline) -> WorkflowResult<SaleView> {
        self.reading();
        let reached = DeadlineReached {
            invoice_id: self.start.invoice_id,
            deadline,
        };
        Ok(self
            .ctx
            .execute_activity(SaleActivities::sale_deadline, reached, db_options())
            .await?)
    }

    /// Asks Paystack for one refund of the ledger; the buyer is told.
    async fn refund(&self, refund_id: i64) {
        let Ok(id) = u64::try_from(refund_id) else {
            return;
        };
        match self
            .ctx
            .execute_activity(SettlementActivities::refund_payment, id, payment_options())
            .await
        {
            Ok(_) => {
                let letter = self.email(EmailKind::Refund, self.start.buyer_id, id);
                deliver(&self.ctx, letter).await;
            }
            // Left `requested` in the ledger, where admins see it; the
            // journey goes on (the payout counts it as given back).
            Err(err) => tracing::warn!("refund {id} not asked: {}", failure_summary(&err)),
        }
    }

    /// Sleeps until `wake` (or for good), or until a nudge; `true` when the
    /// time came.
    async fn pause(&self, wake: Option<DateTime<Utc>>) -> WorkflowResult<bool> {
        let seen = self.seen.get();
        let Some(wake) = wake else {
            self.ctx.wait_condition(|s| s.nudges > seen).await?;
            return Ok(false);
        };
        let timer = self.ctx.timer(until(now(&self.ctx)?, wake));
        futures::pin_mut!(timer);
        Ok(select! {
            _ = timer => true,
            _ = self.ctx.wait_condition(|s| s.nudges > seen).fuse() => {
                timer.cancel();
                false
            }
        })
    }

    fn waiting(&self, what: &str) {
        let what = what.to_owned();
        self.ctx.state_mut(|s| s.waiting_for = what);
    }

    /// Claims are closed: hammer − refunds − commission goes to the seller.
    async fn pay_out(self) -> WorkflowResult<String> {
        let id = self.start.invoice_id;
        let mut told_held = false;
        if !self.ready(&mut told_held).await? {
            return Ok("nothing to pay out".into());
        }
        let attempts = self.start.terms.payout_attempts.max(1);
        let mut backoff = secs(self.start.terms.payout_backoff_secs).min(BACKOFF_MAX);
        let mut short_told = false;
        let mut last = String::new();
        for attempt in 1..=attempts {
            self.ctx.state_mut(|s| s.attempt = attempt);
            let this = TransferAttempt {
                invoice_id: id,
                attempt,
            };
            // Each attempt pays what is owed now (a refund or a dispute may
            // have come since the last).
            if attempt > 1 && !self.ready(&mut told_held).await? {
                return Ok("nothing left to pay out".into());
            }
            let mut outcome = self.transfer(SaleActivities::send_transfer, &this).await?;
            loop {
                match outcome {
                    TransferOutcome::Paid => {
                        let letter = self.email(
                            EmailKind::PayoutSent,
                            self.start.seller_id,
                            u64::from(attempt),
                        );
                        deliver(&self.ctx, letter).await;
                        self.ctx.state_mut(|s| {
                            if let Some(view) = s.view.as_mut() {
                                view.payout = PayoutState::Paid;
                            }
                            s.waiting_for = "nothing: paid (a reversal would reopen it)".into();
                        });
                        if !self.reversed_later(&this).await? {
                            return Ok(format!("paid out by attempt {attempt}"));
                        }
                        last = format!("attempt {attempt}: reversed after success");
                        break;
                    }
                    TransferOutcome::Pending | TransferOutcome::Otp => {
                        if outcome == TransferOutcome::Otp {
                            self.problem(attempt * 10 + 1).await;
                            self.waiting("an admin's OTP");
                        } else {
                            self.waiting("Paystack to finish the transfer");
                        }
                        let again = now(&self.ctx)? + CHECK_EVERY;
                        self.pause(Some(again)).await?;
                        outcome = self.transfer(SaleActivities::check_transfer, &this).await?;
                    }
                    TransferOutcome::ShortBalance => {
                        if !short_told {
                            short_told = true;
                            self.problem(2).await;
                        }
                        self.waiting("the Paystack balance to cover the payout");
                        let again = now(&self.ctx)? + backoff;
                        self.pause(Some(again)).await?;
                        if !self.ready(&mut told_held).await? {
                            return Ok("nothing left to pay out".into());
                        }
                        outcome = self.transfer(SaleActivities::send_transfer, &this).await?;
                    }
                    TransferOutcome::Failed { status } => {
                        last = format!("attempt {attempt}: {status}");
                        break;
                    }
                    TransferOutcome::Refused { message } => {
                        last = format!("attempt {attempt}: Paystack refused: {message}");
                        break;
                    }
                }
            }
            if attempt < attempts {
                self.waiting("the next transfer attempt");
                let again = now(&self.ctx)? + backoff;
                self.pause(Some(again)).await?;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
        let failed = PayoutFailed {
            invoice_id: id,
            why: last.clone(),
        };
        self.ctx
            .execute_activity(SaleActivities::payout_failed, failed, db_options())
            .await?;
        self.problem(3).await;
        self.ctx.state_mut(|s| {
            if let Some(view) = s.view.as_mut() {
                view.payout = PayoutState::Failed;
            }
            s.waiting_for = "an admin: the payout failed".into();
        });
        Ok(format!("payout failed after {attempts} attempts ({last})"))
    }

    /// Fixes the payout's amounts, waiting while it is held (a dispute, a
    /// refund on its way, no payout account); `false` when nothing is owed.
    async fn ready(&self, told_held: &mut bool) -> WorkflowResult<bool> {
        loop {
            self.reading();
            let plan = self
                .ctx
                .execute_activity(
                    SaleActivities::prepare_payout,
                    self.start.invoice_id,
                    db_options(),
                )
                .await?;
            match plan {
                PayoutPlan::Nothing => return Ok(false),
                PayoutPlan::Ready { .. } => return Ok(true),
                PayoutPlan::Held { reason } => {
                    if reason == "no_payout_account" && !*told_held {
                        *told_held = true;
                        let letter = self.email(EmailKind::PayoutHeld, self.start.seller_id, 1);
                        deliver(&self.ctx, letter).await;
                    }
                    self.waiting(&format!("held: {reason}"));
                    let again = now(&self.ctx)? + CHECK_EVERY;
                    self.pause(Some(again)).await?;
                }
            }
        }
    }

    /// Paystack may reverse a transfer after `success` (the bank could not
    /// take it; the money is back in the balance): for a while after paying,
    /// news about the transfer is checked. `true` when it was reversed.
    async fn reversed_later(&self, attempt: &TransferAttempt) -> WorkflowResult<bool> {
        let watch_until = now(&self.ctx)? + REVERSAL_WATCH;
        loop {
            if self.pause(Some(watch_until)).await? {
                return Ok(false);
            }
            let outcome = self
                .transfer(SaleActivities::check_transfer, attempt)
                .await?;
            if matches!(outcome, TransferOutcome::Failed { .. }) {
                self.ctx.state_mut(|s| {
                    if let Some(view) = s.view.as_mut() {
                        view.payout = PayoutState::Scheduled;
                    }
                });
                return Ok(true);
            }
        }
    }

    /// One call about a transfer attempt (send or check), retried by policy.
    async fn transfer<AD>(
        &self,
        activity: AD,
        attempt: &TransferAttempt,
    ) -> WorkflowResult<TransferOutcome>
    where
        AD: temporalio_common::ActivityDefinition<Input = TransferAttempt, Output = TransferOutcome>,
    {
        self.reading();
        Ok(self
            .ctx
            .execute_activity(activity, attempt.clone(), payment_options())
            .await?)
    }

    /// Every admin hears of a payout that needs a person (`occasion` tells
    /// the problems apart: OTP, short balance, failed).
    async fn problem(&self, occasion: u32) {
        let mut letter = self.email(EmailKind::PayoutProblem, Uuid::nil(), u64::from(occasion));
        letter.amount = Some(self.start.amount);
        if let Err(err) = self
            .ctx
            .execute_activity(
                SettlementActivities::email_admins,
                letter,
                external_options(),
            )
            .await
        {
            tracing::warn!("admins not told: {}", failure_summary(&err));
        }
    }

    fn email(&self, kind: EmailKind, recipient_id: Uuid, occasion: u64) -> EmailJob {
        email(&self.start, kind, recipient_id, occasion)
    }
}

fn email(start: &SaleStart, kind: EmailKind, recipient_id: Uuid, occasion: u64) -> EmailJob {
    EmailJob {
        kind,
        auction_id: start.auction_id,
        recipient_id,
        occasion,
        invoice_id: Some(start.invoice_id),
        pay_link: None,
        amount: None,
        card_pending: false,
    }
}

/// The emails a change of the sale's row calls for, each once (its kind,
/// recipient and occasion make its idempotency key).
fn emails_for(before: Option<&SaleView>, now: &SaleView, start: &SaleStart) -> Vec<EmailJob> {
    let mut jobs = Vec::new();
    let stage_before = before.map(|v| v.stage);
    if stage_before != Some(now.stage) {
        match now.stage {
            SaleStage::Shipped => {
                jobs.push(email(start, EmailKind::LotShipped, start.buyer_id, 1));
            }
            SaleStage::Received if stage_before != Some(SaleStage::Closed) => {
                jobs.push(email(start, EmailKind::LotReceived, start.seller_id, 1));
            }
            SaleStage::CancelledUnshipped => {
                jobs.push(email(start, EmailKind::NotShipped, start.buyer_id, 1));
                jobs.push(email(start, EmailKind::NotShipped, start.seller_id, 1));
            }
            _ => {}
        }
    }
    let claim_before = before.and_then(|v| v.claim.as_ref()).map(|c| c.state);
    if let Some(claim) = now.claim.as_ref().filter(|c| claim_before != Some(c.state)) {
        let occasion = u64::try_from(claim.id).unwrap_or_default();
        match claim.state {
            ClaimState::Open => {
                jobs.push(email(
                    start,
                    EmailKind::ClaimOpened,
                    start.seller_id,
                    occasion,
                ));
            }
            ClaimState::Accepted | ClaimState::Contested | ClaimState::Decided => {
                let mut job = email(start, EmailKind::ClaimAnswered, start.buyer_id, occasion);
                // One email per answer: the seller's, then the decision.
                job.occasion = occasion * 10 + u64::from(claim.state == ClaimState::Decided);
                jobs.push(job);
            }
            ClaimState::Unanswered => {}
        }
        if matches!(claim.state, ClaimState::Contested | ClaimState::Unanswered)
            && !matches!(
                claim_before,
                Some(ClaimState::Contested | ClaimState::Unanswered)
            )
        {
            // Nil: every admin (see `deliver`).
            jobs.push(email(
                start,
                EmailKind::ClaimToDecide,
                Uuid::nil(),
                occasion,
            ));
        }
    }
    jobs
}

/// Sends one email; a failure is the operator's to see, never the journey's.
async fn deliver(ctx: &WorkflowContext<SaleWorkflow>, job: EmailJob) {
    let to_admins = job.recipient_id.is_nil();
    let sent = if to_admins {
        ctx.execute_activity(SettlementActivities::email_admins, job, external_options())
            .await
            .map(drop)
    } else {
        ctx.execute_activity(SettlementActivities::send_email, job, external_options())
            .await
    };
    if let Err(err) = sent {
        tracing::warn!("a sale email was not sent: {}", failure_summary(&err));
    }
}

fn secs(secs: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1_000_000))
}
