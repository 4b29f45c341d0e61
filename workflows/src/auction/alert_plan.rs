//! The ending-soon alert plan of an auction: when its next check falls,
//! what a check counts (only bids written, waiting for those decided before
//! it fell due), and what a check's answer changes. The [`super::lanes`]'
//! `Alerter` runs the checks; the plan travels with continue-as-new.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::state::AuctionWorkflow;
use crate::contract::alerts::{ALERT_BATCH, AlertCheck, AlertPlan, AlertsSent, LEAD_MAX_SECS};

/// A bidder outbid in the last days before the end may be due an alert
/// before the planned check: one check covers every bid of this period.
const RECHECK_AFTER_BIDS: chrono::Duration = chrono::Duration::seconds(30);
/// Checks are at least this far apart, so a plan the database sees a little
/// differently from the workflow cannot make the workflow spin.
const CHECK_GAP: chrono::Duration = chrono::Duration::seconds(1);
/// A check asked for comes at the latest this long before the end, so it
/// can wait for its bids and start while the lot is open: the lot's checks
/// stop at its close.
const LAST_CHECK_BEFORE_END: chrono::Duration = chrono::Duration::seconds(5);
/// A check that failed (after its retries) is tried again this much later.
const RETRY_FAILED_CHECK: chrono::Duration = chrono::Duration::seconds(60);
/// A check that found bids not yet written is made again a period later,
/// at most this many times in a row (the workflow's backstop writes a lost
/// batch within about 15 s).
const UNWRITTEN_RECHECKS: u8 = 4;

/// When `plan`'s next check is due for an auction ending at `ends_at`.
fn next_check(plan: &AlertPlan, ends_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let planned = plan
        .next_lead_secs
        .map(|lead| ends_at - chrono::Duration::seconds(lead));
    let due = match (planned, plan.recheck_at) {
        (Some(p), Some(r)) => p.min(r),
        (p, r) => p.or(r)?,
    };
    Some(plan.checked_at.map_or(due, |c| due.max(c + CHECK_GAP)))
}

impl AuctionWorkflow {
    /// A bidder is no longer leading: their alert may be due before the
    /// plan's, so a check runs soon (once per [`RECHECK_AFTER_BIDS`] at
    /// most), and while the end is further away than any lead, when the
    /// longest lead falls due (a new lot plans no check of its own).
    pub(super) fn someone_outbid(&mut self, at: DateTime<Utc>) {
        self.outbid_at_count = self.book.bid_count;
        let soon = self
            .alert_plan
            .checked_at
            .map_or(at, |checked| (checked + RECHECK_AFTER_BIDS).max(at))
            .max(self.book.ends_at - chrono::Duration::seconds(LEAD_MAX_SECS));
        self.check_alerts_by(soon);
    }

    /// Someone's alert may fall before the planned check (the API saw a
    /// watcher, a bidder was outbid, a check left someone out). Never after
    /// the end, when the lot's checks have stopped: at the latest a moment
    /// before it.
    pub(super) fn check_alerts_by(&mut self, by: DateTime<Utc>) {
        let by = by.min(self.book.ends_at - LAST_CHECK_BEFORE_END);
        let plan = &mut self.alert_plan;
        plan.recheck_at = Some(plan.recheck_at.map_or(by, |r| r.min(by)));
    }

    /// When the next alert check is due: at `ends_at - the longest lead
    /// still waiting` (so it moves with the end), or sooner when asked;
    /// `None` when nobody waits.
    pub(crate) fn next_alert_check(&self) -> Option<DateTime<Utc>> {
        next_check(&self.alert_plan, self.book.ends_at)
    }

    /// Whether a due check may start now. It is held until every bid
    /// decided when it fell due is written: confirmed by an API replica
    /// (with its next batch) or published by the workflow, to which it hands
    /// the batches still unconfirmed at once (so a quiet lot's check is not
    /// held until the backstop's).
    pub(crate) fn alert_check_ready(&mut self) -> bool {
        let wanted = *self.check_waits_for.get_or_insert(self.book.bid_count);
        if self.written_through() < wanted {
            self.hand_over(|batch| batch.bids_before < wanted);
            return false;
        }
        self.check_waits_for = None;
        true
    }

