//! A reference model of the bidding rules, written from their description
//! (README "How bidding works") rather than from [`Book`], as plainly as
//! possible; property tests compare the exact price, leader and verdict of
//! the real rules with it after every bid. Bounds would let a wrong price
//! pass (say, the leader's hidden maximum shown as the price); an oracle
//! does not.

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use uuid::Uuid;

use super::{AntiSniping, BidRequest, Book, Currency, Phase, Rejection, Standing, Terms};

/// What the model says a bid comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Said {
    Accepted {
        price: i64,
        leader: Uuid,
        leading: bool,
        bought_now: bool,
    },
    Refused(&'static str),
}

/// One bidder's standing maximum and when it was set (earlier wins a tie).
#[derive(Debug, Clone)]
struct Max {
    bidder: Uuid,
    max: i64,
    since: u64,
}

struct Model {
    seller: Uuid,
    starting: i64,
    reserve: Option<i64>,
    buy_now: Option<i64>,
    fixed_increment: Option<i64>,
    open: bool,
    sold: bool,
    maxes: Vec<Max>,
    price: Option<i64>,
    bids: u64,
    answers: HashMap<String, Said>,
}

impl Model {
    fn new(terms: &Terms) -> Self {
        Self {
            seller: terms.seller_id,
            starting: terms.starting_price,
            reserve: terms.reserve_price,
            buy_now: terms.buy_now_price,
            fixed_increment: terms.min_increment,
            open: false,
            sold: false,
            maxes: Vec::new(),
            price: None,
            bids: 0,
            answers: HashMap::new(),
        }
    }

    /// The increment above a price: fixed, or by band (the README's table).
    fn increment(&self, price: i64) -> i64 {
        if let Some(fixed) = self.fixed_increment {
            return fixed;
        }
        match price {
            p if p < 1_000 => 50,
            p if p < 5_000 => 100,
            p if p < 25_000 => 250,
            p if p < 100_000 => 500,
            p if p < 250_000 => 1_000,
            p if p < 500_000 => 2_500,
            p if p < 1_000_000 => 5_000,
            _ => 10_000,
        }
    }

    fn minimum(&self) -> i64 {
        self.price.map_or(self.starting, |p| p + self.increment(p))
    }

    /// Highest maximum first; the earlier of equal maximums first.
    fn ranking(&self) -> Vec<Max> {
        let mut ranked = self.maxes.clone();
        ranked.sort_by(|a, b| b.max.cmp(&a.max).then(a.since.cmp(&b.since)));
        ranked
    }

    fn leader(&self) -> Option<Uuid> {
        self.ranking().first().map(|m| m.bidder)
    }

    fn reserve_met(&self) -> bool {
        match (self.reserve, self.price) {
            (None, _) => true,
            (Some(reserve), Some(price)) => price >= reserve,
            (Some(_), None) => false,
        }
    }

    fn buy_now_open(&self) -> bool {
        self.buy_now.is_some()
            && match self.reserve {
                Some(_) => !self.reserve_met(),
                None => self.bids == 0,
            }
    }

    fn bid(
        &mut self,
        key: &str,
        bidder: Uuid,
        amount: i64,
        max: Option<i64>,
        right_currency: bool,
    ) -> Said {
        if let Some(said) = self.answers.get(key) {
            return said.clone();
        }
        let said = self.decide(bidder, amount, max, right_currency);
        if matches!(said, Said::Accepted { .. }) {
            self.answers.insert(key.to_owned(), said.clone());
        }
        said
    }

