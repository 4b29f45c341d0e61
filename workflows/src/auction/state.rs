//! The auction workflow's state and what changes it without Temporal: bids
//! through the rules, cancels, opening and closing, the live events and
//! outbid notices they make, and what waits for the read model (the
//! ending-soon plan is in [`super::alert_plan`]). The handlers
//! ([`super::workflow`]) and phases ([`super::open_phase`]) drive it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use temporalio_macros::workflow;
use temporalio_sdk::SyncWorkflowContext;
use uuid::Uuid;

use crate::{
    contract::{
        alerts::AlertPlan,
        auction::{
            AuctionInput, AuctionSettings, BidReceipt, CancelRefusal, CancelRequest, Carried,
            PlaceBid,
        },
        read_model::{AuctionEvent, AuctionSnapshot, BidRecord, EventData, Publication},
        settlement::{EmailJob, EmailKind},
        view::{AuctionStatus, AuctionView, Listing, Outcome, view_of},
    },
    rules::{Book, Phase, Rejection},
    settlement::{Sale, Settlement},
};

/// Verdicts kept in the carried state; older retries are answered by the API
/// from the read model.
const VERDICTS_CARRIED: u64 = 1_000;
/// Outbid notices waiting at most (one per recipient); the oldest go first
/// when a bidding war outruns the mailer.
pub(crate) const OUTBID_QUEUE_MAX: usize = 1_000;
/// One auction. Its id is `auction-{uuid}`.
#[workflow]
pub struct AuctionWorkflow {
    pub(crate) auction_id: Uuid,
    pub(crate) listing: Listing,
    pub(crate) settings: AuctionSettings,
    pub(crate) book: Book,
    pub(crate) outcome: Option<Outcome>,
    pub(super) carried: Carried,
    /// Bid and cancel messages handled in this run (continue-as-new trigger).
    pub(crate) messages_this_run: u32,
    /// When this run began (workflow time): a run continues as new only
    /// after `settings.min_run_ms`.
    pub(crate) run_started_at: Option<DateTime<Utc>>,
    /// Bumped by every handler, so the main loop wakes on any change.
    pub(crate) changes: u64,
    /// Accepted in this run; published again in full at the close, so the
    /// read model is whole even if an earlier write was lost.
    pub(super) run_bids: Vec<BidRecord>,
    pub(super) unpublished_bids: Vec<BidRecord>,
    pub(super) unpublished_events: Vec<AuctionEvent>,
    pub(super) snapshot_dirty: bool,
    /// What the search attributes last said: (status, ends_at, price).
    pub(crate) indexed: Option<(AuctionStatus, DateTime<Utc>, Option<i64>)>,
    /// Outbid notices waiting for the mailer.
    pub(crate) unsent_emails: Vec<EmailJob>,
    /// Outbid notices are coalesced per recipient and bounded once the run
    /// reaches the open phase; bids handled before that (in the run's first
    /// activation, after continue-as-new) queue theirs as they come, and
    /// the mailer coalesces them. Recorded runs hold to this order.
    pub(crate) coalesce_outbid: bool,
    /// What happens after the close: its status, payment notices and desk.
    pub(crate) settlement: Settlement,
    /// When each bidder was last sent an outbid notice in this run (a lean
    /// run sends each at most once per window).
    pub(crate) outbid_sent: BTreeMap<Uuid, DateTime<Utc>>,
    /// The run follows release 0.2's commands (patch
    /// [`crate::names::PATCH_AUCTION_0_2`], decided once at its start): lean
    /// bidding, ending-soon alerts, the settlement queue and the sale's
    /// journey. Runs from 0.1.0 follow none of them.
    pub(crate) release_0_2: bool,
    /// Batches whose read-model write no API replica has confirmed yet,
    /// oldest first; the backstop publishes those it finds still here. One
    /// handed to the publication stays, marked, until that lands.
    pub(super) unconfirmed: Vec<Unconfirmed>,
    /// The bid count after the latest bid that outbid someone (this run):
    /// a check that does not count it asks for another.
    pub(super) outbid_at_count: u64,
    /// A due alert check held until this many bids are written.
    pub(super) check_waits_for: Option<u64>,
    /// The first bid of the publication on its way, written once it lands.
    pub(super) publishing_from: Option<u64>,
    /// When the next alert check is due, and what the last one found.
    pub(crate) alert_plan: AlertPlan,
}

