//! Group commit for bids. Per auction and API replica, one `place_bids`
//! update is in flight at a time; bids that arrive meanwhile queue and go
//! together in the next one, applied by the workflow in arrival order. A hot
//! auction's throughput is then bids per batch over one update round trip,
//! not one bid per round trip. On a contended lot (several bids in a batch,
//! or some waiting behind it) the next batch waits a few milliseconds, once
//! the last one is written, for that batch's bidders to bid again
//! (`GAVEL_BID_GATHER_MS`, like PostgreSQL's `commit_delay`): bidders who
//! bid flat out then travel in one batch, where sending at once would split
//! them into two batches taking turns. When most do not come (people bid
//! again slower than that), the lane stops waiting for a few batches.
//!
//! Each batch's answer is written to the read model (and announced to live
//! streams) here, before any bidder of the batch hears back; the next batch
//! tells the workflow which revisions were written, so it publishes only
//! what no replica confirmed. Writes land in revision order (each after the
//! one before) and are pipelined (the next batch goes to the workflow while
//! the last one is written), except that a gather starts once the write it
//! waits on has landed. The answer also
//! keeps a floor: the lowest amount the auction can still accept. Prices never
//! fall, so a bid below it is refused at once, without Temporal.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU8, Ordering},
    },
    time::Duration,
};

use gavel_store::read_model::ReadModel;
use gavel_workflows::{
    contract::{
        auction::{
            BatchRefused, BidBatch, BidOutcome, BidReceipt, MAX_BATCH, MAX_WRITTEN, PlaceBid,
        },
        read_model::LiveDelta,
    },
    rules::{RULES, Rejection},
};
use temporalio_client::Client;
use tokio::{sync::oneshot, task::JoinHandle};
use uuid::Uuid;

use super::gateway::{self, CallError};

/// Bids waiting for one auction at most in this replica; beyond, callers are
/// told the auction is busy.
pub const QUEUE_MAX: usize = 1_024;
/// Lanes kept for auctions with nothing queued, before idle ones are dropped.
const IDLE_LANES: usize = 1_024;
/// Contended batches a lane sends at once after a gather most of whose
/// bidders did not come, before it waits again.
const GATHER_SKIPS: u8 = 8;
/// Keys of unanswered batches one lane remembers.
const UNCERTAIN_KEYS: usize = 256;

/// What became of a bid.
#[derive(Debug, Clone)]
pub enum BidAnswer {
    Accepted(BidReceipt),
    Refused(Rejection),
    /// The workflow knew the key from an earlier batch and answered its
    /// first verdict: the caller checks the stored bid is this one.
    Repeated(BidReceipt),
    /// The key was first used, in this batch, for another amount.
    KeyReused {
        amount: i64,
        max_amount: i64,
    },
}

/// Why a bid got no answer from the workflow.
#[derive(Debug, Clone)]
pub enum BidFailure {
    /// No running workflow: the auction is over (or never existed).
    Gone,
    /// Temporal did not answer in time.
    Unavailable(String),
    /// Too many bids are queued for this auction here.
    Busy,
    /// This bidder has as many bids waiting for this auction as allowed.
    TooManyQueued,
}

/// The lowest amount the auction could still accept, as last seen.
#[derive(Debug, Clone, Copy)]
struct Floor {
    minimum: i64,
    /// A buy-now price still on offer (a bid at it is accepted even below
    /// the minimum).
    buy_now: Option<i64>,
}

struct Queued {
    bid: PlaceBid,
    reply: oneshot::Sender<Result<BidAnswer, BidFailure>>,
}

/// One auction's queue in this replica.
#[derive(Default)]
struct Lane {
    queue: Mutex<VecDeque<Queued>>,
    /// Each bidder's bids queued or in flight, so one cannot fill the queue.
    waiting: Mutex<HashMap<Uuid, u32>>,
    draining: AtomicBool,
    floor: Mutex<Option<Floor>>,
    /// Revisions this replica wrote to the read model since its last batch:
    /// the next batch tells the workflow, which then need not publish them.
    written: Mutex<Vec<u64>>,
    /// Settles when the last write started here has landed.
    last_write: Mutex<Option<oneshot::Receiver<()>>>,
    /// Keys of bids whose batch got no answer (see [`Lane::uncertain`]).
    uncertain_keys: Mutex<VecDeque<String>>,
    /// Woken when a bid is queued.
    arrived: tokio::sync::Notify,
    /// Contended batches to send at once, after a gather most of whose
    /// bidders did not come.
    skips: AtomicU8,
}

