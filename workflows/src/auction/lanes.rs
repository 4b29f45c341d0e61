//! The lanes of the open phase, each a small piece of state with its one
//! future: the close [`Alarm`], the read-model [`Publisher`], the outbid
//! [`Mailer`], the [`Backstop`] and the ending-soon [`Alerter`]. The phase
//! arms them in that order (the order their commands reach the history;
//! the publisher goes again after the alerter when a held check handed it
//! batches), then waits on all of them and on news at once.

use std::pin::Pin;

use chrono::{DateTime, Utc};
use futures::future::LocalBoxFuture;
use temporalio_sdk::{
    ActivityCancellationType, ActivityExecutionError, CancellableFuture, TimerResult,
    WorkflowContext, WorkflowResult,
};

use super::state::AuctionWorkflow;
use crate::{
    contract::{
        alerts::{AlertActivities, AlertsSent},
        read_model::ReadModelActivities,
        settlement::{EmailJob, SettlementActivities},
    },
    steps::{alert_options, external_options, now, publish_options, until},
};

/// Outbid notices sent by one `send_emails` activity at most.
pub(crate) const OUTBID_BATCH: usize = 50;
/// A lean run emails each outbid bidder at most this often (they hear of
/// the latest price).
const OUTBID_WINDOW: chrono::Duration = chrono::Duration::seconds(30);
/// A run with gathered notices sends a batch at most this often: the
/// notices of everyone outbid meanwhile go together in the next one, so a
/// lot bid on every few seconds costs one activity per period, not one per
/// change of leader. A lone outbid in a quiet lot still goes at once.
const OUTBID_GATHER: chrono::Duration = chrono::Duration::seconds(10);
/// In its last this-much an auction sends each outbid notice as soon as the
/// bidder's own window allows, ungathered.
const UNGATHERED_BEFORE_END: chrono::Duration = chrono::Duration::seconds(60);
/// How long a lean run waits for an API replica to confirm it wrote a batch
/// to the read model before publishing that batch itself.
pub(crate) const BACKSTOP_AFTER: chrono::Duration = chrono::Duration::seconds(15);
/// The durable read-model publication goes out at most this often while
/// bidding (the API writes each batch of bids itself at once).
const PUBLISH_EVERY: chrono::Duration = chrono::Duration::seconds(1);

type Ctx = WorkflowContext<AuctionWorkflow>;
type Activity<'a> = LocalBoxFuture<'a, Result<(), ActivityExecutionError>>;
type Sending<'a> =
    Pin<Box<dyn CancellableFuture<Output = Result<(), ActivityExecutionError>> + 'a>>;
type Checking<'a> =
    Pin<Box<dyn CancellableFuture<Output = Result<AlertsSent, ActivityExecutionError>> + 'a>>;
type Timer<'a> = Pin<Box<dyn CancellableFuture<Output = TimerResult> + 'a>>;

/// A timer for one moment, armed again only when the moment moves.
#[derive(Default)]
pub(crate) struct Alarm<'a> {
    armed: Option<(DateTime<Utc>, Timer<'a>)>,
}

impl<'a> Alarm<'a> {
    pub(crate) fn is_armed(&self) -> bool {
        self.armed.is_some()
    }

    /// The moment it is armed for.
    fn armed_at(&self) -> Option<DateTime<Utc>> {
        self.armed.as_ref().map(|(at, _)| *at)
    }

    /// Rings at `at`; an alarm armed for another moment is cancelled first.
    pub(crate) fn arm(&mut self, ctx: &'a Ctx, now: DateTime<Utc>, at: DateTime<Utc>) {
        if self.armed.as_ref().is_some_and(|(armed, _)| *armed == at) {
            return;
        }
        self.cancel();
        self.armed = Some((at, Box::pin(ctx.timer(until(now, at)))));
    }

    /// Cancels an armed timer, so history shows it cancelled rather than
    /// firing later for nothing.
    pub(crate) fn cancel(&mut self) {
        if let Some((_, timer)) = self.armed.take() {
            timer.cancel();
        }
    }

