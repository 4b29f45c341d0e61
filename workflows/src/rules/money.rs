//! Money: integer minor units in one of the currencies Gavel (and Paystack)
//! supports. No floats anywhere near money.

use serde::{Deserialize, Serialize};

/// Largest amount accepted anywhere, in minor units (10¹² — a trillion kobo is
/// ₦10 billion): far above any real lot, far below `i64` overflow in sums.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// ISO 4217 currencies Gavel accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Currency {
    #[serde(rename = "NGN")]
    Ngn,
    #[serde(rename = "GHS")]
    Ghs,
    #[serde(rename = "ZAR")]
    Zar,
    #[serde(rename = "KES")]
    Kes,
    #[serde(rename = "USD")]
    Usd,
}

impl Currency {
    pub const ALL: [Currency; 5] = [
        Currency::Ngn,
        Currency::Ghs,
        Currency::Zar,
        Currency::Kes,
        Currency::Usd,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Currency::Ngn => "NGN",
            Currency::Ghs => "GHS",
            Currency::Zar => "ZAR",
            Currency::Kes => "KES",
            Currency::Usd => "USD",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }
}

/// The symbol shown before an amount of `currency` (by its code): `₦`,
/// `GH₵`, `R`, `KSh `, `$`; nothing for a code Gavel does not know.
pub fn currency_symbol(currency: &str) -> &'static str {
    match currency {
        "NGN" => "₦",
        "GHS" => "GH₵",
        "ZAR" => "R",
        "KES" => "KSh ",
        "USD" => "$",
        _ => "",
    }
}

/// `minor` units of `currency` as people read them, on pages and in emails
/// alike: `₦12,500`, or `₦12,500.50` when there are minor units.
pub fn display_money(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let (major, cents) = (abs / 100, abs % 100);
    let cents = if cents == 0 {
        String::new()
    } else {
        format!(".{cents:02}")
    };
    format!(
        "{sign}{}{}{cents}",
        currency_symbol(currency),
        group_thousands(major)
    )
}

/// `major` with a comma between each group of three digits (`1,234,567`),
/// as invoices, emails and pages show amounts.
pub fn group_thousands(major: u64) -> String {
    let digits = major.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// Whether `amount` is a usable price: positive and at most [`MAX_AMOUNT`].
pub fn valid_amount(amount: i64) -> bool {
    (1..=MAX_AMOUNT).contains(&amount)
}

/// The default bid increment for a price, by band (in minor units, assuming
/// 100 minor units to the major unit as all supported currencies have).
pub fn default_increment(price: i64) -> i64 {
    INCREMENT_BANDS
        .iter()
        .find(|(below, _)| price < *below)
        .map_or(TOP_INCREMENT, |(_, increment)| *increment)
}

/// `(below this price, the increment)`, in minor units, lowest band first;
/// public so pages can show the next minimum as the price moves.
pub const INCREMENT_BANDS: [(i64, i64); 7] = [
    (1_000, 50),
    (5_000, 100),
    (25_000, 250),
    (100_000, 500),
    (250_000, 1_000),
    (500_000, 2_500),
    (1_000_000, 5_000),
];

/// The increment above the last band.
pub const TOP_INCREMENT: i64 = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_round_trip_their_codes() {
        for c in Currency::ALL {
            assert_eq!(Currency::parse(c.code()), Some(c));
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.code())
            );
        }
        assert_eq!(Currency::parse("EUR"), None);
        assert_eq!(Currency::parse("ngn"), None);
    }

    #[test]
    fn increments_grow_with_the_price_band() {
        assert_eq!(default_increment(0), 50);
        assert_eq!(default_increment(999), 50);
        assert_eq!(default_increment(1_000), 100);
        assert_eq!(default_increment(99_999), 500);
        assert_eq!(default_increment(999_999), 5_000);
        assert_eq!(default_increment(50_000_000), 10_000);
    }

    #[test]
    fn amounts_must_be_positive_and_sane() {
        assert!(!valid_amount(0));
        assert!(!valid_amount(-5));
        assert!(valid_amount(1));
        assert!(valid_amount(MAX_AMOUNT));
        assert!(!valid_amount(MAX_AMOUNT + 1));
    }
}
