//! The house's commission as the settings give it and each auction carries
//! it: a share in basis points (read and written as a percent such as
//! `12.5`, never through a float) and a minimum in minor units.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Hundredths of a percent: 1000 is 10 %, 1250 is 12.5 %; 0 to 10,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BasisPoints(u16);

impl BasisPoints {
    /// All of it (100 %).
    pub const MAX: u16 = 10_000;

    /// `bps` when it is 0 to 10,000.
    pub fn new(bps: u16) -> Option<Self> {
        (bps <= Self::MAX).then_some(Self(bps))
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

/// Percent text as people write it: `10`, `12.5`, `0.25`, `100` (digits,
/// at most two decimals, 0 to 100). Parsed digit by digit, so `12.5` is
/// exactly 1250 and nothing rounds.
impl FromStr for BasisPoints {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let refused =
            || format!("{text:?} is not a percent from 0 to 100 with at most two decimals");
        let text = text.trim();
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) if !fraction.is_empty() => (whole, fraction),
            Some(_) => return Err(refused()),
            None => (text, ""),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        // Three digits at most before the point: anything longer is over 100
        // (or zeros nobody writes) and could not overflow below.
        if !digits(whole) || whole.len() > 3 || fraction.len() > 2 {
            return Err(refused());
        }
        if !fraction.is_empty() && !digits(fraction) {
            return Err(refused());
        }
        let whole: u16 = whole.parse().map_err(|_| refused())?;
        let hundredths: u16 = format!("{fraction:0<2}").parse().map_err(|_| refused())?;
        whole
            .checked_mul(100)
            .and_then(|bps| bps.checked_add(hundredths))
            .and_then(Self::new)
            .ok_or_else(refused)
    }
}

/// The percent again, as short as it goes: 1000 → `10`, 1250 → `12.5`,
/// 1205 → `12.05` (what [`FromStr`] reads back the same).
impl fmt::Display for BasisPoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, hundredths) = (self.0 / 100, self.0 % 100);
        match hundredths {
            0 => write!(f, "{whole}"),
            h if h % 10 == 0 => write!(f, "{whole}.{}", h / 10),
            h => write!(f, "{whole}.{h:02}"),
        }
    }
}

/// What Gavel keeps of a sale: `rate` of what the buyer paid, at least
/// `minimum` (never more than the sale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commission {
    pub rate: BasisPoints,
    /// Minor units of the auction's currency.
    pub minimum: i64,
}

impl Commission {
    /// The columns an auction carries (`auctions.commission_*`).
    pub fn columns(self) -> gavel_store::auctions::CommissionColumns {
        gavel_store::auctions::CommissionColumns {
            bps: i32::from(self.rate.get()),
            min: self.minimum,
        }
    }
}

/// An auction's commission, fixed when it was listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommissionResponse {
    /// The share of what the buyer pays, as a percent with at most two
    /// decimals (`"10"`, `"12.5"`).
    #[schema(example = "10")]
    pub percent: String,
    /// The least Gavel keeps, in minor units (never more than the sale).
    pub minimum: i64,
}

impl CommissionResponse {
    /// From an auction's columns; a share the columns' check allows is always
    /// a percent (shown as basis points otherwise, never hidden).
    pub fn of(bps: i32, minimum: i64) -> Self {
        let percent = u16::try_from(bps)
            .ok()
            .and_then(BasisPoints::new)
            .map_or_else(|| format!("{bps}bp"), |rate| rate.to_string());
        Self { percent, minimum }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bps(text: &str) -> Result<u16, String> {
        text.parse::<BasisPoints>().map(BasisPoints::get)
    }

    #[test]
    fn percents_read_as_basis_points_exactly() {
        assert_eq!(bps("10"), Ok(1000));
        assert_eq!(bps("12.5"), Ok(1250));
        assert_eq!(bps("12.05"), Ok(1205));
        assert_eq!(bps("0.01"), Ok(1));
        assert_eq!(bps("0"), Ok(0));
        assert_eq!(bps("100"), Ok(10_000));
        assert_eq!(bps("100.00"), Ok(10_000));
        assert_eq!(bps(" 7 "), Ok(700));
        for bad in [
            "100.001", "100.01", "101", "-1", "abc", "", ".5", "5.", "1e1", "12,5", "+5", "1000",
            "0010", "5.-1", "65536",
        ] {
            assert!(bps(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn percents_are_written_back_as_they_read() {
        for (bps, text) in [
            (1000, "10"),
            (1250, "12.5"),
            (1205, "12.05"),
            (1, "0.01"),
            (0, "0"),
        ] {
            let rate = BasisPoints::new(bps).unwrap();
            assert_eq!(rate.to_string(), text);
            assert_eq!(text.parse::<BasisPoints>(), Ok(rate));
        }
        for bps in 0..=BasisPoints::MAX {
            let rate = BasisPoints::new(bps).unwrap();
            assert_eq!(rate.to_string().parse::<BasisPoints>(), Ok(rate));
        }
        assert_eq!(BasisPoints::new(10_001), None);
    }

    #[test]
    fn the_response_shows_the_percent() {
        assert_eq!(
            CommissionResponse::of(1250, 500),
            CommissionResponse {
                percent: "12.5".into(),
                minimum: 500
            }
        );
    }
}