    /// The check to run now. It counts the bids before the oldest batch no
    /// API replica has confirmed writing, with the leader after them (at
    /// least every bid decided when the check fell due, see
    /// [`Self::alert_check_ready`]). An outbid decided since, which it leaves
    /// out, is counted by a check one period later.
    pub(crate) fn take_alert_check(&mut self, at: DateTime<Utc>) -> AlertCheck {
        self.alert_plan.checked_at = Some(at);
        self.alert_plan.recheck_at = None;
        let (bids_seen, leader) = self.written_so_far();
        if self.outbid_at_count > bids_seen {
            self.check_alerts_by(at + RECHECK_AFTER_BIDS);
        }
        AlertCheck {
            auction_id: self.auction_id,
            ends_at: self.book.ends_at,
            now: at,
            leader,
            bids_seen: Some(bids_seen),
            counts_written: true,
            batch: ALERT_BATCH,
        }
    }

    /// How many bids are written: those before the first that is in a batch
    /// not yet confirmed or published, waiting for the publication (a
    /// signal bid, a run's carried bids), or in the publication on its way.
    fn written_through(&self) -> u64 {
        [
            self.unconfirmed.first().map(|u| u.bids_before + 1),
            self.first_unpublished_bid(),
            self.publishing_from,
        ]
        .into_iter()
        .flatten()
        .min()
        .map_or(self.book.bid_count, |first_unwritten| first_unwritten - 1)
    }

    /// The bid count and leader before the oldest batch not yet written (the
    /// whole book when every batch is confirmed or published; bids written
    /// by the publication alone, rare, are waited for by the activity).
    fn written_so_far(&self) -> (u64, Option<Uuid>) {
        self.unconfirmed
            .first()
            .map_or((self.book.bid_count, self.book.leader), |oldest| {
                (oldest.bids_before, oldest.leader_before)
            })
    }

