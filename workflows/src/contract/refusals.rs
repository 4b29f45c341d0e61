//! What the workflow refused to act on: signals whose payload did not decode,
//! bids and cancels the rules refused (signals have no caller to answer),
//! offline payments recorded by someone who is not an admin. Each is counted
//! and the latest are kept, so an operator sees them in the `refusals` query
//! instead of a failed workflow task.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many refusals the query shows (the count covers all of them).
pub const REFUSALS_KEPT: usize = 20;

/// One refused message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    /// The signal or step that was refused (`bid`, `cancel`, `payment_received`).
    pub message: String,
    pub reason: String,
    pub at: Option<DateTime<Utc>>,
}

/// The refusals of this auction (carried across continue-as-new).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusals {
    pub count: u64,
    /// The most recent, oldest first.
    pub recent: Vec<Refused>,
}

impl Refusals {
    pub fn record(&mut self, message: &str, reason: String, at: Option<DateTime<Utc>>) {
        self.count += 1;
        if self.recent.len() == REFUSALS_KEPT {
            self.recent.remove(0);
        }
        self.recent.push(Refused {
            message: message.to_owned(),
            reason,
            at,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_counted_and_the_latest_are_kept() {
        let mut refusals = Refusals::default();
        for i in 0..30 {
            refusals.record("bid", format!("reason {i}"), None);
        }
        assert_eq!(refusals.count, 30);
        assert_eq!(refusals.recent.len(), REFUSALS_KEPT);
        assert_eq!(refusals.recent[0].reason, "reason 10");
        assert_eq!(refusals.recent[REFUSALS_KEPT - 1].reason, "reason 29");
    }
}
