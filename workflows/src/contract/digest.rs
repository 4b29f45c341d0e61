//! The saved-search digest's values and activities: a page of accounts to
//! digest, and one account's digest (implemented in `gavel-activities`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use temporalio_macros::activity_definitions;
use temporalio_sdk::activities::ActivityError;
use uuid::Uuid;

/// What a digest run is asked to do. The Schedule starts it empty; a run
/// that continues as new passes on where it was.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestRequest {
    /// Lots listed up to this time are named (the first run's start).
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// The last account already digested, by id.
    #[serde(default)]
    pub after: Option<Uuid>,
}

/// A page of accounts to digest: those after `after`, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestPage {
    pub after: Option<Uuid>,
    pub limit: u32,
    /// Lots listed up to this time are named.
    pub until: DateTime<Utc>,
}

/// What a page came to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestPageDone {
    /// The page's last account (`None`: there was none, the run is over).
    pub last: Option<Uuid>,
    /// How many accounts the page held.
    pub accounts: u32,
    /// How many digests were emailed (accounts with something new).
    pub emailed: u32,
}

/// The digest's activity.
pub struct DigestActivities;

#[activity_definitions]
impl DigestActivities {
    /// Digests a page of accounts (with a saved search and the digest
    /// wanted): for each, the lots listed since its searches' last digest,
    /// one email when there are any. Safe to run again: each search's
    /// `digested_until` moves with the email stored in one transaction.
    #[activity(name = "digest_saved_searches")]
    pub fn digest_accounts(page: DigestPage) -> Result<DigestPageDone, ActivityError> {
        unimplemented!()
    }
}

/// The `digest_saved_searches` contract, for the implementing crate.
pub use digest_activities::DigestAccounts as DigestAccountsDefinition;