impl Lane {
    /// The refusal for a bid that provably cannot be accepted.
    fn hopeless(&self, bid: &PlaceBid) -> Option<Rejection> {
        let floor = (*self.floor.lock().unwrap_or_else(|p| p.into_inner()))?;
        let buys_now = floor.buy_now.is_some_and(|price| bid.amount >= price);
        (bid.amount < floor.minimum && !buys_now).then_some(Rejection::BidTooLow {
            minimum: floor.minimum,
        })
    }

    /// Keeps the floor the workflow's latest answer implies. Only under
    /// rules that refuse every bid below the minimum (the leader's too).
    fn learn(&self, live: &LiveDelta) {
        let mut floor = self.floor.lock().unwrap_or_else(|p| p.into_inner());
        *floor = (live.rules >= RULES && live.view.status.is_live()).then(|| Floor {
            minimum: live.view.minimum_bid,
            buy_now: live
                .view
                .buy_now_price
                .filter(|_| live.view.buy_now_available),
        });
    }

    /// Counts a bid of `bidder` in, unless they have `most` waiting.
    fn enter(&self, bidder: Uuid, most: u32) -> bool {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let mine = waiting.entry(bidder).or_default();
        if *mine >= most {
            return false;
        }
        *mine += 1;
        true
    }

    fn leave(&self, bidder: Uuid) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mine) = waiting.get_mut(&bidder) {
            *mine -= 1;
            if *mine == 0 {
                waiting.remove(&bidder);
            }
        }
    }

    fn wrote(&self, revision: u64) {
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(revision);
    }

    /// The signal the next write gives when it lands, and the one it waits
    /// for first (the previous write's).
    fn next_write(&self) -> (oneshot::Sender<()>, Option<oneshot::Receiver<()>>) {
        let (done, landed) = oneshot::channel();
        let after = self
            .last_write
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(landed);
        (done, after)
    }

    /// The revisions to confirm with the next batch: the newest few (the
    /// workflow refuses more; it publishes older ones itself).
    fn take_written(&self) -> Vec<u64> {
        let mut written =
            std::mem::take(&mut *self.written.lock().unwrap_or_else(|p| p.into_inner()));
        let extra = written.len().saturating_sub(MAX_WRITTEN);
        written.drain(..extra);
        written
    }

    /// Remembers the keys of a batch whose fate is unknown (Temporal did not
    /// answer): a retry with one of them must reach the workflow, which may
    /// have accepted it, even below the floor.
    fn uncertain(&self, batch: &[Queued]) {
        let mut keys = self
            .uncertain_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for queued in batch {
            if keys.len() >= UNCERTAIN_KEYS {
                keys.pop_front();
            }
            keys.push_back(queued.bid.idempotency_key.clone());
        }
    }

    fn is_uncertain(&self, key: &str) -> bool {
        self.uncertain_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|k| k == key)
    }

    fn take(&self, most: usize) -> Vec<Queued> {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let count = queue.len().min(most);
        queue.drain(..count).collect()
    }

    fn queued(&self) -> usize {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Waits until `more` bids beyond `from` are queued (or a full batch),
    /// for at most `longest`; whether most of them came (a full batch
    /// counts as all).
    async fn gather(&self, from: usize, more: usize, longest: Duration) -> bool {
        let want = (from + more).min(MAX_BATCH);
        let deadline = tokio::time::Instant::now() + longest;
        loop {
            let arrived = self.arrived.notified();
            if self.queued() >= want {
                return true;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let came = self.queued().saturating_sub(from);
                return self.queued() >= want || came * 2 >= more;
            }
        }
    }

    fn is_idle(&self) -> bool {
        !self.draining.load(Ordering::Acquire) && self.queued() == 0
    }
}

/// Every auction's lane in this replica.
pub struct BidBatcher {
    lanes: Mutex<HashMap<Uuid, Arc<Lane>>>,
    temporal: Client,
    read_model: ReadModel,
    /// One bidder's bids waiting for one auction at most.
    per_bidder: u32,
    /// How long a contended lot's next batch waits for the bidders of the
    /// last one to bid again (it goes as soon as they have).
    gather: Duration,
}

impl BidBatcher {
    pub fn new(temporal: Client, read_model: ReadModel, per_bidder: u32, gather: Duration) -> Self {
        Self {
            lanes: Mutex::default(),
            temporal,
            read_model,
            per_bidder: per_bidder.max(1),
            gather,
        }
    }

