//! Small steps every phase of the auction takes: reading workflow time,
//! keeping the search attributes in step, publishing to the read model,
//! activity options, and sending one email.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use temporalio_common::protos::temporal::api::failure::v1::failure::FailureInfo;
use temporalio_sdk::{
    ActivityExecutionError, ActivityOptions, ApplicationFailure, WorkflowContext, WorkflowResult,
};
use temporalio_workflow::RetryPolicy;
use uuid::Uuid;

use super::{
    model::AuctionStatus,
    publish::{ReadModelActivities, search_attributes_of, status_of},
    workflow::AuctionWorkflow,
};
use crate::settlement::{EmailJob, EmailKind, SettlementActivities, external_retry_policy};

/// Workflow time at microsecond precision: what PostgreSQL stores, so a
/// verdict read back from the read model equals the one first given.
pub(crate) fn time_of(time: Option<std::time::SystemTime>) -> Option<DateTime<Utc>> {
    time.map(|t| DateTime::<Utc>::from(t).trunc_subsecs(6))
}

pub(crate) fn now(ctx: &WorkflowContext<AuctionWorkflow>) -> WorkflowResult<DateTime<Utc>> {
    Ok(time_of(ctx.workflow_time())
        .ok_or_else(|| ApplicationFailure::new("workflow time is unknown"))?)
}

/// The timer length from `now` to `until`, at least a millisecond.
pub(crate) fn until(now: DateTime<Utc>, until: DateTime<Utc>) -> Duration {
    (until - now)
        .to_std()
        .unwrap_or_default()
        .max(Duration::from_millis(1))
}

/// Keeps the search attributes in step with the auction (one command, only
/// when something an operator filters on changed).
pub(crate) fn index(ctx: &WorkflowContext<AuctionWorkflow>) {
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

pub(crate) fn publish_options() -> ActivityOptions {
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
/// A publication the read model refuses for its data (it would be refused on
/// every retry) is dropped and noted for the `refused_signals` query, so the
/// auction's public state keeps moving; any other failure stops the run.
pub(crate) async fn publish_pending(ctx: &WorkflowContext<AuctionWorkflow>) -> WorkflowResult<()> {
    while ctx.state(|s| s.has_unpublished()) {
        let publication = ctx.state_mut(|s| s.take_publication());
        let published = ctx
            .execute_activity(
                ReadModelActivities::publish_auction,
                publication,
                publish_options(),
            )
            .await;
        if let Err(err) = published {
            let summary = failure_summary(&err);
            if !summary.starts_with(BAD_DATA_PREFIX) {
                return Err(err.into());
            }
            let at = time_of(ctx.workflow_time());
            ctx.state_mut(|s| s.refuse("publication", summary, at));
        }
    }
    Ok(())
}

/// How [`failure_summary`] begins for a write refused for its data (the
/// activities' `BadData` failure type).
const BAD_DATA_PREFIX: &str = "BadData:";

/// Writes to our own database: retried patiently, never given up.
pub(crate) fn db_options() -> ActivityOptions {
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

/// Calls to Paystack and Brevo: bounded retries, permanent failures at once,
/// and heartbeats, so a worker that dies mid-call hands the step to another
/// within seconds rather than at the end of its timeout.
pub(crate) fn external_options() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(60))
        .heartbeat_timeout(Duration::from_secs(10))
        .retry_policy(external_retry_policy())
        .build()
}

/// Payment steps (charge, pay link, verify, void) are external calls too.
pub(crate) fn payment_options() -> ActivityOptions {
    external_options()
}

/// One activity that emails every bidder: as long as it needs, heartbeating
/// its progress so a crashed worker's share is picked up within a minute.
pub(crate) fn bulk_options() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(3_600))
        .heartbeat_timeout(Duration::from_secs(60))
        .retry_policy(external_retry_policy())
        .build()
}

/// Settlement moved on: the status is published and indexed.
pub(crate) async fn set_status(
    ctx: &WorkflowContext<AuctionWorkflow>,
    status: AuctionStatus,
    round: u32,
) -> WorkflowResult<()> {
    let at = now(ctx)?;
    ctx.state_mut(|s| s.set_settlement_status(status, round, at));
    index(ctx);
    publish_pending(ctx).await
}

/// An email of `kind` to `recipient_id` about this auction.
pub(crate) fn email(
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

/// What an operator needs from a failed activity: the failure type the
/// activity gave (`BrevoRejected`, `PaystackBadKey`, …) and its message.
pub(crate) fn failure_summary(err: &ActivityExecutionError) -> String {
    let cause = err.failure().and_then(|f| f.cause.as_deref());
    match cause {
        Some(cause) => match &cause.failure_info {
            Some(FailureInfo::ApplicationFailureInfo(info)) if !info.r#type.is_empty() => {
                format!("{}: {}", info.r#type, cause.message)
            }
            _ => cause.message.clone(),
        },
        None => err.to_string(),
    }
}

/// Sends (or records) one email. A permanent failure is visible in the
/// history and noted for the `settlement_problem` query; it never blocks
/// the sale.
pub(crate) async fn send(ctx: &WorkflowContext<AuctionWorkflow>, job: EmailJob) {
    if let Err(err) = ctx
        .execute_activity(SettlementActivities::send_email, job, external_options())
        .await
    {
        ctx.state_mut(|s| s.settlement_problem = Some(format!("email: {}", failure_summary(&err))));
    }
}