/// What one batch of bids changed, kept until an API replica confirms it
/// wrote it to the read model, or until the workflow's own publication of
/// it lands.
#[derive(Debug, Clone)]
pub(crate) struct Unconfirmed {
    pub(crate) revision: u64,
    /// When the batch was taken (workflow time).
    pub(crate) at: DateTime<Utc>,
    /// The auction's bid count and leader before it.
    pub(super) bids_before: u64,
    pub(super) leader_before: Option<Uuid>,
    /// Handed to the durable publication, and whether that publication is
    /// on its way: it is written once that lands (or an API confirms it).
    handed: Handed,
    bids: Vec<BidRecord>,
    events: Vec<AuctionEvent>,
}

/// Where an unconfirmed batch is on the workflow's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handed {
    /// Not handed over: the backstop watches it.
    No,
    /// Waiting for the next publication.
    Waiting,
    /// In the publication on its way.
    InPublication,
}

/// The bid's id: stable for (auction, sequence number), so every retry and
/// every replay names the same bid.
pub fn bid_id(auction_id: Uuid, seq: u64) -> Uuid {
    Uuid::new_v5(&auction_id, format!("bid-{seq}").as_bytes())
}

impl AuctionWorkflow {
    /// The run's state from its input (what an earlier run carried, if any).
    pub(crate) fn from_input(input: AuctionInput) -> Self {
        // A new auction has nobody to alert yet: the API signals when
        // someone watches it, and an outbid asks for a check. A run that
        // carries no plan (it continued a 0.1.0 run, which had none) checks
        // once at its start for whoever watched meanwhile.
        let alerts_from = match &input.carried {
            None => AlertPlan::nobody_waits(),
            Some(_) => AlertPlan::default(),
        };
        let mut carried = input.carried.unwrap_or_default();
        let unpublished_bids = std::mem::take(&mut carried.unpublished_bids);
        let unpublished_events = std::mem::take(&mut carried.unpublished_events);
        let unsent_emails = std::mem::take(&mut carried.unsent_emails);
        let alert_plan = carried.alerts.take().unwrap_or(alerts_from);
        Self {
            auction_id: input.auction_id,
            listing: input.listing,
            settings: input.settings,
            book: input.book,
            outcome: None,
            carried,
            messages_this_run: 0,
            run_started_at: None,
            changes: 0,
            run_bids: unpublished_bids.clone(),
            unpublished_bids,
            unpublished_events,
            snapshot_dirty: true,
            indexed: None,
            unsent_emails,
            coalesce_outbid: false,
            settlement: Settlement::default(),
            release_0_2: false,
            unconfirmed: Vec::new(),
            outbid_at_count: 0,
            check_waits_for: None,
            publishing_from: None,
            outbid_sent: std::collections::BTreeMap::new(),
            alert_plan,
        }
    }

    /// Whether this run has taken its share of bids and may continue as
    /// new at `at`: once it has lived `min_run_ms`, or at once past the
    /// ceiling of bids.
    pub(crate) fn continue_as_new_due(&self, at: DateTime<Utc>) -> bool {
        if self.messages_this_run < self.settings.bids_per_run.max(1) {
            return false;
        }
        let lived = self
            .run_started_at
            .map_or(chrono::Duration::MAX, |started| at - started);
        lived >= chrono::Duration::milliseconds(i64::from(self.settings.min_run_ms))
            || self.messages_this_run >= self.settings.bids_ceiling()
    }