    fn lane(&self, auction_id: Uuid) -> Arc<Lane> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        if lanes.len() > IDLE_LANES {
            lanes.retain(|_, lane| Arc::strong_count(lane) > 1 || !lane.is_idle());
        }
        lanes.entry(auction_id).or_default().clone()
    }

    /// Places `bid` with the next batch for its auction.
    pub async fn place(
        self: &Arc<Self>,
        auction_id: Uuid,
        bid: PlaceBid,
    ) -> Result<BidAnswer, BidFailure> {
        let lane = self.lane(auction_id);
        if let Some(rejection) = lane
            .hopeless(&bid)
            .filter(|_| !lane.is_uncertain(&bid.idempotency_key))
        {
            metrics::counter!("gavel_bids_refused_early_total").increment(1);
            return Ok(BidAnswer::Refused(rejection));
        }
        if !lane.enter(bid.bidder_id, self.per_bidder) {
            crate::limits::refused("bids_queued_per_bidder");
            return Err(BidFailure::TooManyQueued);
        }
        let (reply, answer) = oneshot::channel();
        {
            let mut queue = lane.queue.lock().unwrap_or_else(|p| p.into_inner());
            if queue.len() >= QUEUE_MAX {
                drop(queue);
                lane.leave(bid.bidder_id);
                return Err(BidFailure::Busy);
            }
            queue.push_back(Queued { bid, reply });
        }
        lane.arrived.notify_one();
        if !lane.draining.swap(true, Ordering::AcqRel) {
            tokio::spawn(self.clone().drain(auction_id, lane));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(BidFailure::Unavailable("the bid batcher stopped".into())))
    }

    /// Sends the lane's bids in batches until none wait.
    async fn drain(self: Arc<Self>, auction_id: Uuid, lane: Arc<Lane>) {
        // Read-model writes of answered batches, oldest first, each giving
        // how many bids were queued as it answered its bidders. Unless a
        // gather waits for it, the next batch goes to the workflow while the
        // last one is written, never more than two behind.
        let mut writes: VecDeque<JoinHandle<usize>> = VecDeque::new();
        // The bidders of the last batch, if the lot was contended then.
        let mut contended: Option<usize> = None;
        loop {
            if let Some(bidders) = contended.take() {
                let skips = lane.skips.load(Ordering::Acquire);
                if skips > 0 {
                    lane.skips.store(skips - 1, Ordering::Release);
                } else if let Some(write) = writes.pop_back() {
                    // The last batch's bidders hear back once it is written,
                    // and bidders who bid flat out bid again at once. Waiting
                    // for them (a few ms) sends one batch with everyone in it,
                    // where sending at once splits them into two batches that
                    // take turns, each bidder waiting two round trips.
                    let queued = write.await.unwrap_or_else(|_| lane.queued());
                    if !lane.gather(queued, bidders, self.gather).await {
                        // Most do not (people, not programs): stop paying
                        // for the wait a while.
                        lane.skips.store(GATHER_SKIPS, Ordering::Release);
                    }
                }
            }
            let batch = lane.take(MAX_BATCH);
            if batch.is_empty() {
                lane.draining.store(false, Ordering::Release);
                // A bid queued just now may have seen us draining: take it.
                let more = lane.queued() > 0;
                if more && !lane.draining.swap(true, Ordering::AcqRel) {
                    continue;
                }
                return;
            }
            while writes.front().is_some_and(JoinHandle::is_finished) || writes.len() >= 2 {
                if let Some(write) = writes.pop_front() {
                    let _ = write.await;
                }
            }
            metrics::histogram!("gavel_bid_batch_size").record(batch.len() as f64);
            let written = lane.take_written();
            let bids = BidBatch::Confirming {
                bids: batch.iter().map(|q| q.bid.clone()).collect(),
                written: written.clone(),
            };
            let placed = gateway::place_bids(&self.temporal, auction_id, bids).await;
            let receipt = match placed {
                Ok(receipt) => receipt,
                Err(failure) => {
                    // A refused or failed batch is not in the history: its
                    // confirmations go with the next one.
                    written
                        .into_iter()
                        .for_each(|revision| lane.wrote(revision));
                    if matches!(failure, CallError::Unavailable(_)) {
                        lane.uncertain(&batch);
                    }
                    let answers = failed(failure, batch.len());
                    answer(&lane, batch, answers);
                    continue;
                }
            };
            lane.learn(&receipt.live);
            // Contended: several bids in this batch, or some waiting behind
            // it; its bidders may bid again while the lot is open.
            if !self.gather.is_zero()
                && receipt.live.view.status.is_live()
                && batch.len() + lane.queued() >= 2
            {
                let bidders: HashSet<Uuid> = batch.iter().map(|q| q.bid.bidder_id).collect();
                contended = Some(bidders.len());
            }
            let (done, after) = lane.next_write();
            let (this, lane) = (self.clone(), lane.clone());
            let write = tokio::spawn(async move {
                // Writes land in revision order: this one after the last
                // (a failed one lets the next go; the backstop covers it).
                if let Some(after) = after {
                    let _ = after.await;
                }
                match this.read_model.apply_live(auction_id, &receipt.live).await {
                    Ok(()) => lane.wrote(receipt.live.revision),
                    // Left unconfirmed, the workflow publishes it itself.
                    Err(err) => tracing::warn!(
                        %auction_id,
                        "cannot write a bid batch to the read model: {err}"
                    ),
                }
                // Nobody of the batch hears back before it is readable.
                let answers = receipt
                    .outcomes
                    .into_iter()
                    .zip(&batch)
                    .map(|(outcome, queued)| {
                        Ok(match outcome {
                            BidOutcome::Accepted(accepted) => {
                                checked(accepted, &queued.bid, &receipt.live)
                            }
                            BidOutcome::Refused { rejection } => BidAnswer::Refused(rejection),
                        })
                    })
                    .collect();
                let _ = done.send(());
                // Bids queued before this batch's bidders hear back.
                let queued = lane.queued();
                answer(&lane, batch, answers);
                queued
            });
            writes.push_back(write);
        }
    }
}

