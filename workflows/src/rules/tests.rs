//! Unit tests for each rule and property tests for the invariants.

use chrono::TimeZone;
use proptest::prelude::*;

use super::*;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

const SELLER: Uuid = Uuid::from_u128(1);
const ALICE: Uuid = Uuid::from_u128(2);
const BOB: Uuid = Uuid::from_u128(3);
const CAROL: Uuid = Uuid::from_u128(4);

fn terms() -> Terms {
    Terms {
        seller_id: SELLER,
        currency: Currency::Ngn,
        starting_price: 10_000,
        reserve_price: None,
        buy_now_price: None,
        min_increment: Some(500),
        starts_at: t(0),
        ends_at: t(3_600),
        anti_sniping: AntiSniping::default(),
        hard_close_at: None,
        second_chance_offers: true,
    }
}

fn open(terms: Terms) -> Book {
    let mut book = Book::new(terms);
    book.phase = Phase::Open;
    book
}

static KEY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn bid(bidder: Uuid, amount: i64, max: Option<i64>) -> BidRequest {
    BidRequest {
        bidder_id: bidder,
        amount,
        max_amount: max,
        currency: None,
        idempotency_key: format!(
            "k{}",
            KEY.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
    }
}

fn place(book: &mut Book, b: BidRequest, at: i64) -> Result<Verdict, Rejection> {
    book.place(&b, t(at)).map(|(v, _)| v)
}

#[test]
fn the_first_bid_must_reach_the_starting_price() {
    let mut book = open(terms());
    assert_eq!(
        place(&mut book, bid(ALICE, 9_999, None), 10),
        Err(Rejection::BidTooLow { minimum: 10_000 })
    );
    let v = place(&mut book, bid(ALICE, 10_000, None), 10).unwrap();
    assert_eq!(
        (v.standing, v.current_price, v.seq),
        (Standing::Leading, 10_000, 1)
    );
}

#[test]
fn later_bids_must_beat_the_price_by_the_increment() {
    let mut book = open(terms());
    place(&mut book, bid(ALICE, 10_000, None), 10).unwrap();
    assert_eq!(
        place(&mut book, bid(BOB, 10_400, None), 20),
        Err(Rejection::BidTooLow { minimum: 10_500 })
    );
    let v = place(&mut book, bid(BOB, 10_500, None), 20).unwrap();
    assert_eq!(
        (v.standing, v.current_price, v.outbid),
        (Standing::Leading, 10_500, Some(ALICE))
    );
}

#[test]
fn the_default_increment_table_applies_without_a_fixed_increment() {
    let mut book = open(Terms {
        min_increment: None,
        ..terms()
    });
    place(&mut book, bid(ALICE, 10_000, None), 10).unwrap();
    assert_eq!(book.minimum_bid(), 10_000 + default_increment(10_000));
}

#[test]
fn proxy_bidding_shows_the_second_max_plus_one_increment() {
    let mut book = open(terms());
    let v = place(&mut book, bid(ALICE, 10_000, Some(20_000)), 10).unwrap();
    assert_eq!((v.standing, v.current_price), (Standing::Leading, 10_000));
    let v = place(&mut book, bid(BOB, 12_000, Some(15_000)), 20).unwrap();
    assert_eq!((v.standing, v.current_price), (Standing::Outbid, 15_500));
    assert_eq!(book.leader, Some(ALICE));
    let v = place(&mut book, bid(CAROL, 16_000, Some(30_000)), 30).unwrap();
    assert_eq!(
        (v.standing, v.current_price, v.outbid),
        (Standing::Leading, 20_500, Some(ALICE))
    );
}

#[test]
fn the_price_is_capped_at_the_leaders_max() {
    let mut book = open(terms());
    place(&mut book, bid(ALICE, 10_000, Some(15_200)), 10).unwrap();
    let v = place(&mut book, bid(BOB, 15_000, None), 20).unwrap();
    assert_eq!((v.standing, v.current_price), (Standing::Outbid, 15_200));
}

#[test]
fn equal_maxes_go_to_the_earlier_bid() {
    let mut book = open(terms());
    place(&mut book, bid(ALICE, 10_000, Some(20_000)), 10).unwrap();
    let v = place(&mut book, bid(BOB, 20_000, None), 20).unwrap();
    assert_eq!((v.standing, v.current_price), (Standing::Outbid, 20_000));
    assert_eq!(book.leader, Some(ALICE));
}

#[test]
fn raising_your_own_max_never_raises_the_price_against_you() {
    let mut book = open(terms());
    place(&mut book, bid(ALICE, 10_000, Some(12_000)), 10).unwrap();
    place(&mut book, bid(BOB, 11_000, None), 20).unwrap();
    let before = book.price;
    let v = place(&mut book, bid(ALICE, 12_000, Some(50_000)), 30).unwrap();
    assert_eq!(
        (v.standing, Some(v.current_price)),
        (Standing::Leading, before)
    );
    assert_eq!(
        place(&mut book, bid(ALICE, 12_000, Some(40_000)), 40),
        Err(Rejection::MaxNotRaised {
            current_max: 50_000
        })
    );
}

#[test]
fn the_leader_too_must_bid_at_least_the_minimum() {
    let mut book = open(terms());
    place(&mut book, bid(ALICE, 10_000, Some(12_000)), 10).unwrap();
    place(&mut book, bid(BOB, 11_000, None), 20).unwrap();
    assert_eq!(
        place(&mut book, bid(ALICE, 11_500, Some(50_000)), 30),
        Err(Rejection::BidTooLow { minimum: 12_000 })
    );
    // Auctions recorded under the first rules keep them.
    book.rules = 0;
    assert!(place(&mut book, bid(ALICE, 11_500, Some(50_000)), 30).is_ok());
}

#[test]
fn a_book_recorded_before_rule_revisions_runs_the_first_rules() {
    let mut value = serde_json::to_value(open(terms())).unwrap();
    value.as_object_mut().unwrap().remove("rules");
    let book: Book = serde_json::from_value(value).unwrap();
    assert_eq!(book.rules, 0);
    assert_eq!(Book::new(terms()).rules, RULES);
}

#[test]
fn the_price_jumps_to_the_reserve_once_a_max_reaches_it() {
    let mut book = open(Terms {
        reserve_price: Some(50_000),
        ..terms()
    });
    let v = place(&mut book, bid(ALICE, 10_000, Some(30_000)), 10).unwrap();
    assert!(!v.reserve_met);
    assert_eq!(v.current_price, 10_000);
    let v = place(&mut book, bid(BOB, 11_000, Some(60_000)), 20).unwrap();
    assert!(v.reserve_met);
    assert_eq!((v.standing, v.current_price), (Standing::Leading, 50_000));
}

#[test]
fn buy_now_closes_at_once_at_the_buy_now_price() {
    let mut book = open(Terms {
        buy_now_price: Some(100_000),
        ..terms()
    });
    assert!(book.buy_now_available());
    let v = place(&mut book, bid(ALICE, 120_000, None), 10).unwrap();
    assert!(v.bought_now);
    assert_eq!(
        (v.current_price, book.phase, book.leader),
        (100_000, Phase::Closed, Some(ALICE))
    );
    assert_eq!(
        place(&mut book, bid(BOB, 200_000, None), 11),
        Err(Rejection::AuctionClosed)
    );
}

#[test]
fn buy_now_is_withdrawn_after_the_first_bid_without_a_reserve() {
    let mut book = open(Terms {
        buy_now_price: Some(100_000),
        ..terms()
    });
    place(&mut book, bid(ALICE, 10_000, None), 10).unwrap();
    assert!(!book.buy_now_available());
    let v = place(&mut book, bid(BOB, 100_000, None), 20).unwrap();
    assert!(!v.bought_now, "an ordinary bid now");
    assert_eq!(book.phase, Phase::Open);
}

#[test]
fn buy_now_stays_until_the_reserve_is_met() {
    let mut book = open(Terms {
        buy_now_price: Some(100_000),
        reserve_price: Some(50_000),
        ..terms()
    });
    place(&mut book, bid(ALICE, 10_000, None), 10).unwrap();
    assert!(book.buy_now_available());
    place(&mut book, bid(BOB, 50_000, None), 20).unwrap();
    assert!(!book.buy_now_available());
}

#[test]
fn a_late_bid_extends_the_end_but_never_past_the_hard_close() {
    let mut book = open(Terms {
        hard_close_at: Some(t(3_700)),
        ..terms()
    });
    let v = place(&mut book, bid(ALICE, 10_000, None), 1_000).unwrap();
    assert!(!v.extended);
    assert_eq!(v.ends_at, t(3_600));
    let v = place(&mut book, bid(BOB, 10_500, None), 3_550).unwrap();
    assert!(v.extended);
    assert_eq!(v.ends_at, t(3_670));
    let v = place(&mut book, bid(ALICE, 11_000, None), 3_660).unwrap();
    assert_eq!(v.ends_at, t(3_700), "capped at the hard close");
    assert_eq!(
        place(&mut book, bid(BOB, 20_000, None), 3_700),
        Err(Rejection::AuctionClosed)
    );
}

#[test]
fn sellers_wrong_currencies_and_bad_amounts_are_refused() {
    let mut book = open(terms());
    assert_eq!(
        place(&mut book, bid(SELLER, 10_000, None), 10),
        Err(Rejection::OwnAuction)
    );
    let mut usd = bid(ALICE, 10_000, None);
    usd.currency = Some(Currency::Usd);
    assert_eq!(place(&mut book, usd, 10), Err(Rejection::CurrencyMismatch));
    for (amount, max) in [
        (0, None),
        (-1, None),
        (MAX_AMOUNT + 1, None),
        (20_000, Some(10_000)),
    ] {
        assert_eq!(
            place(&mut book, bid(ALICE, amount, max), 10),
            Err(Rejection::InvalidAmount)
        );
    }
    assert_eq!(book.bid_count, 0, "refusals change nothing");
}

#[test]
fn no_bid_is_accepted_outside_open() {
    let mut book = Book::new(terms());
    assert_eq!(
        place(&mut book, bid(ALICE, 10_000, None), 10),
        Err(Rejection::AuctionNotOpen)
    );
    book.phase = Phase::Cancelled;
    assert_eq!(
        place(&mut book, bid(ALICE, 10_000, None), 10),
        Err(Rejection::AuctionClosed)
    );
}

#[test]
fn the_same_idempotency_key_gets_the_same_verdict() {
    let mut book = open(terms());
    let b = bid(ALICE, 10_000, None);
    let (first, accepted) = book.place(&b, t(10)).unwrap();
    assert!(accepted.is_some());
    place(&mut book, bid(BOB, 12_000, None), 20).unwrap();
    let (again, accepted) = book.place(&b, t(30)).unwrap();
    assert_eq!(first, again);
    assert!(accepted.is_none(), "a retry is not a second bid");
    assert_eq!(book.bid_count, 2);
}

#[test]
fn rejection_codes_are_stable() {
    assert_eq!(Rejection::BidTooLow { minimum: 1 }.code(), "bid_too_low");
    assert_eq!(Rejection::AuctionNotOpen.code(), "auction_not_open");
    assert_eq!(
        serde_json::to_value(Rejection::BidTooLow { minimum: 7 }).unwrap(),
        serde_json::json!({"code": "bid_too_low", "minimum": 7})
    );
}

fn arb_bid() -> impl Strategy<Value = (u128, i64, Option<i64>, i64)> {
    (
        2u128..6,
        1i64..200_000,
        proptest::option::of(0i64..100_000),
        0i64..4_000,
    )
}

proptest! {
    #[test]
    fn invariants_hold_for_any_bid_sequence(
        bids in proptest::collection::vec(arb_bid(), 1..60),
        reserve in proptest::option::of(5_000i64..80_000),
        buy_now in proptest::option::of(50_000i64..150_000),
        fixed_increment in proptest::option::of(1i64..2_000),
        hard_close in proptest::option::of(3_600i64..4_000),
    ) {
        let mut book = open(Terms {
            reserve_price: reserve,
            buy_now_price: buy_now,
            min_increment: fixed_increment,
            hard_close_at: hard_close.map(t),
            ..terms()
        });
        let mut now = 0;
        for (who, amount, extra, dt) in bids {
            now = (now + dt / 10).min(5_000);
            let before = book.clone();
            let request = bid(Uuid::from_u128(who), amount, extra.map(|e| amount + e));
            match book.place(&request, t(now)) {
                Ok((verdict, accepted)) => {
                    let accepted = accepted.expect("a new key");
                    // No accepted bid below the minimum (buy-now and a leader
                    // raising their own max aside).
                    let own_raise = before.leader == Some(request.bidder_id);
                    prop_assert!(verdict.bought_now || own_raise || amount >= before.minimum_bid());
                    // The price never decreases, and a new bid (not a leader
                    // raising their own max) shows at least its open amount.
                    prop_assert!(book.price >= before.price);
                    if !own_raise {
                        prop_assert!(verdict.current_price >= amount.min(before.terms.buy_now_price.unwrap_or(i64::MAX)));
                    }
                    prop_assert_eq!(accepted.price_after, verdict.current_price);
                    // The leader holds the highest max (earliest on ties).
                    let leader = book.leader.expect("a leader after a bid");
                    let (lmax, lseq) = book.maxes[&leader];
                    for (max, seq) in book.maxes.values() {
                        prop_assert!(lmax > *max || (lmax == *max && lseq <= *seq));
                    }
                    // The price never exceeds the leader's max.
                    prop_assert!(book.price.unwrap() <= lmax);
                    // The end never moves backwards or past the hard close.
                    prop_assert!(book.ends_at >= before.ends_at);
                    if let Some(h) = book.terms.hard_close_at {
                        prop_assert!(book.ends_at <= h.max(before.terms.ends_at));
                    }
                }
                Err(_) => prop_assert_eq!(&book, &before, "a refusal changes nothing"),
            }
        }
    }
}

#[test]
fn a_check_without_time_leaves_the_end_to_place() {
    let mut book = open(terms());
    let late = bid(ALICE, 10_000, None);
    // The validator cannot read the clock: it lets the bid through…
    assert_eq!(book.check(&late, None), Ok(()));
    // …and the handler, with the time, refuses it.
    assert_eq!(
        book.place(&late, t(3_600)).map(|(v, _)| v),
        Err(Rejection::AuctionClosed)
    );
    assert_eq!(book.bid_count, 0);
}

#[test]
fn forgetting_old_verdicts_keeps_the_latest() {
    let mut book = open(terms());
    let keys: Vec<String> = (0..5)
        .map(|i| {
            let b = bid(
                if i % 2 == 0 { ALICE } else { BOB },
                10_000 + 1_000 * i,
                None,
            );
            place(&mut book, b.clone(), 10).unwrap();
            b.idempotency_key
        })
        .collect();
    book.forget_old_verdicts(2);
    let kept: Vec<&String> = keys
        .iter()
        .filter(|k| book.verdicts.contains_key(*k))
        .collect();
    assert_eq!(kept, [&keys[3], &keys[4]]);
    assert_eq!(book.bid_count, 5, "only verdicts are forgotten, not bids");
}

#[test]
fn second_chance_offers_go_down_the_maximums_while_they_meet_the_reserve() {
    let mut with_reserve = terms();
    with_reserve.reserve_price = Some(12_000);
    let mut book = open(with_reserve);
    place(&mut book, bid(ALICE, 10_000, Some(11_000)), 10).unwrap();
    place(&mut book, bid(BOB, 12_000, Some(15_000)), 11).unwrap();
    place(&mut book, bid(CAROL, 12_500, Some(13_000)), 12).unwrap();
    assert_eq!(book.leader, Some(BOB));
    assert_eq!(book.next_offer(&[BOB]), Some((CAROL, 13_000)));
    // Alice's 11,000 is below the reserve: no offer.
    assert_eq!(book.next_offer(&[BOB, CAROL]), None);
}
