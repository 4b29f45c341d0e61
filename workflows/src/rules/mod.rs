//! The bidding rules as pure functions over plain data: no Temporal,
//! no clock, no I/O. The workflow feeds them the workflow time; tests feed them
//! anything, in microseconds.
//!
//! - [`money`]: currencies, amounts, the default increment table.
//! - [`Terms`]: what the seller fixed when creating the auction.
//! - [`Book`]: the live state of the bidding and [`Book::place`], the one door
//!   every bid (signal or update) goes through.
//! - [`strikes`]: when a bidder who did not pay may bid again.

pub mod money;
pub mod strikes;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use money::{
    Currency, INCREMENT_BANDS, MAX_AMOUNT, TOP_INCREMENT, currency_symbol, default_increment,
    display_money, group_thousands, valid_amount,
};

/// Anti-sniping: a bid in the last `window_secs` pushes the end to
/// `bid time + extension_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AntiSniping {
    pub window_secs: u32,
    pub extension_secs: u32,
}

impl Default for AntiSniping {
    fn default() -> Self {
        Self {
            window_secs: 120,
            extension_secs: 120,
        }
    }
}

/// What the seller fixed at creation; never changes during the auction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    pub seller_id: Uuid,
    pub currency: Currency,
    pub starting_price: i64,
    /// Hidden: only whether it is met is public.
    pub reserve_price: Option<i64>,
    pub buy_now_price: Option<i64>,
    /// Fixed increment; `None` uses [`default_increment`].
    pub min_increment: Option<i64>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[serde(default)]
    pub anti_sniping: AntiSniping,
    /// The end never moves past this, whatever the bids.
    pub hard_close_at: Option<DateTime<Utc>>,
    /// Whether the lot may be offered to runners-up when the winner does
    /// not pay (the seller may turn this off).
    #[serde(default = "yes")]
    pub second_chance_offers: bool,
}

fn yes() -> bool {
    true
}

impl Terms {
    pub fn increment_at(&self, price: i64) -> i64 {
        self.min_increment
            .unwrap_or_else(|| default_increment(price))
    }
}

/// The smallest amount the next bid may have: the starting price before the
/// first bid, then the price plus one increment (`min_increment`, else the
/// default table).
pub fn minimum_next_bid(
    price: Option<i64>,
    starting_price: i64,
    min_increment: Option<i64>,
) -> i64 {
    match price {
        None => starting_price,
        Some(price) => {
            price.saturating_add(min_increment.unwrap_or_else(|| default_increment(price)))
        }
    }
}

/// Where the auction is in its life, as far as bidding is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Scheduled,
    Open,
    Closed,
    Cancelled,
}

/// One bid as it reaches the rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidRequest {
    pub bidder_id: Uuid,
    /// The amount bid openly now.
    pub amount: i64,
    /// The proxy ceiling; defaults to `amount`.
    pub max_amount: Option<i64>,
    /// When given, must equal the auction's currency.
    pub currency: Option<Currency>,
    /// Client idempotency key: the same key gets the same verdict.
    pub idempotency_key: String,
}

/// Why a bid was refused. The `code` strings are part of the public API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Rejection {
    #[error("the auction has not opened yet")]
    AuctionNotOpen,
    #[error("the auction is closed")]
    AuctionClosed,
    #[error("the bid must be at least {minimum}")]
    BidTooLow { minimum: i64 },
    #[error("sellers cannot bid on their own auction")]
    OwnAuction,
    #[error("the bid's currency is not the auction's")]
    CurrencyMismatch,
    #[error("amounts must be positive, at most {MAX_AMOUNT}, and max_amount ≥ amount")]
    InvalidAmount,
    #[error("your maximum must be above your current maximum of {current_max}")]
    MaxNotRaised { current_max: i64 },
    /// Only from a hand-sent signal: the API checks keys itself.
    #[error("the idempotency key must be 1 to 256 visible ASCII characters")]
    InvalidIdempotencyKey,
}

