//! The `digest_saved_searches` activity behind
//! [`gavel_workflows::digest::SavedSearchDigestWorkflow`]: a page of accounts
//! with saved searches and the digest wanted, each digested by the mailer
//! ([`Mailer::digest_account`]), which makes a repeat harmless.

use std::sync::Arc;

use gavel_store::saved_searches;
use gavel_workflows::contract::digest::{DigestAccountsDefinition, DigestPage, DigestPageDone};
use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::{
    mailer::{MailError, Mailer},
    settlement::{database, heartbeating, mail},
};

/// The digest's activity, over the database and the mailer.
pub struct Digest {
    db: PgPool,
    mailer: Mailer,
}

impl Digest {
    pub fn new(db: PgPool, mailer: Mailer) -> Self {
        Self { db, mailer }
    }

    async fn digest(&self, page: &DigestPage) -> Result<DigestPageDone, ActivityError> {
        let accounts = saved_searches::digest_accounts(&self.db, page.after, i64::from(page.limit))
            .await
            .map_err(database)?;
        let mut emailed = 0;
        for account in &accounts {
            match self.mailer.digest_account(*account, page.until).await {
                Ok(true) => emailed += 1,
                Ok(false) => {}
                // Deleted since the page was read: nothing to tell it.
                Err(MailError::UnknownRecipient(_)) => {}
                Err(err) => return Err(mail(err)),
            }
        }
        Ok(DigestPageDone {
            last: accounts.last().copied(),
            accounts: u32::try_from(accounts.len()).unwrap_or(u32::MAX),
            emailed,
        })
    }
}

#[activities]
impl Digest {
    #[activity(definition = DigestAccountsDefinition)]
    pub async fn digest_accounts(
        self: Arc<Self>,
        ctx: ActivityContext,
        page: DigestPage,
    ) -> Result<DigestPageDone, ActivityError> {
        heartbeating(&ctx, self.digest(&page)).await
    }
}