    pub(crate) fn received_message(&mut self) {
        self.messages_this_run = self.messages_this_run.saturating_add(1);
        self.changes += 1;
    }

    /// Counts a refused message for the `refusals` query.
    pub(crate) fn refuse(&mut self, message: &str, reason: String, at: Option<DateTime<Utc>>) {
        self.carried.refusals.record(message, reason, at);
    }

    /// [`Self::refuse`], and a log line the first time (not on replay).
    pub(super) fn refuse_logged(
        &mut self,
        ctx: &SyncWorkflowContext<Self>,
        message: &str,
        reason: String,
        at: Option<DateTime<Utc>>,
    ) {
        if !ctx.is_replaying() {
            tracing::warn!(auction_id = %self.auction_id, message, %reason, "refused a message");
        }
        self.refuse(message, reason, at);
    }

    pub(crate) fn view(&self) -> AuctionView {
        view_of(
            self.auction_id,
            &self.book,
            self.outcome.as_ref(),
            self.settlement.status(),
            self.carried.runs_before,
        )
    }

    fn push_event(&mut self, at: DateTime<Utc>, data: EventData) {
        self.carried.event_seq += 1;
        self.unpublished_events.push(AuctionEvent {
            seq: self.carried.event_seq,
            at,
            data,
        });
        self.snapshot_dirty = true;
    }

    /// The one door for bids, whether signal or update.
    pub(super) fn accept(
        &mut self,
        bid: &PlaceBid,
        at: DateTime<Utc>,
    ) -> Result<BidReceipt, Rejection> {
        let (verdict, accepted) = self.book.place(bid, at)?;
        let bid_id = bid_id(self.auction_id, verdict.seq);
        if let Some(accepted) = accepted {
            let record = BidRecord {
                bid_id,
                standing: verdict.standing,
                ends_at_after: verdict.ends_at,
                extended: verdict.extended,
                bought_now: verdict.bought_now,
                reserve_met: verdict.reserve_met,
                bid: accepted,
            };
            self.run_bids.push(record.clone());
            self.unpublished_bids.push(record);
            self.push_event(
                at,
                EventData::Bid {
                    bid_id,
                    bid_seq: verdict.seq,
                    amount: bid.amount,
                    current_price: verdict.current_price,
                    leader_id: self.book.leader,
                    bid_count: self.book.bid_count,
                    reserve_met: verdict.reserve_met,
                    ends_at: verdict.ends_at,
                },
            );
            if let Some(outbid) = verdict.outbid {
                self.queue_outbid(EmailJob {
                    kind: EmailKind::Outbid,
                    auction_id: self.auction_id,
                    recipient_id: outbid,
                    occasion: verdict.seq,
                    invoice_id: None,
                    pay_link: None,
                    amount: Some(verdict.current_price),
                    card_pending: false,
                });
            }
            if verdict.outbid.is_some() || verdict.standing == crate::rules::Standing::Outbid {
                self.someone_outbid(at);
            }
            if verdict.extended {
                self.push_event(
                    at,
                    EventData::Extended {
                        ends_at: verdict.ends_at,
                    },
                );
            }
            if verdict.bought_now {
                self.close(at);
            }
        }
        Ok(BidReceipt { bid_id, verdict })
    }

    /// The waiting outbid notices whose recipients were not sent one within
    /// `window` of `at` (at most `most`, marked sent now), and when the next
    /// of the others falls due.
    pub(crate) fn take_due_outbid(
        &mut self,
        at: DateTime<Utc>,
        window: chrono::Duration,
        most: usize,
    ) -> (Vec<EmailJob>, Option<DateTime<Utc>>) {
        let mut due = Vec::new();
        let mut next = None::<DateTime<Utc>>;
        let mut kept = Vec::new();
        for job in std::mem::take(&mut self.unsent_emails) {
            let free_at = self
                .outbid_sent
                .get(&job.recipient_id)
                .map(|sent| *sent + window);
            match free_at {
                Some(free_at) if free_at > at => {
                    next = Some(next.map_or(free_at, |n| n.min(free_at)));
                    kept.push(job);
                }
                _ if due.len() < most => {
                    self.outbid_sent.insert(job.recipient_id, at);
                    due.push(job);
                }
                _ => kept.push(job),
            }
        }
        self.unsent_emails = kept;
        (due, next)
    }