    /// Waits for the alarm to ring (forever while it is not armed).
    pub(crate) async fn rung(&mut self) {
        match &mut self.armed {
            Some((_, timer)) => {
                timer.await;
                self.armed = None;
            }
            None => std::future::pending().await,
        }
    }
}

/// The durable copy of the auction in the read model: one write at a time,
/// at most one per [`PUBLISH_EVERY`] (a throttle alarm holds the next one
/// back), so bidding does not cost a workflow task per bid.
#[derive(Default)]
pub(crate) struct Publisher<'a> {
    in_flight: Option<Activity<'a>>,
    last: Option<DateTime<Utc>>,
    throttle: Alarm<'a>,
}

impl<'a> Publisher<'a> {
    /// Starts a write of what is waiting, or arms the throttle for it.
    pub(crate) fn publish(&mut self, ctx: &'a Ctx, at: DateTime<Utc>) {
        if self.in_flight.is_some() || !ctx.state(|s| s.has_unpublished()) {
            return;
        }
        match self.last.map(|last| last + PUBLISH_EVERY) {
            Some(next) if at < next => {
                if !self.throttle.is_armed() {
                    self.throttle.arm(ctx, at, next);
                }
            }
            _ => {
                self.throttle.cancel();
                self.last = Some(at);
                let publication = ctx.state_mut(|s| s.take_publication());
                self.in_flight = Some(Box::pin(ctx.execute_activity(
                    ReadModelActivities::publish_auction,
                    publication,
                    publish_options(),
                )));
            }
        }
    }

    /// Waits for the write in flight to land (a failure stops the run), or
    /// for the throttle to let the next one go.
    pub(crate) async fn landed(&mut self, ctx: &'a Ctx) -> WorkflowResult<()> {
        if let Some(write) = &mut self.in_flight {
            let written = write.await;
            self.in_flight = None;
            written?;
            ctx.state_mut(|s| s.publication_landed());
        } else {
            self.throttle.rung().await;
        }
        Ok(())
    }

    /// Stops the lane: the throttle is cancelled and the write in flight
    /// lands (an abandoned activity of a finished run is not retried).
    pub(crate) async fn stop(&mut self) -> WorkflowResult<()> {
        self.throttle.cancel();
        if let Some(write) = self.in_flight.take() {
            write.await?;
        }
        Ok(())
    }
}

/// The read model's backstop in a lean run: a batch no API replica has
/// confirmed writing [`BACKSTOP_AFTER`] after it was taken goes to the
/// durable publication. The alarm is armed for the oldest unconfirmed batch;
/// a busy auction's batches are confirmed by the next one, so it mostly
/// rings for nothing, once per period.
#[derive(Default)]
pub(crate) struct Backstop<'a> {
    alarm: Alarm<'a>,
}

impl<'a> Backstop<'a> {
    /// Arms the alarm for the oldest unconfirmed batch, unless it is armed.
    pub(crate) fn watch(&mut self, ctx: &'a Ctx, at: DateTime<Utc>) {
        if self.alarm.is_armed() {
            return;
        }
        if let Some(oldest) = ctx.state(|s| s.oldest_unconfirmed()) {
            self.alarm.arm(ctx, at, oldest + BACKSTOP_AFTER);
        }
    }

    /// Waits for the alarm; then every batch unconfirmed for the whole
    /// period waits for the publisher.
    pub(crate) async fn rung(&mut self, ctx: &'a Ctx) {
        self.alarm.rung().await;
        if let Ok(at) = now(ctx) {
            ctx.state_mut(|s| s.publish_unconfirmed(at - BACKSTOP_AFTER));
        }
    }

    pub(crate) fn stop(&mut self) {
        self.alarm.cancel();
    }
}

