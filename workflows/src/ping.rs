//! `PingWorkflow`: one activity round trip through the worker. It proves that a
//! worker polls the task queue and that workflows and activities are registered;
//! it carries no business meaning.

use std::time::Duration;

use temporalio_macros::{activity_definitions, workflow, workflow_methods};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowResult, activities::ActivityError};

/// Activities the ping workflow calls; implemented in `gavel-activities`.
pub struct PingActivities;

#[activity_definitions]
impl PingActivities {
    /// Answers `pong: {message}` from the worker process.
    #[activity(name = "ping")]
    pub fn ping(message: String) -> Result<String, ActivityError> {
        unimplemented!()
    }
}

/// The `ping` activity's contract, for `#[activity(definition = …)]` in the
/// implementing crate (the macro's own module is private).
pub use ping_activities::Ping as PingDefinition;

/// Answers a message through one activity call.
#[workflow]
#[derive(Default)]
pub struct PingWorkflow;

#[workflow_methods]
impl PingWorkflow {
    #[run(name = "ping")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, message: String) -> WorkflowResult<String> {
        let answer = ctx
            .execute_activity(
                PingActivities::ping,
                message,
                ActivityOptions::start_to_close_timeout(Duration::from_secs(10)),
            )
            .await?;
        Ok(answer)
    }
}