    /// Queues an outbid notice: one per recipient (the latest price wins)
    /// and at most [`OUTBID_QUEUE_MAX`] recipients, once coalescing is on.
    fn queue_outbid(&mut self, job: EmailJob) {
        if self.coalesce_outbid {
            self.unsent_emails
                .retain(|queued| queued.recipient_id != job.recipient_id);
            if self.unsent_emails.len() >= OUTBID_QUEUE_MAX {
                self.unsent_emails.remove(0);
            }
        }
        self.unsent_emails.push(job);
    }

    pub(super) fn apply_cancel(
        &mut self,
        request: &CancelRequest,
        at: DateTime<Utc>,
    ) -> Result<(), CancelRefusal> {
        CancelRefusal::check(&self.book, request)?;
        self.book.phase = Phase::Cancelled;
        let outcome = Outcome::Cancelled {
            reason: request.reason.clone(),
        };
        self.outcome = Some(outcome);
        self.push_event(
            at,
            EventData::Cancelled {
                reason: request.reason.clone(),
            },
        );
        Ok(())
    }

    pub(crate) fn open(&mut self, at: DateTime<Utc>) {
        self.book.phase = Phase::Open;
        self.push_event(
            at,
            EventData::Opened {
                ends_at: self.book.ends_at,
            },
        );
    }

    pub(crate) fn close(&mut self, at: DateTime<Utc>) {
        self.book.phase = Phase::Closed;
        let outcome = Outcome::of_closed(&self.book);
        self.push_event(
            at,
            EventData::Closed {
                status: outcome.status(),
                outcome: outcome.clone(),
            },
        );
        self.outcome = Some(outcome);
    }

    /// Keeps what the batch whose unpublished bids and events start at
    /// these indexes changed as unconfirmed, out of the durable
    /// publication's way, with the bid count and leader before it.
    pub(super) fn hold_unconfirmed(
        &mut self,
        revision: u64,
        at: DateTime<Utc>,
        (bids_before, leader_before): (u64, Option<Uuid>),
        (bids_from, events_from): (usize, usize),
    ) {
        let bids = self.unpublished_bids.split_off(bids_from);
        let events = self.unpublished_events.split_off(events_from);
        self.unconfirmed.push(Unconfirmed {
            revision,
            at,
            bids_before,
            leader_before,
            handed: Handed::No,
            bids,
            events,
        });
    }

    /// The record of an accepted bid of this run (a retried key is
    /// answered with it, so the API can write and answer it again).
    pub(super) fn run_bid(&self, seq: u64) -> Option<&BidRecord> {
        self.run_bids.iter().rev().find(|r| r.bid.seq == seq)
    }

    /// Forgets the batches an API replica says it wrote.
    pub(super) fn confirm(&mut self, written: &[u64]) {
        if !written.is_empty() {
            self.unconfirmed.retain(|u| !written.contains(&u.revision));
        }
    }

    /// When the oldest batch nobody has confirmed or handed over yet was
    /// taken.
    pub(crate) fn oldest_unconfirmed(&self) -> Option<DateTime<Utc>> {
        self.unconfirmed
            .iter()
            .find(|u| u.handed == Handed::No)
            .map(|u| u.at)
    }

    /// Hands the unconfirmed batches taken at or before `taken_by` to the
    /// durable publication (their read-model write may have been lost).
    pub(crate) fn publish_unconfirmed(&mut self, taken_by: DateTime<Utc>) {
        self.hand_over(|batch| batch.at <= taken_by);
    }