    fn decide(
        &mut self,
        bidder: Uuid,
        amount: i64,
        max: Option<i64>,
        right_currency: bool,
    ) -> Said {
        if !self.open {
            return Said::Refused("auction_not_open");
        }
        if self.sold {
            return Said::Refused("auction_closed");
        }
        if bidder == self.seller {
            return Said::Refused("own_auction");
        }
        if !right_currency {
            return Said::Refused("currency_mismatch");
        }
        let max = max.unwrap_or(amount);
        let sane = |a: i64| (1..=1_000_000_000_000).contains(&a);
        if !sane(amount) || !sane(max) || max < amount {
            return Said::Refused("invalid_amount");
        }
        let buy_now_open = self.buy_now_open();
        self.bids += 1;
        if let Some(buy_now) = self.buy_now.filter(|b| buy_now_open && amount >= *b) {
            self.maxes.retain(|m| m.bidder != bidder);
            self.maxes.push(Max {
                bidder,
                max: max.max(buy_now),
                since: self.bids,
            });
            self.price = Some(buy_now);
            self.sold = true;
            return Said::Accepted {
                price: buy_now,
                leader: bidder,
                leading: true,
                bought_now: true,
            };
        }
        let minimum = self.minimum();
        if self.leader() == Some(bidder) {
            let mine = self
                .maxes
                .iter()
                .find(|m| m.bidder == bidder)
                .map_or(0, |m| m.max);
            if amount < minimum {
                self.bids -= 1;
                return Said::Refused("bid_too_low");
            }
            if max <= mine {
                self.bids -= 1;
                return Said::Refused("max_not_raised");
            }
            // A leader raising their maximum keeps their place and the price.
            if let Some(entry) = self.maxes.iter_mut().find(|m| m.bidder == bidder) {
                entry.max = max;
            }
            if let Some(reserve) = self.reserve.filter(|r| max >= *r) {
                self.price = self.price.map(|p| p.max(reserve));
            }
        } else {
            if amount < minimum {
                self.bids -= 1;
                return Said::Refused("bid_too_low");
            }
            match self.maxes.iter_mut().find(|m| m.bidder == bidder) {
                Some(entry) if max > entry.max => {
                    entry.max = max;
                    entry.since = self.bids;
                }
                Some(_) => {}
                None => self.maxes.push(Max {
                    bidder,
                    max,
                    since: self.bids,
                }),
            }
            let ranked = self.ranking();
            let top = ranked[0].max;
            // The runner-up's maximum plus one increment, no more than the
            // leader's maximum; at least the open amount just bid (no more
            // than the leader's maximum); the reserve once a maximum reaches
            // it; and never lower than before.
            let mut price = match ranked.get(1) {
                None => self.starting,
                Some(second) => (second.max + self.increment(second.max)).min(top),
            };
            price = price.max(amount.min(top));
            if let Some(reserve) = self.reserve.filter(|r| top >= *r) {
                price = price.max(reserve);
            }
            self.price = Some(self.price.map_or(price, |old| old.max(price)));
        }
        let leader = self.leader().expect("a bid makes a leader");
        Said::Accepted {
            price: self.price.expect("a bid makes a price"),
            leader,
            leading: leader == bidder,
            bought_now: false,
        }
    }
}

const SELLER: u128 = 1;

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

/// One step of a generated auction.
#[derive(Debug, Clone)]
enum Step {
    /// A scheduled auction opens.
    Open,
    Bid {
        /// 1 is the seller; 2 to 5 are bidders.
        who: u128,
        amount: i64,
        /// Added to `amount` to make the maximum (often 0: ties).
        extra: Option<i64>,
        /// `Some(i)`: reuse the key of the i-th step (a retry, maybe with
        /// another body).
        retry_of: Option<usize>,
        /// A currency other than the auction's.
        foreign: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => Just(Step::Open),
        20 => (
            1u128..6,
            // Amounts from a few bands, so many bids are close, ties and
            // below-minimum bids are common, and increments change.
            prop_oneof![1_000i64..6_000, 20_000i64..30_000, 90_000i64..110_000],
            proptest::option::of(prop_oneof![Just(0i64), 1i64..3_000, 10_000i64..60_000]),
            proptest::option::weighted(0.15, 0usize..40),
            proptest::bool::weighted(0.05),
        )
            .prop_map(|(who, amount, extra, retry_of, foreign)| Step::Bid {
                who,
                amount,
                extra,
                retry_of,
                foreign,
            }),
    ]
}

