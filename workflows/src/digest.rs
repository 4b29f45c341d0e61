//! `SavedSearchDigestWorkflow`: the daily digest of newly listed lots that
//! match people's saved searches. One Schedule for the deployment
//! ([`crate::names::DIGEST_SCHEDULE_ID`]) starts it; it pages through the
//! accounts in bounded batches, each one activity, and keeps no state of its
//! own: what each search has been told lives in its row.

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ContinueAsNewOptions, WorkflowContext, WorkflowResult};

use crate::{
    contract::digest::{DigestActivities, DigestPage, DigestRequest},
    steps::{bulk_options, now},
};

/// Accounts digested by one activity.
pub const ACCOUNTS_PER_PAGE: u32 = 50;
/// Pages one run goes through before it continues as new (its history stays
/// short however many accounts there are).
const PAGES_PER_RUN: u32 = 200;

#[workflow]
#[derive(Default)]
pub struct SavedSearchDigestWorkflow;

#[workflow_methods]
impl SavedSearchDigestWorkflow {
    /// Returns what was done, for the operator reading the UI.
    #[run(name = "saved_search_digest")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: DigestRequest,
    ) -> WorkflowResult<String> {
        // Every page names lots listed up to the same moment: the run's start.
        let until = match input.until {
            Some(until) => until,
            None => now(ctx)?,
        };
        let mut after = input.after;
        let (mut accounts, mut emailed) = (0_u64, 0_u64);
        for _ in 0..PAGES_PER_RUN {
            let page = DigestPage {
                after,
                limit: ACCOUNTS_PER_PAGE,
                until,
            };
            let done = ctx
                .execute_activity(DigestActivities::digest_accounts, page, bulk_options())
                .await?;
            accounts += u64::from(done.accounts);
            emailed += u64::from(done.emailed);
            match done.last {
                Some(last) if done.accounts >= ACCOUNTS_PER_PAGE => after = Some(last),
                _ => {
                    return Ok(format!(
                        "{accounts} accounts digested, {emailed} digests emailed"
                    ));
                }
            }
        }
        let next = DigestRequest {
            until: Some(until),
            after,
        };
        match ctx.continue_as_new(next, ContinueAsNewOptions::default())? {}
    }
}
