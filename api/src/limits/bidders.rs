//! Each bidder's bid rate in this replica: `governor`'s keyed limiter (a
//! token bucket per bidder, GCRA), so one bidder's flood is refused here,
//! before it costs a database read or a Temporal call, while everyone else
//! bids on.

use std::num::NonZeroU32;

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::NoOpMiddleware,
    state::keyed::DefaultKeyedStateStore,
};
use uuid::Uuid;

/// Bidders remembered before the idle ones (whose bucket has refilled) are
/// forgotten: bounds the limiter's memory.
const KEEP_BUCKETS: usize = 10_000;

/// One bidder's bid rate, read from `gavel`'s flags (their doc comments
/// are the flags' help).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct BidRate {
    /// Bids a second one bidder may keep up (in one process).
    #[arg(id = "bids_per_sec", long = "bids-per-sec", value_name = "BIDS_PER_SEC",
        env = "GAVEL_BIDS_PER_SEC", default_value_t = 5,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub per_sec: u32,
    /// Bids one bidder may place at once after a pause.
    #[arg(id = "bids_burst", long = "bids-burst", value_name = "BIDS_BURST",
        env = "GAVEL_BIDS_BURST", default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub burst: u32,
}

pub struct BidderRates<C: Clock = DefaultClock> {
    limiter: RateLimiter<Uuid, DefaultKeyedStateStore<Uuid>, C, NoOpMiddleware<C::Instant>>,
}

impl std::fmt::Debug for BidderRates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BidderRates")
            .field("bidders", &self.limiter.len())
            .finish()
    }
}

/// `rate` as a quota; a zero is read as one, as the flags' ranges rule out.
fn quota(rate: BidRate) -> Quota {
    let per_sec = NonZeroU32::new(rate.per_sec).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(per_sec).allow_burst(burst)
}

impl BidderRates {
    pub fn new(rate: BidRate) -> Self {
        Self::with_clock(rate, DefaultClock::default())
    }
}

impl<C: Clock> BidderRates<C> {
    fn with_clock(rate: BidRate, clock: C) -> Self {
        Self {
            limiter: RateLimiter::new(quota(rate), DefaultKeyedStateStore::default(), clock),
        }
    }

    /// Takes a token for `bidder`; `Err(secs)` to wait when none is left.
    pub fn take(&self, bidder: Uuid) -> Result<(), u64> {
        if self.limiter.len() > KEEP_BUCKETS {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&bidder).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.limiter.clock().now());
            wait.as_secs_f64().ceil().max(1.0) as u64
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_rate_holds_per_bidder() {
        let clock = FakeRelativeClock::default();
        let rates = BidderRates::with_clock(
            BidRate {
                per_sec: 2,
                burst: 3,
            },
            clock.clone(),
        );
        let (flooder, rival) = (Uuid::new_v4(), Uuid::new_v4());
        for _ in 0..3 {
            rates.take(flooder).unwrap();
        }
        assert_eq!(rates.take(flooder), Err(1));
        rates.take(rival).expect("another bidder is unaffected");
        clock.advance(Duration::from_millis(500));
        rates.take(flooder).expect("a token came back");
        assert!(rates.take(flooder).is_err());
    }
}
