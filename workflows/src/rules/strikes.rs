//! Strikes: a winner who lets a payment window pass gets one. A bidder with
//! `limit` strikes younger than `ttl` may not bid until enough of them age
//! out. Pure, like the bidding rules.

use chrono::{DateTime, Duration, Utc};

/// When a bidder with these strikes may bid again, or `None` if they may
/// bid now. `strikes` are the times strikes were given (any order); cleared
/// ones must already be left out.
pub fn suspended_until(
    strikes: &[DateTime<Utc>],
    limit: u32,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if limit == 0 {
        return None;
    }
    let mut live: Vec<DateTime<Utc>> = strikes
        .iter()
        .copied()
        .filter(|at| *at + ttl > now)
        .collect();
    let limit = usize::try_from(limit).expect("a u32 fits a usize");
    if live.len() < limit {
        return None;
    }
    // Newest first: bidding resumes when the limit-th newest strike ages out
    // (then fewer than `limit` remain).
    live.sort_unstable_by(|a, b| b.cmp(a));
    Some(live[limit - 1] + ttl)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn day(n: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).unwrap() + Duration::days(n)
    }

    #[test]
    fn fewer_strikes_than_the_limit_never_suspend() {
        assert_eq!(
            suspended_until(&[day(0)], 2, Duration::days(365), day(1)),
            None
        );
        assert_eq!(suspended_until(&[], 2, Duration::days(365), day(1)), None);
    }

    #[test]
    fn the_limit_suspends_until_the_limit_th_newest_ages_out() {
        let ttl = Duration::days(365);
        assert_eq!(
            suspended_until(&[day(10), day(0)], 2, ttl, day(20)),
            Some(day(365))
        );
        // Three strikes: the oldest ageing out leaves two, still the limit.
        assert_eq!(
            suspended_until(&[day(0), day(10), day(20)], 2, ttl, day(30)),
            Some(day(375))
        );
    }

    #[test]
    fn old_strikes_do_not_count() {
        let ttl = Duration::days(30);
        assert_eq!(suspended_until(&[day(0), day(40)], 2, ttl, day(41)), None);
        assert_eq!(
            suspended_until(&[day(0), day(10)], 2, ttl, day(29)),
            Some(day(30))
        );
        assert_eq!(suspended_until(&[day(0), day(10)], 2, ttl, day(30)), None);
    }

    #[test]
    fn a_limit_of_zero_turns_strikes_off() {
        assert_eq!(
            suspended_until(&[day(0), day(1)], 0, Duration::days(1), day(1)),
            None
        );
    }
}