    /// What a check found (`None`: it failed after its retries).
    pub(crate) fn alerts_checked(&mut self, found: Option<AlertsSent>) {
        let checked = self.alert_plan.checked_at;
        match found {
            Some(found) => {
                self.alert_plan.next_lead_secs = found.next_lead_secs;
                if found.more {
                    self.check_alerts_by(checked.unwrap_or(DateTime::<Utc>::MIN_UTC));
                }
                if !found.bids_unwritten {
                    self.alert_plan.unwritten_rechecks = 0;
                } else if self.alert_plan.unwritten_rechecks < UNWRITTEN_RECHECKS
                    && let Some(checked) = checked
                {
                    // Counting only confirmed batches, a bid not yet a row is
                    // rare (a signal bid, a lost write the backstop has just
                    // handed over): it waits for the next period.
                    self.alert_plan.unwritten_rechecks += 1;
                    self.check_alerts_by(checked + RECHECK_AFTER_BIDS);
                }
            }
            None => {
                if let Some(checked) = checked {
                    self.check_alerts_by(checked + RETRY_FAILED_CHECK);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::{
        contract::{
            auction::{AuctionInput, AuctionSettings, PlaceBid},
            view::Listing,
        },
        rules::Phase,
    };

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    const ADA: Uuid = Uuid::from_u128(2);
    const BOB: Uuid = Uuid::from_u128(3);
    const CAROL: Uuid = Uuid::from_u128(4);

    /// An open lot ending at `at(3_600)`, in a run of release 0.2.
    fn lot() -> AuctionWorkflow {
        let mut book = crate::rules::Book::new(crate::rules::Terms {
            seller_id: Uuid::from_u128(1),
            currency: crate::rules::Currency::Ngn,
            starting_price: 10_000,
            reserve_price: None,
            buy_now_price: None,
            min_increment: Some(500),
            starts_at: at(0),
            ends_at: at(3_600),
            anti_sniping: crate::rules::AntiSniping::default(),
            hard_close_at: None,
            second_chance_offers: true,
        });
        book.phase = Phase::Open;
        let mut lot = AuctionWorkflow::from_input(AuctionInput {
            auction_id: Uuid::from_u128(9),
            listing: Listing {
                title: "Stool".into(),
                description: String::new(),
            },
            book,
            settings: AuctionSettings::default(),
            carried: None,
        });
        lot.release_0_2 = true;
        lot
    }

    /// One bid in a batch of its own, held until an API confirms it (as
    /// `place_bids` does in a lean run); the batch's revision.
    fn batch(lot: &mut AuctionWorkflow, bidder: Uuid, amount: i64, max: i64, secs: i64) -> u64 {
        let written_before = (lot.book.bid_count, lot.book.leader);
        let from = (lot.unpublished_bids.len(), lot.unpublished_events.len());
        let bid = PlaceBid {
            bidder_id: bidder,
            amount,
            max_amount: Some(max),
            currency: None,
            idempotency_key: format!("{bidder}:{amount}"),
        };
        lot.accept(&bid, at(secs)).unwrap();
        lot.carried.revision += 1;
        let revision = lot.carried.revision;
        lot.hold_unconfirmed(revision, at(secs), written_before, from);
        revision
    }

    #[test]
    fn a_due_check_waits_for_the_bids_decided_before_it_and_a_later_one_counts_the_rest() {
        // Bob's outbid asks for the check; it hands his batch over.
        let mut lot = lot();
        let first = batch(&mut lot, ADA, 10_000, 20_000, 3_000);
        lot.confirm(&[first]);
        // Bob is outbid by Ada's maximum in the batch that answers him,
        // which no API has confirmed writing yet: the check waits for it.
        let second = batch(&mut lot, BOB, 10_500, 10_500, 3_001);
        assert_eq!(lot.book.leader, Some(ADA));
        let counted = lot.book.bid_count;
        assert!(!lot.alert_check_ready(), "Bob's bid is not written yet");

        // Carol's batch, decided after the check fell due, is not handed
        // over with Bob's; the check goes once Bob's publication lands,
        // counting Bob but not Carol, who was outbid meanwhile.
        let mut third = batch(&mut lot, CAROL, 11_500, 11_500, 3_002);
        lot.confirm(&[second]);
        assert!(!lot.alert_check_ready());
        assert_eq!(lot.oldest_unconfirmed(), Some(at(3_002)), "Carol's");
        assert_eq!(lot.take_publication().bids.len(), 1, "Bob's bid");
        lot.publication_landed();
        assert!(lot.alert_check_ready());
        let check = lot.take_alert_check(at(3_002));
        assert_eq!(check.bids_seen, Some(counted), "Ada's and Bob's bids");
        assert_eq!(check.leader, Some(ADA));
        assert!(check.counts_written);
        assert_eq!(
            lot.alert_plan.recheck_at,
            Some(at(3_032)),
            "Carol a period later"
        );

        // Nothing left out: no recheck.
        lot.confirm(&[third]);
        third = lot.book.bid_count;
        assert!(lot.alert_check_ready());
        let check = lot.take_alert_check(at(3_032));
        assert_eq!(check.bids_seen, Some(third));
        assert_eq!(lot.alert_plan.recheck_at, None);
    }

    #[test]
    fn a_held_check_hands_its_batches_to_the_publication_and_goes_once_it_lands() {
        let mut lot = lot();
        batch(&mut lot, ADA, 10_000, 20_000, 3_000);
        batch(&mut lot, BOB, 10_500, 10_500, 3_001);
        assert!(!lot.alert_check_ready());
        assert!(lot.has_unpublished(), "handed over at once");
        assert_eq!(
            lot.oldest_unconfirmed(),
            None,
            "nothing left for the backstop"
        );
        let publication = lot.take_publication();
        assert_eq!(publication.bids.len(), 2);
        assert!(!lot.alert_check_ready(), "on its way, not written yet");
        lot.publication_landed();
        assert!(lot.alert_check_ready());
        let check = lot.take_alert_check(at(3_002));
        assert_eq!(check.bids_seen, Some(lot.book.bid_count));
        assert_eq!(check.leader, Some(ADA));
        assert_eq!(lot.alert_plan.recheck_at, None);
    }

    #[test]
    fn a_check_asked_for_after_the_end_comes_a_moment_before_it() {
        let mut lot = lot();
        lot.book.terms.anti_sniping = crate::rules::AntiSniping {
            window_secs: 0,
            extension_secs: 1,
        };
        assert!(lot.alert_check_ready());
        lot.take_alert_check(at(3_580));
        let first = batch(&mut lot, ADA, 10_000, 20_000, 3_585);
        lot.confirm(&[first]);
        // Outbid 10 s before the end, 10 s after the last check: the next
        // would fall 10 s after the end, when the lot's checks have stopped.
        batch(&mut lot, BOB, 10_500, 10_500, 3_590);
        assert_eq!(lot.alert_plan.recheck_at, Some(at(3_595)));
    }

    #[test]
    fn bids_only_the_publication_writes_hold_a_check_until_it_lands() {
        let mut lot = lot();
        // A signal bid (or a bid carried from the run before) is written by
        // the workflow's publication alone.
        let bid = PlaceBid {
            bidder_id: ADA,
            amount: 10_000,
            max_amount: None,
            currency: None,
            idempotency_key: "signal".into(),
        };
        lot.accept(&bid, at(3_000)).unwrap();
        assert!(!lot.alert_check_ready());
        let publication = lot.take_publication();
        assert_eq!(publication.bids.len(), 1);
        assert!(!lot.alert_check_ready(), "on its way");
        lot.publication_landed();
        assert!(lot.alert_check_ready());
    }

    #[test]
    fn a_new_lot_plans_no_check_and_a_continued_0_1_run_checks_once() {
        let mut new = lot();
        assert_eq!(new.next_alert_check(), None, "nobody waits on a new lot");
        let mut input = new.continue_as_new_input();
        input.carried.as_mut().unwrap().alerts = None;
        let continued = AuctionWorkflow::from_input(input);
        assert_eq!(
            continued.next_alert_check(),
            Some(at(3_600) - chrono::Duration::seconds(LEAD_MAX_SECS)),
            "a run from 0.1.0 kept no plan: it checks for whoever watched"
        );
    }

    #[test]
    fn an_outbid_long_before_the_end_plans_a_check_when_the_longest_lead_falls_due() {
        let mut lot = lot();
        let ends_at = at(LEAD_MAX_SECS * 3);
        lot.book.ends_at = ends_at;
        lot.someone_outbid(at(100));
        assert_eq!(
            lot.next_alert_check(),
            Some(ends_at - chrono::Duration::seconds(LEAD_MAX_SECS))
        );
        // Near the end, within 30 s of the last check.
        let mut near = self::lot();
        near.alert_plan.checked_at = Some(at(3_000));
        near.someone_outbid(at(3_010));
        assert_eq!(near.next_alert_check(), Some(at(3_030)));
    }

    #[test]
    fn the_check_moves_with_the_end_and_comes_sooner_when_asked() {
        let plan = AlertPlan {
            next_lead_secs: Some(60),
            recheck_at: None,
            checked_at: Some(at(0)),
            ..AlertPlan::default()
        };
        assert_eq!(next_check(&plan, at(100)), Some(at(40)));
        // An extension of 30 s moves it 30 s.
        assert_eq!(next_check(&plan, at(130)), Some(at(70)));
        let asked = AlertPlan {
            recheck_at: Some(at(10)),
            ..plan
        };
        assert_eq!(next_check(&asked, at(130)), Some(at(10)));
        // Never sooner than a second after the last check.
        let past = AlertPlan {
            recheck_at: Some(at(-5)),
            ..plan
        };
        assert_eq!(next_check(&past, at(130)), Some(at(1)));
    }

    #[test]
    fn nobody_waiting_means_no_check_unless_asked() {
        let idle = AlertPlan {
            next_lead_secs: None,
            recheck_at: None,
            checked_at: Some(at(0)),
            ..AlertPlan::default()
        };
        assert_eq!(next_check(&idle, at(100)), None);
        let asked = AlertPlan {
            recheck_at: Some(at(20)),
            ..idle
        };
        assert_eq!(next_check(&asked, at(100)), Some(at(20)));
        // The first check of a run that continued a 0.1.0 run (no plan
        // carried): 7 days before the end, or at once.
        assert_eq!(
            next_check(&AlertPlan::default(), at(LEAD_MAX_SECS + 50)),
            Some(at(50))
        );
    }
}
