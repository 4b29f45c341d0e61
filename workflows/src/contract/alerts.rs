//! "Ending soon" alerts: what the auction workflow asks the
//! `send_ending_soon` activity to do, what it hears back, and the signal the
//! API sends when a new watcher's alert would fall before the armed one.
//!
//! The workflow cannot know each person's lead (60 s to 7 days, chosen per
//! account and changed at will) without I/O, so it keeps one number: the
//! longest lead among the people still waiting for their alert. Its timer
//! rings at `ends_at - that lead`, so an anti-sniping extension moves the
//! timer with the end. Activity names and these shapes are recorded in
//! history.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use temporalio_macros::activity_definitions;
use temporalio_sdk::activities::ActivityError;
use uuid::Uuid;

/// The longest lead an account may choose (7 days), in seconds; the
/// preferences table refuses more.
pub const LEAD_MAX_SECS: i64 = 7 * 24 * 3_600;
/// Most alerts one `send_ending_soon` activity sends; a lot with more due
/// at once is sent in several calls, one after another.
pub const ALERT_BATCH: u32 = 500;

/// `send_ending_soon`'s input: everything is the workflow's own knowledge,
/// so a retried activity decides the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertCheck {
    pub auction_id: Uuid,
    /// The end as the workflow knows it (after any extension).
    pub ends_at: DateTime<Utc>,
    /// Workflow time of the check: who is due is decided against it.
    pub now: DateTime<Utc>,
    /// The current leader: as a bidder, not alerted (as a watcher, yes).
    pub leader: Option<Uuid>,
    /// How many bids the workflow had decided when it asked: `leader` is
    /// the leader after them, so bids written since are not counted (their
    /// bidder may lead now; one outbid later brings a check of its own).
    /// Always set by release 0.2; `None` from development builds before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bids_seen: Option<u64>,
    /// Every bid counted is one an API replica confirmed writing, or one the
    /// workflow handed to its own publication (then written a moment
    /// later), and `leader` is the leader after them. Said for whoever reads
    /// the history: the activity checks the rows the same way either way.
    /// Always `true` from release 0.2; `false` from development builds
    /// before it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub counts_written: bool,
    /// Most alerts to send in this call.
    pub batch: u32,
}

/// What one check did, and when the next is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertsSent {
    /// Alerts sent (and recorded) by this call.
    pub sent: u32,
    /// More alerts were due than one batch: check again at once.
    pub more: bool,
    /// The longest lead among the people still waiting (their alert is not
    /// due yet); `None` when nobody waits.
    pub next_lead_secs: Option<i64>,
    /// Some of the bids the check counts were not rows yet (the API writes
    /// a batch after the workflow answered it): those bidders were left out,
    /// so the workflow checks again later.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bids_unwritten: bool,
}

/// The auction's alert plan, carried from run to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertPlan {
    /// The longest lead among the people still waiting; before the first
    /// check, the longest any account may choose.
    pub next_lead_secs: Option<i64>,
    /// Someone may have become due sooner than the plan says (a bidder
    /// outbid, a watcher the API signalled about): check by then.
    #[serde(default)]
    pub recheck_at: Option<DateTime<Utc>>,
    /// When the last check ran (workflow time).
    #[serde(default)]
    pub checked_at: Option<DateTime<Utc>>,
    /// Checks in a row that found bids not yet written: past a few, the
    /// plan stops asking for early rechecks (a row that never comes).
    #[serde(default)]
    pub unwritten_rechecks: u8,
}

impl AlertPlan {
    /// The plan of an auction nobody waits on (no check until someone does).
    pub fn nobody_waits() -> Self {
        Self {
            next_lead_secs: None,
            ..Self::default()
        }
    }
}

impl Default for AlertPlan {
    fn default() -> Self {
        Self {
            next_lead_secs: Some(LEAD_MAX_SECS),
            recheck_at: None,
            checked_at: None,
            unwritten_rechecks: 0,
        }
    }
}

/// The `alerts_changed` signal: the API saw a watcher (or a lead change)
/// whose alert falls before the one the auction's timer waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertsChanged {
    pub user_id: Uuid,
}

/// The ending-soon activity, implemented in `gavel-activities`.
pub struct AlertActivities;

#[activity_definitions]
impl AlertActivities {
    /// Sends the alerts due at `now` (at most `batch`), each once per lot
    /// and person, and says how long before the end the next one falls.
    #[activity(name = "send_ending_soon")]
    pub fn send_ending_soon(check: AlertCheck) -> Result<AlertsSent, ActivityError> {
        unimplemented!()
    }
}

pub use alert_activities::SendEndingSoon as SendEndingSoonDefinition;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_from_before_it_was_carried_starts_at_the_longest_lead() {
        let plan: AlertPlan = serde_json::from_str(r#"{"next_lead_secs": 60}"#).unwrap();
        assert_eq!(plan.next_lead_secs, Some(60));
        assert_eq!(plan.recheck_at, None);
        assert_eq!(AlertPlan::default().next_lead_secs, Some(LEAD_MAX_SECS));
    }
}