impl Rejection {
    /// The stable code (`bid_too_low`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::AuctionNotOpen => "auction_not_open",
            Rejection::AuctionClosed => "auction_closed",
            Rejection::BidTooLow { .. } => "bid_too_low",
            Rejection::OwnAuction => "own_auction",
            Rejection::CurrencyMismatch => "currency_mismatch",
            Rejection::InvalidAmount => "invalid_amount",
            Rejection::MaxNotRaised { .. } => "max_not_raised",
            Rejection::InvalidIdempotencyKey => "invalid_idempotency_key",
        }
    }
}

/// Whether the bidder leads after their bid (stored in `bids.standing`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "snake_case"))]
pub enum Standing {
    Leading,
    Outbid,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The answer to an accepted bid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Sequence number of the bid in this auction (1-based).
    pub seq: u64,
    pub standing: Standing,
    pub current_price: i64,
    pub ends_at: DateTime<Utc>,
    /// The bid moved the end (anti-sniping).
    pub extended: bool,
    /// The bid met the buy-now price and closed the auction.
    pub bought_now: bool,
    pub reserve_met: bool,
    /// The bidder who led before and lost the lead to this bid, if any.
    pub outbid: Option<Uuid>,
}

/// An accepted bid, as recorded in the history and the read model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedBid {
    pub seq: u64,
    pub bidder_id: Uuid,
    pub amount: i64,
    pub max_amount: i64,
    pub at: DateTime<Utc>,
    pub idempotency_key: String,
    /// The visible price right after this bid.
    pub price_after: i64,
}

/// The live state of the bidding. Serializable so a continue-as-new carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Book {
    pub terms: Terms,
    pub phase: Phase,
    pub ends_at: DateTime<Utc>,
    /// Visible price; `None` before the first bid.
    pub price: Option<i64>,
    pub leader: Option<Uuid>,
    /// Each bidder's highest max and the sequence number that set it (ties go
    /// to the earlier).
    pub maxes: BTreeMap<Uuid, (i64, u64)>,
    pub bid_count: u64,
    /// Verdicts by idempotency key, so a retried bid gets the same answer.
    pub verdicts: BTreeMap<String, Verdict>,
    /// The revision of the rules this auction runs under (recorded auctions
    /// keep the rules they ran with; see [`RULES`]).
    #[serde(default)]
    pub rules: u32,
}

/// The rules' revision a new auction gets. 0: the first rules. 1: the
/// leader's own bid (raising their maximum) must reach the minimum too, and
/// never moves the price (under 0 a leader tied with the runner-up who raised
/// their maximum lifted the price by one increment).
pub const RULES: u32 = 1;

impl Book {
    pub fn new(terms: Terms) -> Self {
        Self {
            phase: Phase::Scheduled,
            ends_at: terms.ends_at,
            price: None,
            leader: None,
            maxes: BTreeMap::new(),
            bid_count: 0,
            verdicts: BTreeMap::new(),
            rules: RULES,
            terms,
        }
    }

    pub fn reserve_met(&self) -> bool {
        match (self.terms.reserve_price, self.price) {
            (None, _) => true,
            (Some(reserve), Some(price)) => price >= reserve,
            (Some(_), None) => false,
        }
    }

    /// Buy-now is offered until a bid meets the reserve (or, without a reserve,
    /// until the first bid).
    pub fn buy_now_available(&self) -> bool {
        self.terms.buy_now_price.is_some()
            && self.phase == Phase::Open
            && match self.terms.reserve_price {
                Some(_) => !self.reserve_met(),
                None => self.bid_count == 0,
            }
    }

    /// Whether a bid of `amount` takes the buy-now offer.
    fn buys_now(&self, amount: i64) -> bool {
        self.buy_now_available() && self.terms.buy_now_price.is_some_and(|b| amount >= b)
    }

    /// The smallest `amount` a new bid may have now.
    pub fn minimum_bid(&self) -> i64 {
        minimum_next_bid(
            self.price,
            self.terms.starting_price,
            self.terms.min_increment,
        )
    }

    fn leader_max(&self) -> Option<(Uuid, i64, u64)> {
        let leader = self.leader?;
        let (max, seq) = *self.maxes.get(&leader)?;
        Some((leader, max, seq))
    }