    /// Hands the unconfirmed batches `pick` chooses to the durable
    /// publication; each is kept, as handed over, until that lands.
    pub(super) fn hand_over(&mut self, pick: impl Fn(&Unconfirmed) -> bool) {
        let mut handed = false;
        for batch in &mut self.unconfirmed {
            if batch.handed == Handed::No && pick(batch) {
                batch.handed = Handed::Waiting;
                self.unpublished_bids.append(&mut batch.bids);
                self.unpublished_events.append(&mut batch.events);
                handed = true;
            }
        }
        if handed {
            self.unpublished_events.sort_by_key(|e| e.seq);
            self.snapshot_dirty = true;
        }
    }

    /// The durable publication taken last has landed: the batches handed
    /// to it are written.
    pub(crate) fn publication_landed(&mut self) {
        self.unconfirmed
            .retain(|batch| batch.handed != Handed::InPublication);
        self.publishing_from = None;
    }

    /// The first bid waiting for the next publication.
    pub(super) fn first_unpublished_bid(&self) -> Option<u64> {
        self.unpublished_bids.iter().map(|r| r.bid.seq).min()
    }

    pub(crate) fn has_unpublished(&self) -> bool {
        self.snapshot_dirty
            || !self.unpublished_bids.is_empty()
            || !self.unpublished_events.is_empty()
    }

    /// Takes what is waiting for the read model.
    pub(crate) fn take_publication(&mut self) -> Publication {
        self.carried.revision += 1;
        self.snapshot_dirty = false;
        for batch in &mut self.unconfirmed {
            if batch.handed == Handed::Waiting {
                batch.handed = Handed::InPublication;
            }
        }
        self.publishing_from = self.first_unpublished_bid();
        Publication {
            snapshot: AuctionSnapshot {
                auction_id: self.auction_id,
                revision: self.carried.revision,
                listing: self.listing.clone(),
                terms: self.book.terms.clone(),
                view: self.view(),
            },
            bids: std::mem::take(&mut self.unpublished_bids),
            events: std::mem::take(&mut self.unpublished_events),
        }
    }

    /// Settlement moved on: a live event says so.
    pub(super) fn settlement_moved(
        &mut self,
        status: AuctionStatus,
        round: u32,
        at: DateTime<Utc>,
    ) {
        self.push_event(at, EventData::Status { status, round });
    }

    /// What settlement is told of the auction at the close.
    pub(super) fn sale(&self) -> Sale {
        Sale {
            auction_id: self.auction_id,
            seller_id: self.book.terms.seller_id,
            currency: self.book.terms.currency,
            title: self.listing.title.clone(),
            settings: self.settings,
            second_chance_offers: self.book.terms.second_chance_offers,
            has_bids: self.book.bid_count > 0,
        }
    }

    pub(super) fn republish_run_bids(&mut self) {
        self.publish_unconfirmed(DateTime::<Utc>::MAX_UTC);
        self.unpublished_bids = self.run_bids.clone();
        self.snapshot_dirty = true;
    }

    pub(crate) fn continue_as_new_input(&mut self) -> AuctionInput {
        let mut book = self.book.clone();
        book.forget_old_verdicts(VERDICTS_CARRIED);
        self.publish_unconfirmed(DateTime::<Utc>::MAX_UTC);
        let mut carried = self.carried.clone();
        carried.runs_before += 1;
        carried.unpublished_bids = std::mem::take(&mut self.unpublished_bids);
        carried.unpublished_events = std::mem::take(&mut self.unpublished_events);
        carried.unsent_emails = std::mem::take(&mut self.unsent_emails);
        carried.alerts = self.release_0_2.then_some(self.alert_plan);
        AuctionInput {
            auction_id: self.auction_id,
            listing: self.listing.clone(),
            book,
            settings: self.settings,
            carried: Some(carried),
        }
    }
}
