//! Each bidder's bid rate in this replica: a token bucket per bidder, so one
//! bidder's flood is refused here, before it costs a database read or a
//! Temporal call, while everyone else bids on.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use uuid::Uuid;

/// Buckets kept before the full (idle) ones are dropped.
const KEEP_BUCKETS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
pub struct BidRate {
    /// Bids a second one bidder may keep up (`GAVEL_BIDS_PER_SEC`).
    pub per_sec: u32,
    /// Bids one bidder may place at once after a pause.
    pub burst: u32,
}

impl Default for BidRate {
    fn default() -> Self {
        Self {
            per_sec: 5,
            burst: 10,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
pub struct BidderRates {
    rate: BidRate,
    buckets: Mutex<HashMap<Uuid, Bucket>>,
}

impl BidderRates {
    pub fn new(rate: BidRate) -> Self {
        Self {
            rate,
            buckets: Mutex::default(),
        }
    }

    /// Takes a token for `bidder`; `Err(secs)` to wait when none is left.
    pub fn take(&self, bidder: Uuid) -> Result<(), u64> {
        self.take_at(bidder, Instant::now())
    }

    fn take_at(&self, bidder: Uuid, now: Instant) -> Result<(), u64> {
        let burst = f64::from(self.rate.burst.max(1));
        let per_sec = f64::from(self.rate.per_sec.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > KEEP_BUCKETS {
            let refill = Duration::from_secs_f64(burst / per_sec);
            buckets.retain(|_, b| now.duration_since(b.at) < refill);
        }
        let bucket = buckets.entry(bidder).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let earned = now.duration_since(bucket.at).as_secs_f64() * per_sec;
        bucket.tokens = (bucket.tokens + earned).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / per_sec).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_rate_holds_per_bidder() {
        let rates = BidderRates::new(BidRate {
            per_sec: 2,
            burst: 3,
        });
        let (flooder, rival) = (Uuid::new_v4(), Uuid::new_v4());
        let start = Instant::now();
        for _ in 0..3 {
            rates.take_at(flooder, start).unwrap();
        }
        assert_eq!(rates.take_at(flooder, start), Err(1));
        rates
            .take_at(rival, start)
            .expect("another bidder is unaffected");
        let later = start + Duration::from_millis(500);
        rates.take_at(flooder, later).expect("a token came back");
        assert!(rates.take_at(flooder, later).is_err());
    }
}