/// What each of the `count` bids of a batch the workflow did not take hears.
fn failed(failure: CallError<BatchRefused>, count: usize) -> Vec<Result<BidAnswer, BidFailure>> {
    match failure {
        CallError::Refused(BatchRefused { rejections }) => rejections
            .into_iter()
            .map(|rejection| Ok(BidAnswer::Refused(rejection)))
            .collect(),
        CallError::Gone => vec![Err(BidFailure::Gone); count],
        CallError::Unavailable(err) => {
            vec![Err(BidFailure::Unavailable(format!("{err:#}"))); count]
        }
    }
}

/// Hands each bid of `batch` its answer, in order.
fn answer(lane: &Lane, batch: Vec<Queued>, answers: Vec<Result<BidAnswer, BidFailure>>) {
    let mut answers = answers.into_iter();
    for queued in batch {
        let answer = answers
            .next()
            .unwrap_or_else(|| Err(BidFailure::Unavailable("no answer for this bid".into())));
        lane.leave(queued.bid.bidder_id);
        let _ = queued.reply.send(answer);
    }
}

/// An accepted outcome, checked against the bid that was sent: two requests
/// racing with one key and different amounts must not both hear "accepted".
/// A bid new in this batch is in the batch's records under its verdict's
/// sequence number; a key the workflow knew before is answered as it was.
fn checked(accepted: BidReceipt, sent: &PlaceBid, live: &LiveDelta) -> BidAnswer {
    match live.bids.iter().find(|r| r.bid.seq == accepted.verdict.seq) {
        Some(record)
            if record.bid.amount != sent.amount
                || record.bid.max_amount != sent.max_amount.unwrap_or(sent.amount) =>
        {
            BidAnswer::KeyReused {
                amount: record.bid.amount,
                max_amount: record.bid.max_amount,
            }
        }
        Some(_) => BidAnswer::Accepted(accepted),
        None => BidAnswer::Repeated(accepted),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use gavel_workflows::{
        contract::view::view_of,
        rules::{AntiSniping, BidRequest, Book, Currency, Phase, Terms},
    };
    use proptest::prelude::*;

    use super::*;

    fn book(reserve: Option<i64>, buy_now: Option<i64>) -> Book {
        let start = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let mut book = Book::new(Terms {
            seller_id: Uuid::from_u128(1),
            currency: Currency::Ngn,
            starting_price: 1_000,
            reserve_price: reserve,
            buy_now_price: buy_now.filter(|b| reserve.is_none_or(|r| *b >= r)),
            min_increment: None,
            starts_at: start,
            ends_at: start + chrono::Duration::days(1),
            anti_sniping: AntiSniping::default(),
            hard_close_at: None,
            second_chance_offers: true,
        });
        book.phase = Phase::Open;
        book
    }

    fn request(who: u128, amount: i64, max: Option<i64>, key: String) -> BidRequest {
        BidRequest {
            bidder_id: Uuid::from_u128(who),
            amount,
            max_amount: max,
            currency: None,
            idempotency_key: key,
        }
    }

    proptest! {
        #[test]
        fn the_floor_never_refuses_a_bid_the_rules_would_accept(
            bids in proptest::collection::vec((2u128..6, 1_000i64..60_000, proptest::option::of(0i64..20_000)), 0..25),
            reserve in proptest::option::of(2_000i64..50_000),
            buy_now in proptest::option::of(3_000i64..80_000),
            probes in proptest::collection::vec((2u128..6, 1i64..90_000, proptest::option::of(0i64..20_000)), 1..20),
        ) {
            let mut book = book(reserve, buy_now);
            let at = book.terms.starts_at + chrono::Duration::minutes(1);
            for (i, (who, amount, extra)) in bids.into_iter().enumerate() {
                let _ = book.place(&request(who, amount, extra.map(|e| amount + e), format!("b{i}")), at);
            }
            let lane = Lane::default();
            lane.learn(&LiveDelta {
                revision: 1,
                view: view_of(Uuid::nil(), &book, None, None, 0),
                bids: Vec::new(),
                events: Vec::new(),
                rules: book.rules,
            });
            for (i, (who, amount, extra)) in probes.into_iter().enumerate() {
                let probe = request(who, amount, extra.map(|e| amount + e), format!("p{i}"));
                if lane.hopeless(&probe).is_some() {
                    let mut trial = book.clone();
                    prop_assert!(trial.place(&probe, at).is_err(), "refused early but valid: {:?}", probe);
                }
            }
        }
    }

    /// Queues `n` bids on `lane` as `place` does.
    fn queue(lane: &Lane, n: usize) {
        for i in 0..n {
            let (reply, _) = oneshot::channel();
            let bid = PlaceBid {
                bidder_id: Uuid::from_u128(2),
                amount: 1_000,
                max_amount: None,
                currency: None,
                idempotency_key: format!("k{i}"),
            };
            lane.queue.lock().unwrap().push_back(Queued { bid, reply });
            lane.arrived.notify_one();
        }
    }

    #[tokio::test]
    async fn the_gather_ends_as_soon_as_the_last_batchs_bidders_are_back() {
        let lane = Arc::new(Lane::default());
        queue(&lane, 1);
        let back = lane.clone();
        tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                queue(&back, 1);
            }
        });
        let started = std::time::Instant::now();
        assert!(lane.gather(lane.queued(), 3, Duration::from_secs(30)).await);
        assert_eq!(lane.queued(), 4);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn the_gather_waits_at_most_its_setting_for_bidders_who_do_not_come() {
        let lane = Lane::default();
        queue(&lane, 2);
        let started = std::time::Instant::now();
        assert!(
            !lane
                .gather(lane.queued(), 5, Duration::from_millis(50))
                .await
        );
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(50), "{waited:?}");
        assert!(waited < Duration::from_secs(10), "{waited:?}");
        assert_eq!(lane.queued(), 2);
    }

    #[test]
    fn a_bid_at_the_buy_now_price_below_the_minimum_still_goes_through() {
        // Reserve 9,900, buy-now 10,000, price 9,800: the minimum (10,050)
        // is above the buy-now price, which still buys the lot.
        let mut book = book(Some(9_900), Some(10_000));
        let at = book.terms.starts_at + chrono::Duration::minutes(1);
        book.place(&request(2, 9_800, None, "a".into()), at)
            .unwrap();
        let lane = Lane::default();
        lane.learn(&LiveDelta {
            revision: 1,
            view: view_of(Uuid::nil(), &book, None, None, 0),
            bids: Vec::new(),
            events: Vec::new(),
            rules: book.rules,
        });
        let buy = request(3, 10_000, None, "b".into());
        assert_eq!(book.minimum_bid(), 10_050);
        assert!(lane.hopeless(&buy).is_none());
        assert!(book.clone().place(&buy, at).unwrap().0.bought_now);
        assert!(
            lane.hopeless(&request(3, 9_999, None, "c".into()))
                .is_some()
        );
    }
}