/// Outbid notices: one `send_emails` activity at a time, each a batch of
/// at most [`OUTBID_BATCH`] recipients. A lean run (release 0.2) emails
/// each bidder at most once per [`OUTBID_WINDOW`] (the first at once, then
/// the latest price when the window has passed), so a bidding war costs one
/// email per outbid bidder per window rather than one per change of leader,
/// and sends at most one batch per [`OUTBID_GATHER`].
#[derive(Default)]
pub(crate) struct Mailer<'a> {
    sending: Option<Sending<'a>>,
    /// Rings when the next held notice falls due (a lean run).
    window: Alarm<'a>,
    /// When the last batch went (workflow time; this run only).
    last_batch: Option<DateTime<Utc>>,
}

impl<'a> Mailer<'a> {
    /// Sends the next batch of waiting notices, unless one is on its way
    /// (in a lean run, those whose recipients' windows have passed).
    pub(crate) fn mail(&mut self, ctx: &'a Ctx, at: DateTime<Utc>) {
        if self.sending.is_some() || ctx.state(|s| s.unsent_emails.is_empty()) {
            return;
        }
        // Near the end nothing is gathered: someone outbid then hears at
        // once, while they can still bid (notices held at the close are
        // dropped, everyone hears how it ended).
        let ends_at = ctx.state(|s| s.book.ends_at);
        let gate = self
            .last_batch
            .filter(|_| ctx.state(|s| s.release_0_2) && at + UNGATHERED_BEFORE_END < ends_at)
            .map(|last| last + OUTBID_GATHER);
        if let Some(gate) = gate
            && at < gate
        {
            // Held until the gather period is over, or until the alarm
            // armed for a held recipient rings if that is sooner (then this
            // is asked again).
            let wake = self.window.armed_at().map_or(gate, |armed| armed.min(gate));
            self.window.arm(ctx, at, wake);
            return;
        }
        let batch = if ctx.state(|s| s.release_0_2) {
            let (due, next) = ctx.state_mut(|s| s.take_due_outbid(at, OUTBID_WINDOW, OUTBID_BATCH));
            if let Some(next) = next
                && !self.window.is_armed()
            {
                self.window.arm(ctx, at, next);
            }
            if due.is_empty() {
                return;
            }
            due
        } else {
            ctx.state_mut(|s| take_outbid_batch(&mut s.unsent_emails))
        };
        let mut options = external_options();
        if ctx.state(|s| s.release_0_2) {
            // At the close the auction stops waiting for it (see
            // [`Mailer::leave`]); the batch still goes out.
            options.cancellation_type = ActivityCancellationType::Abandon;
        }
        self.last_batch = Some(at);
        self.sending = Some(Box::pin(ctx.execute_activity(
            SettlementActivities::send_emails,
            batch,
            options,
        )));
    }

    /// Waits for the batch on its way, or for the window to let the next
    /// one go. A failed email shows in the history; it never stops the
    /// auction.
    pub(crate) async fn sent(&mut self) {
        match &mut self.sending {
            Some(sending) => {
                let _ = sending.await;
                self.sending = None;
            }
            None => self.window.rung().await,
        }
    }

    /// Stops waiting for the batch on its way (it is abandoned, not
    /// cancelled: its emails still go out), so outbid notices never delay
    /// the close and the winner's invoice.
    pub(crate) async fn leave(&mut self) {
        self.window.cancel();
        if let Some(sending) = self.sending.take() {
            sending.cancel();
            let _ = sending.await;
        }
    }

    /// Lets the batch on its way finish.
    pub(crate) async fn stop(&mut self) {
        self.window.cancel();
        if let Some(sending) = self.sending.take() {
            let _ = sending.await;
        }
    }
}

/// "Ending soon" alerts: an alarm at the plan's next check (it moves with
/// the end, see [`AuctionWorkflow::next_alert_check`]) and one
/// `send_ending_soon` activity at a time, which sends what is due and says
/// when the next check falls.
#[derive(Default)]
pub(crate) struct Alerter<'a> {
    checking: Option<Checking<'a>>,
    alarm: Alarm<'a>,
}