proptest! {
    // 512 cases in the suite; `PROPTEST_CASES` runs more.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn the_rules_agree_with_the_reference_model_bid_by_bid(
        steps in proptest::collection::vec(step(), 1..40),
        scheduled in proptest::bool::weighted(0.3),
        reserve in proptest::option::of(prop_oneof![5_000i64..30_000, 95_000i64..120_000]),
        buy_now in proptest::option::weighted(0.3, 25_000i64..150_000),
        fixed_increment in proptest::option::weighted(0.3, 1i64..2_000),
    ) {
        let terms = Terms {
            seller_id: Uuid::from_u128(SELLER),
            currency: Currency::Ngn,
            starting_price: 1_000,
            reserve_price: reserve,
            buy_now_price: buy_now.filter(|b| reserve.is_none_or(|r| *b >= r)),
            min_increment: fixed_increment,
            starts_at: at(0),
            ends_at: at(86_400),
            anti_sniping: AntiSniping::default(),
            hard_close_at: None,
            second_chance_offers: true,
        };
        let mut book = Book::new(terms.clone());
        let mut model = Model::new(&terms);
        if !scheduled {
            book.phase = Phase::Open;
            model.open = true;
        }
        let mut keys = Vec::new();
        for (i, step) in steps.into_iter().enumerate() {
            let Step::Bid { who, amount, extra, retry_of, foreign } = step else {
                if book.phase == Phase::Scheduled {
                    book.phase = Phase::Open;
                }
                model.open = true;
                keys.push(format!("open-{i}"));
                continue;
            };
            let key = retry_of
                .and_then(|j| keys.get(j).cloned())
                .unwrap_or_else(|| format!("key-{i}"));
            keys.push(key.clone());
            let request = BidRequest {
                bidder_id: Uuid::from_u128(who),
                amount,
                max_amount: extra.map(|e| amount + e),
                currency: foreign.then_some(Currency::Usd),
                idempotency_key: key.clone(),
            };
            let said = model.bid(&key, request.bidder_id, amount, request.max_amount, !foreign);
            let got = book.place(&request, at(60 + i64::try_from(i).unwrap()));
            match (&got, &said) {
                (Ok((verdict, _)), Said::Accepted { price, leading, bought_now, .. }) => {
                    prop_assert_eq!(verdict.current_price, *price, "step {}: {:?}", i, request);
                    prop_assert_eq!(verdict.standing == Standing::Leading, *leading, "step {}", i);
                    prop_assert_eq!(verdict.bought_now, *bought_now, "step {}", i);
                }
                (Err(rejection), Said::Refused(code)) => {
                    prop_assert_eq!(rejection.code(), *code, "step {}: {:?}", i, request);
                    if let Rejection::BidTooLow { minimum } = rejection {
                        prop_assert_eq!(*minimum, model.minimum());
                    }
                }
                _ => prop_assert!(false, "step {}: {:?} → rules {:?}, model {:?}", i, request, got, said),
            }
            // After every step, whatever it was, the same public state.
            prop_assert_eq!(book.price, model.price, "price after step {}", i);
            prop_assert_eq!(book.leader, model.leader(), "leader after step {}", i);
            prop_assert_eq!(book.reserve_met(), model.reserve_met());
        }
    }
}

#[test]
fn a_leader_tied_with_the_runner_up_who_raises_their_maximum_keeps_the_price() {
    // Ada and Bola both bid up to 2,000; Ada was first, so she leads at
    // 2,000. Ada raising her maximum must not lift the price against her
    // (the first rules lifted it to 2,100: the oracle found it).
    let terms = Terms {
        seller_id: Uuid::from_u128(SELLER),
        currency: Currency::Ngn,
        starting_price: 1_000,
        reserve_price: None,
        buy_now_price: None,
        min_increment: None,
        starts_at: at(0),
        ends_at: at(86_400),
        anti_sniping: AntiSniping::default(),
        hard_close_at: None,
        second_chance_offers: true,
    };
    let bid = |who: u128, amount: i64, max: i64, key: &str| BidRequest {
        bidder_id: Uuid::from_u128(who),
        amount,
        max_amount: Some(max),
        currency: None,
        idempotency_key: key.into(),
    };
    for (rules, price_after_raise) in [(super::RULES, 2_000), (0, 2_100)] {
        let mut book = Book::new(terms.clone());
        book.rules = rules;
        book.phase = Phase::Open;
        book.place(&bid(2, 1_000, 2_000, "ada"), at(1)).unwrap();
        let (tie, _) = book.place(&bid(3, 1_100, 2_000, "bola"), at(2)).unwrap();
        assert_eq!((tie.standing, tie.current_price), (Standing::Outbid, 2_000));
        let (raise, _) = book
            .place(&bid(2, 2_100, 5_000, "ada-raise"), at(3))
            .unwrap();
        assert_eq!(raise.current_price, price_after_raise, "rules {rules}");
    }
}
