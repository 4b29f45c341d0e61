//! The `ping` activity behind [`gavel_workflows::ping::PingWorkflow`].

use gavel_workflows::ping::PingDefinition;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// Activities with no dependencies, registered alongside the read-model activities.
pub struct PingActivitiesImpl;

#[activities]
impl PingActivitiesImpl {
    #[activity(definition = PingDefinition)]
    pub async fn ping(_ctx: ActivityContext, message: String) -> Result<String, ActivityError> {
        Ok(format!("pong: {message}"))
    }
}
