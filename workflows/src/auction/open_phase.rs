//! The bidding: waiting for a scheduled opening, then taking bids until the
//! close timer (re-armed by late bids) fires, publishing to the read model
//! and mailing outbid notices as it goes ([`super::lanes`]), and continuing
//! as new before a hot auction's history grows too long.

use futures::FutureExt;
use temporalio_sdk::{CancellableFuture, WorkflowContext, WorkflowResult, workflows::select};

use super::{
    lanes::{Alarm, Alerter, Backstop, Mailer, Publisher},
    publishing::{index, publish_pending},
    state::AuctionWorkflow,
};
use crate::{
    contract::auction::AuctionInput,
    rules::Phase,
    steps::{now, until},
};

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

/// The open phase: arms the close timer, publishes bids as they come, and
/// returns the next run's input when it is time to continue as new (or
/// `None` once the auction is closed or cancelled).
pub(crate) async fn take_bids_until_closed(
    ctx: &mut WorkflowContext<AuctionWorkflow>,
) -> WorkflowResult<Option<AuctionInput>> {
    let ctx: &WorkflowContext<AuctionWorkflow> = ctx;
    let mut close = Alarm::default();
    let mut publisher = Publisher::default();
    let mut mailer = Mailer::default();
    let mut backstop = Backstop::default();
    let mut alerter = Alerter::default();
    let release_0_2 = ctx.state(|s| s.release_0_2);
    ctx.state_mut(|s| s.coalesce_outbid = true);
    loop {
        if ctx.state(|s| s.book.phase != Phase::Open) {
            break;
        }
        let at = now(ctx)?;
        let due = ctx.state(|s| s.continue_as_new_due(at)) || ctx.continue_as_new_suggested();
        if due {
            close.cancel();
            backstop.stop();
            // What is still unpublished travels with the next run's input.
            publisher.stop().await?;
            mailer.stop().await;
            // The plan travels with the next run's input.
            alerter.stop(ctx).await;
            let wait_ctx = ctx.clone();
            ctx.wait_condition(move |_| wait_ctx.all_handlers_finished())
                .await?;
            return Ok(Some(ctx.state_mut(|s| s.continue_as_new_input())));
        }
        index(ctx);

        let ends_at = ctx.state(|s| s.book.ends_at);
        if at >= ends_at {
            ctx.state_mut(|s| s.close(at));
            break;
        }
        close.arm(ctx, at, ends_at);
        publisher.publish(ctx, at);
        mailer.mail(ctx, at);
        if release_0_2 {
            backstop.watch(ctx, at);
        }
        // A held check hands its batches over: they go out now.
        if release_0_2 && alerter.plan(ctx, at) {
            publisher.publish(ctx, at);
        }

        let seen = ctx.state(|s| s.changes);
        select! {
            _ = close.rung().fuse() => {}
            landed = publisher.landed(ctx).fuse() => landed?,
            _ = mailer.sent().fuse() => {}
            _ = backstop.rung(ctx).fuse() => {}
            _ = alerter.done(ctx).fuse() => {}
            _ = ctx.wait_condition(|s| s.changes != seen).fuse() => {}
        }
    }
    close.cancel();
    backstop.stop();
    // Nobody needs to hear that a lot ends soon once it has ended.
    alerter.stop(ctx).await;
    publisher.stop().await?;
    if release_0_2 {
        mailer.leave().await;
    } else {
        mailer.stop().await;
    }
    // The auction is over: every bidder hears how it ended, so queued
    // outbid notices would only delay the winner's invoice.
    ctx.state_mut(|s| s.unsent_emails.clear());
    Ok(None)
}
