//! How the auction keeps the outside world in step: the search attributes
//! operators filter on, and the read model, written by the `publish_auction`
//! activity until nothing waits.

use temporalio_sdk::{WorkflowContext, WorkflowResult};

use super::state::AuctionWorkflow;
use crate::{
    contract::{
        read_model::ReadModelActivities,
        view::{search_attributes_of, status_of},
    },
    steps::{db_local_options, failure_summary, publish_options, time_of},
};

/// How [`failure_summary`] begins for a write refused for its data (the
/// activities' `BadData` failure type).
const BAD_DATA_PREFIX: &str = "BadData:";

/// Keeps the search attributes in step with the auction (one command, only
/// when something an operator filters on changed). A lean run re-indexes at
/// changes of status only (and at the start of each run), so bidding costs
/// no command: the price and end operators see are those of the last phase
/// change or continue-as-new, and the `state` query has the live ones.
pub(crate) fn index(ctx: &WorkflowContext<AuctionWorkflow>) {
    let (current, updates) = ctx.state(|s| {
        let status = status_of(&s.book, s.outcome.as_ref(), s.settlement.status());
        let current = (status, s.book.ends_at, s.book.price);
        let stale = if s.release_0_2 {
            s.indexed.map(|(indexed, _, _)| indexed) != Some(status)
        } else {
            s.indexed != Some(current)
        };
        let updates = stale.then(|| search_attributes_of(&s.book, status));
        (current, updates)
    });
    if let Some(updates) = updates {
        ctx.upsert_search_attributes(updates);
        ctx.state_mut(|s| s.indexed = Some(current));
    }
}

/// Publishes everything waiting, until nothing is (bids may arrive meanwhile).
/// A publication the read model refuses for its data (it would be refused on
/// every retry) is dropped and noted for the `refusals` query, so the
/// auction's public state keeps moving; any other failure stops the run.
pub(crate) async fn publish_pending(ctx: &WorkflowContext<AuctionWorkflow>) -> WorkflowResult<()> {
    while ctx.state(|s| s.has_unpublished()) {
        let publication = ctx.state_mut(|s| s.take_publication());
        // A lean run writes its own database in the workflow task that
        // needs it: no task-queue trip, no extra task.
        let published = if ctx.state(|s| s.release_0_2) {
            ctx.execute_local_activity(
                ReadModelActivities::publish_auction,
                publication,
                db_local_options(),
            )
            .await
        } else {
            ctx.execute_activity(
                ReadModelActivities::publish_auction,
                publication,
                publish_options(),
            )
            .await
        };
        if published.is_ok() {
            ctx.state_mut(|s| s.publication_landed());
        }
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
