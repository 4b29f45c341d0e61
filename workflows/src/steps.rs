//! Steps every workflow takes, whatever its state: reading workflow time,
//! timer lengths, activity options and retry policies, and what an operator
//! needs to know of a failed activity.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use temporalio_common::protos::temporal::api::failure::v1::failure::FailureInfo;
use temporalio_sdk::{
    ActivityExecutionError, ActivityOptions, ApplicationFailure, LocalActivityOptions,
    WorkflowContext, WorkflowResult,
};
use temporalio_workflow::RetryPolicy;

use crate::contract::settlement::PERMANENT_FAILURES;

/// Workflow time at microsecond precision: what PostgreSQL stores, so a
/// verdict read back from the read model equals the one first given.
pub(crate) fn time_of(time: Option<std::time::SystemTime>) -> Option<DateTime<Utc>> {
    time.map(|t| DateTime::<Utc>::from(t).trunc_subsecs(6))
}

pub(crate) fn now<W>(ctx: &WorkflowContext<W>) -> WorkflowResult<DateTime<Utc>> {
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

/// A local activity on Gavel's own database: run by the worker inside the
/// workflow task that asked for it (no task-queue trip, no extra workflow
/// task) and retried there as [`db_options`] retries, never given up (the
/// task is kept alive meanwhile). Its input is kept in the history's marker,
/// so the replay gate can check that a new build asks for the same invoice,
/// amount, buyer and publication.
pub(crate) fn db_local_options() -> LocalActivityOptions {
    LocalActivityOptions::builder()
        .start_to_close_timeout(Duration::from_secs(30))
        .retry_policy(db_retry_policy())
        .include_arguments_in_marker(true)
        .build()
}

/// How a step on our own database is retried (remote or local): from a
/// second, doubling, at most a minute apart, without an attempt limit.
fn db_retry_policy() -> RetryPolicy {
    RetryPolicy::builder()
        .initial_interval(Duration::from_secs(1))
        .backoff_coefficient(2.0)
        .maximum_interval(Duration::from_secs(60))
        .build()
}

/// Writes to our own database: retried patiently, never given up.
pub(crate) fn db_options() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
        .retry_policy(db_retry_policy())
        .build()
}

/// Retries for calls to Paystack and Brevo: quick at first, then patient;
/// permanent failures stop at once.
pub fn external_retry_policy() -> RetryPolicy {
    RetryPolicy::builder()
        .initial_interval(Duration::from_secs(1))
        .backoff_coefficient(2.0)
        .maximum_interval(Duration::from_secs(60))
        .maximum_attempts(20)
        .non_retryable_error_types(PERMANENT_FAILURES)
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

/// An "ending soon" check (at most one batch of alerts): bounded to two
/// minutes in all, retries included, because the close and a continue-as-new
/// wait for a check on its way; a check that fails is tried again a minute
/// later by the workflow, so a Brevo outage never holds up a close for long.
pub(crate) fn alert_options() -> ActivityOptions {
    ActivityOptions::with_close_timeouts(
        temporalio_workflow::ActivityCloseTimeouts::ScheduleAndStartToClose {
            schedule_to_close: Duration::from_secs(120),
            start_to_close: Duration::from_secs(60),
        },
    )
    .retry_policy(external_retry_policy())
    .build()
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
