//! The `send_ending_soon` activity: sends the "ending soon" alerts due at
//! the workflow's check (one email per recipient, a few at a time, at most
//! one batch per call), records each once sent, and writes the auction's
//! next plan ([`gavel_store::watchlist`]).
//!
//! Idempotent: an alert is recorded only after its email (stored once per
//! key by the mailer) went out, so a retry sends only the unrecorded ones
//! and Brevo's idempotency key stops a repeat of one that went out.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use gavel_store::watchlist::{self, DueAlert};
use gavel_workflows::contract::{
    alerts::{ALERT_BATCH, AlertCheck, AlertsSent, SendEndingSoonDefinition},
    settlement::{EmailJob, EmailKind},
};
use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::{
    mailer::{BULK_CONCURRENCY, Mailer},
    settlement::{database, heartbeating, mail},
};

/// How long a check waits before each look at whether the bids it counts
/// are written (the first look at once), before it goes on without them.
const BIDS_WRITTEN_WAITS_MS: [u64; 4] = [0, 50, 100, 200];

/// The ending-soon activity, over the watchlist tables and the mailer.
pub struct Alerts {
    db: PgPool,
    mailer: Mailer,
}

impl Alerts {
    pub fn new(db: PgPool, mailer: Mailer) -> Self {
        Self { db, mailer }
    }

    async fn check(&self, check: &AlertCheck) -> Result<AlertsSent, ActivityError> {
        // A check can run before the bids it counts are rows: it counts
        // batches the API confirmed writing and those the workflow has just
        // handed to its own publication, which lands a moment later (and a
        // signal bid, which only that publication writes). So the check waits a
        // moment; past that it goes on with what is written (it never holds
        // the close up, which waits for a check on its way) and says so: the
        // workflow checks again later.
        let bids_unwritten = !self.bids_written(check).await?;
        let batch = check.batch.clamp(1, ALERT_BATCH);
        let due = watchlist::due(&self.db, check, i64::from(batch))
            .await
            .map_err(database)?;
        let results: Vec<Result<(), ActivityError>> = futures::stream::iter(due.iter().copied())
            .map(|alert| self.alert(check, alert))
            .buffer_unordered(BULK_CONCURRENCY)
            .collect()
            .await;
        // Every alert was tried; the first failure is retried (with the
        // others already recorded, only the failed ones go again).
        results.into_iter().collect::<Result<(), _>>()?;
        let next_lead_secs = watchlist::plan_next(&self.db, check)
            .await
            .map_err(database)?;
        let sent = u32::try_from(due.len()).unwrap_or(batch);
        Ok(AlertsSent {
            sent,
            more: sent >= batch,
            next_lead_secs: next_lead_secs.map(i64::from),
            bids_unwritten,
        })
    }

    /// Whether the bids `check` counts are rows, waiting briefly for them.
    async fn bids_written(&self, check: &AlertCheck) -> Result<bool, ActivityError> {
        for wait_ms in BIDS_WRITTEN_WAITS_MS {
            tokio::time::sleep(Duration::from_millis(wait_ms)).await;
            if watchlist::bids_written(&self.db, check)
                .await
                .map_err(database)?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn alert(&self, check: &AlertCheck, alert: DueAlert) -> Result<(), ActivityError> {
        let job = EmailJob {
            kind: EmailKind::EndingSoon,
            auction_id: check.auction_id,
            recipient_id: alert.user_id,
            // One per lot and person: the key never changes with the end.
            occasion: 0,
            invoice_id: None,
            pay_link: None,
            amount: None,
            card_pending: false,
        };
        self.mailer
            .deliver_notice(&job, alert.reason)
            .await
            .map_err(mail)?;
        watchlist::record(&self.db, check.auction_id, alert)
            .await
            .map_err(database)
    }
}

#[activities]
impl Alerts {
    #[activity(definition = SendEndingSoonDefinition)]
    pub async fn send_ending_soon(
        self: Arc<Self>,
        ctx: ActivityContext,
        check: AlertCheck,
    ) -> Result<AlertsSent, ActivityError> {
        heartbeating(&ctx, self.check(&check)).await
    }
}