impl<'a> Alerter<'a> {
    /// Starts the check when it is due (and the bids it must count are
    /// written), else arms the alarm for it (or disarms it when nobody
    /// waits). Says whether it is held for batches it handed to the
    /// publication (which the phase then starts).
    pub(crate) fn plan(&mut self, ctx: &'a Ctx, at: DateTime<Utc>) -> bool {
        if self.checking.is_some() {
            return false;
        }
        let due = ctx.state(|s| s.next_alert_check());
        if due.is_none_or(|due| due > at) {
            // A check held earlier is no longer due: the next one waits for
            // the bids decided when it falls due.
            ctx.state_mut(|s| s.check_waits_for = None);
        }
        let Some(due) = due else {
            self.alarm.cancel();
            return false;
        };
        if due > at {
            self.alarm.arm(ctx, at, due);
            return false;
        }
        self.alarm.cancel();
        // Held until the bids it must count are written: a confirmation
        // (an update) or the publication landing brings the loop back here.
        if !ctx.state_mut(|s| s.alert_check_ready()) {
            return true;
        }
        let check = ctx.state_mut(|s| s.take_alert_check(at));
        self.checking = Some(Box::pin(ctx.execute_activity(
            AlertActivities::send_ending_soon,
            check,
            alert_options(),
        )));
        false
    }

    /// Waits for the check on its way (and takes in what it found), or for
    /// the alarm. A failed check never stops the auction: it is tried again
    /// a minute later.
    pub(crate) async fn done(&mut self, ctx: &'a Ctx) {
        match &mut self.checking {
            Some(checking) => {
                let found = checking.await.ok();
                self.checking = None;
                ctx.state_mut(|s| s.alerts_checked(found));
            }
            None => self.alarm.rung().await,
        }
    }

    /// Lets the check on its way finish (before continuing as new, so the
    /// next run starts from what it found; at the close, so no activity of
    /// the auction completes while its run is ending: one batch is short).
    pub(crate) async fn stop(&mut self, ctx: &'a Ctx) {
        self.alarm.cancel();
        if let Some(checking) = self.checking.take() {
            let found = checking.await.ok();
            ctx.state_mut(|s| s.alerts_checked(found));
        }
    }
}

/// The next outbid notices to send: one per recipient (the latest price),
/// at most [`OUTBID_BATCH`].
fn take_outbid_batch(queue: &mut Vec<EmailJob>) -> Vec<EmailJob> {
    let mut batch: Vec<EmailJob> = Vec::new();
    let mut kept = Vec::new();
    for job in queue.drain(..) {
        if let Some(same) = batch
            .iter_mut()
            .find(|b| b.recipient_id == job.recipient_id)
        {
            *same = job;
        } else if batch.len() < OUTBID_BATCH {
            batch.push(job);
        } else {
            kept.push(job);
        }
    }
    *queue = kept;
    batch
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::contract::settlement::EmailKind;

    fn notice(recipient: u128, seq: u64) -> EmailJob {
        EmailJob {
            kind: EmailKind::Outbid,
            auction_id: Uuid::nil(),
            recipient_id: Uuid::from_u128(recipient),
            occasion: seq,
            invoice_id: None,
            pay_link: None,
            amount: Some(i64::try_from(seq).unwrap()),
            card_pending: false,
        }
    }

    #[test]
    fn a_batch_holds_one_notice_per_recipient_with_the_latest_price() {
        let mut queue = vec![notice(1, 1), notice(2, 2), notice(1, 3)];
        let batch = take_outbid_batch(&mut queue);
        assert!(queue.is_empty());
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].occasion, 3, "the latest notice for recipient 1");
        assert_eq!(batch[1].occasion, 2);
    }

    #[test]
    fn batches_are_bounded_and_the_rest_waits() {
        let mut queue: Vec<EmailJob> = (0..120)
            .map(|i| notice(i, u64::try_from(i).unwrap()))
            .collect();
        assert_eq!(take_outbid_batch(&mut queue).len(), OUTBID_BATCH);
        assert_eq!(queue.len(), 120 - OUTBID_BATCH);
    }
}