    /// Checks a bid without changing anything (the update validator's job).
    /// Without `at` (a validator cannot read workflow time) the end is not
    /// checked; [`Book::place`] checks it again with the time.
    pub fn check(&self, bid: &BidRequest, at: Option<DateTime<Utc>>) -> Result<(), Rejection> {
        if self.verdicts.contains_key(&bid.idempotency_key) {
            return Ok(());
        }
        if !crate::text::valid_key(&bid.idempotency_key) {
            return Err(Rejection::InvalidIdempotencyKey);
        }
        match self.phase {
            Phase::Scheduled => return Err(Rejection::AuctionNotOpen),
            Phase::Closed | Phase::Cancelled => return Err(Rejection::AuctionClosed),
            Phase::Open if at.is_some_and(|at| at >= self.ends_at) => {
                return Err(Rejection::AuctionClosed);
            }
            Phase::Open => {}
        }
        if bid.bidder_id == self.terms.seller_id {
            return Err(Rejection::OwnAuction);
        }
        if bid.currency.is_some_and(|c| c != self.terms.currency) {
            return Err(Rejection::CurrencyMismatch);
        }
        let max = bid.max_amount.unwrap_or(bid.amount);
        if !valid_amount(bid.amount) || !valid_amount(max) || max < bid.amount {
            return Err(Rejection::InvalidAmount);
        }
        if self.buys_now(bid.amount) {
            return Ok(());
        }
        let minimum = self.minimum_bid();
        if let Some((leader, current_max, _)) = self.leader_max()
            && leader == bid.bidder_id
        {
            if self.rules >= 1 && bid.amount < minimum {
                return Err(Rejection::BidTooLow { minimum });
            }
            return if max > current_max {
                Ok(())
            } else {
                Err(Rejection::MaxNotRaised { current_max })
            };
        }
        if bid.amount < minimum {
            return Err(Rejection::BidTooLow { minimum });
        }
        Ok(())
    }

    /// Checks a batch without changing anything: `Err` with every bid's
    /// rejection when all of them would be refused, applied in order (a
    /// validator cannot read workflow time, so the end is left to
    /// [`Book::place`] as in [`Book::check`]).
    pub fn check_batch(&self, bids: &[BidRequest]) -> Result<(), Vec<Rejection>> {
        let mut trial = self.clone();
        let before_end = trial.ends_at - Duration::microseconds(1);
        let mut rejections = Vec::with_capacity(bids.len());
        for bid in bids {
            match trial.place(bid, before_end) {
                Ok(_) => return Ok(()),
                Err(rejection) => rejections.push(rejection),
            }
        }
        Err(rejections)
    }

    /// Applies a bid at time `at`: the verdict, or why it was refused (and then
    /// nothing changed). A known idempotency key returns its first verdict.
    pub fn place(
        &mut self,
        bid: &BidRequest,
        at: DateTime<Utc>,
    ) -> Result<(Verdict, Option<AcceptedBid>), Rejection> {
        if let Some(verdict) = self.verdicts.get(&bid.idempotency_key) {
            return Ok((verdict.clone(), None));
        }
        self.check(bid, Some(at))?;
        let max = bid.max_amount.unwrap_or(bid.amount);
        let seq = self.bid_count + 1;
        let previous_leader = self.leader;

        let bought_now = self.buys_now(bid.amount);
        if bought_now {
            let price = self.terms.buy_now_price.unwrap_or(bid.amount);
            self.maxes.insert(bid.bidder_id, (price.max(max), seq));
            self.leader = Some(bid.bidder_id);
            self.price = Some(price);
            self.phase = Phase::Closed;
        } else {
            self.apply_proxy(bid.bidder_id, bid.amount, max, seq);
        }
        self.bid_count = seq;

        let extended = !bought_now && self.extend_for_bid_at(at);
        let price = self.price.unwrap_or(bid.amount);
        let standing = if self.leader == Some(bid.bidder_id) {
            Standing::Leading
        } else {
            Standing::Outbid
        };
        let outbid = previous_leader.filter(|p| Some(*p) != self.leader);
        let verdict = Verdict {
            seq,
            standing,
            current_price: price,
            ends_at: self.ends_at,
            extended,
            bought_now,
            reserve_met: self.reserve_met(),
            outbid,
        };
        self.verdicts
            .insert(bid.idempotency_key.clone(), verdict.clone());
        let accepted = AcceptedBid {
            seq,
            bidder_id: bid.bidder_id,
            amount: bid.amount,
            max_amount: max,
            at,
            idempotency_key: bid.idempotency_key.clone(),
            price_after: price,
        };
        Ok((verdict, Some(accepted)))
    }

