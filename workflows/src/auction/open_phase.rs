//! The bidding: waiting for a scheduled opening, then taking bids until the
//! close timer (re-armed by late bids) fires, publishing to the read model
//! and mailing outbid notices as it goes, and continuing as new before a hot
//! auction's history grows too long.

use std::{future::Future, pin::Pin};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use temporalio_sdk::{CancellableFuture, WorkflowContext, WorkflowResult, workflows::select};

use super::{
    model::AuctionInput,
    publish::ReadModelActivities,
    steps::{external_options, index, now, publish_options, publish_pending, send, until},
    workflow::AuctionWorkflow,
};
use crate::{
    rules::Phase,
    settlement::{EmailJob, SettlementActivities},
};

/// Outbid notices sent by one `send_emails` activity at most.
const OUTBID_BATCH: usize = 50;
/// The durable read-model publication goes out at most this often while
/// bidding (the API writes each batch of bids itself at once).
const PUBLISH_EVERY: chrono::Duration = chrono::Duration::seconds(1);

pub(crate) async fn wait_for_opening(
    ctx: &mut WorkflowContext<AuctionWorkflow>,
) -> WorkflowResult<()> {
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

/// The open phase: arms the close timer, publishes bids as they come, and
/// returns the next run's input when it is time to continue as new (or
/// `None` once the auction is closed or cancelled).
pub(crate) async fn take_bids_until_closed(
    ctx: &mut WorkflowContext<AuctionWorkflow>,
) -> WorkflowResult<Option<AuctionInput>> {
    let mut close_timer: Option<(DateTime<Utc>, Pin<Box<_>>)> = None;
    let mut in_flight: Option<Pin<Box<_>>> = None;
    let mut mailing: Option<Pin<Box<_>>> = None;
    let mut batch_mailing: Option<Pin<Box<_>>> = None;
    // Auctions recorded before outbid emails existed replay without them;
    // those recorded before batching send one notice per activity.
    let outbid_emails = ctx.patched("outbid-emails");
    let outbid_batches = outbid_emails && ctx.patched("outbid-batches");
    ctx.state_mut(|s| s.outbid_batches = outbid_batches);
    // The API writes each batch of bids to the read model itself; this
    // durable copy goes out at most once a second, so it does not add a
    // workflow task per bid. Recorded auctions publish as they did.
    let throttled = ctx.patched("throttled-publish");
    let mut last_publish: Option<DateTime<Utc>> = None;
    let mut publish_timer: Option<(DateTime<Utc>, Pin<Box<_>>)> = None;
    loop {
        if ctx.state(|s| s.book.phase != Phase::Open) {
            break;
        }
        let due = ctx.state(|s| s.messages_this_run >= s.settings.bids_per_run.max(1))
            || ctx.continue_as_new_suggested();
        if due {
            cancel_timer(close_timer.take());
            cancel_timer(publish_timer.take());
            // Let the write in flight land (an abandoned activity of a
            // finished run is not retried); what is still unpublished
            // travels with the next run's input.
            finish(in_flight.take()).await?;
            let _ = finish(mailing.take()).await;
            let _ = finish(batch_mailing.take()).await;
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
            let next = last_publish.map(|last| last + PUBLISH_EVERY);
            match next.filter(|next| throttled && at < *next) {
                Some(next) => {
                    if publish_timer.is_none() {
                        publish_timer = Some((next, Box::pin(ctx.timer(until(at, next)))));
                    }
                }
                None => {
                    cancel_timer(publish_timer.take());
                    last_publish = Some(at);
                    let publication = ctx.state_mut(|s| s.take_publication());
                    in_flight = Some(Box::pin(ctx.execute_activity(
                        ReadModelActivities::publish_auction,
                        publication,
                        publish_options(),
                    )));
                }
            }
        }

        if !outbid_emails {
            ctx.state_mut(|s| s.unsent_emails.clear());
        }
        if outbid_batches {
            if batch_mailing.is_none()
                && let Some(batch) = ctx.state_mut(|s| {
                    let batch = take_outbid_batch(&mut s.unsent_emails);
                    (!batch.is_empty()).then_some(batch)
                })
            {
                batch_mailing = Some(Box::pin(ctx.execute_activity(
                    SettlementActivities::send_emails,
                    batch,
                    external_options(),
                )));
            }
        } else if mailing.is_none()
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
            _ = or_never(publish_timer.as_mut().map(|(_, t)| t)).fuse() => {
                publish_timer = None;
            }
            // A failed email shows in the history; it never stops the auction.
            _ = or_never(mailing.as_mut()).fuse() => {
                mailing = None;
            }
            _ = or_never(batch_mailing.as_mut()).fuse() => {
                batch_mailing = None;
            }
            _ = ctx.wait_condition(|s| s.changes != seen).fuse() => {}
        }
    }
    cancel_timer(close_timer.take());
    cancel_timer(publish_timer.take());
    finish(in_flight.take()).await?;
    let _ = finish(mailing.take()).await;
    let _ = finish(batch_mailing.take()).await;
    if outbid_batches {
        // The auction is over: every bidder hears how it ended, so queued
        // outbid notices would only delay the winner's invoice.
        ctx.state_mut(|s| s.unsent_emails.clear());
    }
    while let Some(job) =
        ctx.state_mut(|s| (!s.unsent_emails.is_empty()).then(|| s.unsent_emails.remove(0)))
    {
        send(ctx, job).await;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::settlement::EmailKind;

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
