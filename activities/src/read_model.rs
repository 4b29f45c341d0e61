//! The `publish_auction` activity: writes what the auction workflow
//! published into the read model ([`gavel_store::read_model::ReadModel`]).

use std::sync::Arc;

use gavel_workflows::contract::read_model::{Publication, PublishAuctionDefinition};
use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::{
    ApplicationFailure,
    activities::{ActivityContext, ActivityError},
};

/// The read-model activity, over the store's writer.
pub struct ReadModel {
    store: gavel_store::read_model::ReadModel,
}

impl ReadModel {
    pub fn new(db: PgPool) -> Self {
        Self {
            store: gavel_store::read_model::ReadModel::new(db),
        }
    }
}

#[activities]
impl ReadModel {
    #[activity(definition = PublishAuctionDefinition)]
    pub async fn publish_auction(
        self: Arc<Self>,
        _ctx: ActivityContext,
        publication: Publication,
    ) -> Result<(), ActivityError> {
        // An unreachable database is retried until it is back (the
        // workflow's policy has no attempt limit); data PostgreSQL refuses
        // would be refused forever, so it fails at once, visibly, and the
        // workflow carries on with its next publication.
        match self.store.apply(&publication).await {
            Ok(()) => Ok(()),
            Err(err) if err.is_bad_data() => Err(ActivityError::application(
                ApplicationFailure::builder(format!(
                    "the read model refused this publication: {err}"
                ))
                .type_name(crate::BAD_DATA.to_owned())
                .non_retryable(true)
                .build(),
            )),
            Err(err) => Err(anyhow::Error::from(err).into()),
        }
    }
}