    /// The next bidder to offer the lot to when earlier buyers did not pay:
    /// the highest maximum among bidders not in `offered` (earlier wins a
    /// tie), at that maximum, provided it meets the reserve.
    pub fn next_offer(&self, offered: &[Uuid]) -> Option<(Uuid, i64)> {
        self.maxes
            .iter()
            .filter(|(bidder, _)| !offered.contains(bidder))
            .map(|(bidder, (max, seq))| (*bidder, *max, *seq))
            .max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)))
            .filter(|(_, max, _)| self.terms.reserve_price.is_none_or(|r| *max >= r))
            .map(|(bidder, max, _)| (bidder, max))
    }

    /// Forgets the verdicts of all but the last `keep` bids, so the state a
    /// continue-as-new carries stays small. Older retries are answered from the
    /// read model, where every accepted bid keeps its verdict.
    pub fn forget_old_verdicts(&mut self, keep: u64) {
        let oldest_kept = self.bid_count.saturating_sub(keep);
        self.verdicts.retain(|_, verdict| verdict.seq > oldest_kept);
    }

    /// eBay-style proxy bidding: the leader is the highest max (earlier wins a
    /// tie); the price is the runner-up max plus one increment, capped at the
    /// leader's max, never below an open amount bid, jumping to the reserve
    /// when the leader's max reaches it, and never going down.
    fn apply_proxy(&mut self, bidder: Uuid, amount: i64, max: i64, seq: u64) {
        let own_raise = self.leader == Some(bidder);
        let entry = self.maxes.entry(bidder).or_insert((max, seq));
        if max > entry.0 {
            // A raised max keeps its original priority only for the leader,
            // whose lead it is; anyone else's new max counts from now.
            *entry = (max, if own_raise { entry.1 } else { seq });
        }

        let mut ranked: Vec<(Uuid, i64, u64)> =
            self.maxes.iter().map(|(b, (m, s))| (*b, *m, *s)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
        let (leader, leader_max, _) = ranked[0];
        let runner_up = ranked.get(1).map(|r| r.1);

        let old_price = self.price;
        let mut price = match (runner_up, old_price) {
            // The leader raising their own maximum leaves the price where it
            // was (but for the reserve jump below).
            (_, Some(old)) if own_raise && self.rules >= 1 => old,
            (None, _) => self.terms.starting_price,
            (Some(second), _) => second
                .saturating_add(self.terms.increment_at(second))
                .min(leader_max),
        };
        if !own_raise {
            // The open amount of a new bid is visible at once (capped by the
            // leader's max when this bid lost).
            price = price.max(amount.min(leader_max));
        }
        if let Some(reserve) = self.terms.reserve_price
            && leader_max >= reserve
        {
            price = price.max(reserve);
        }
        if let Some(old) = old_price {
            price = price.max(old);
        }
        self.leader = Some(leader);
        self.price = Some(price);
    }

    /// Moves the end for a bid at `at` inside the anti-sniping window; returns
    /// whether it moved. The end never moves backwards or past the hard close.
    fn extend_for_bid_at(&mut self, at: DateTime<Utc>) -> bool {
        let rule = self.terms.anti_sniping;
        let window = Duration::seconds(i64::from(rule.window_secs));
        if rule.window_secs == 0 || at < self.ends_at - window {
            return false;
        }
        let mut proposed = at + Duration::seconds(i64::from(rule.extension_secs));
        if let Some(hard) = self.terms.hard_close_at {
            proposed = proposed.min(hard);
        }
        if proposed > self.ends_at {
            self.ends_at = proposed;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod oracle;
#[cfg(test)]
mod tests;
