//! Money as people read and type it: minor units shown with the currency's
//! symbol (₦12,500.50), and amounts typed in major units ("12,500.50")
//! turned back into minor units. Every supported currency has 100 minor
//! units to the major one.

pub use gavel_workflows::rules::{currency_symbol as symbol, display_money as format};

/// An amount typed in major units (`5000`, `5,000.5`, ` 5000.50 `) as minor
/// units; `None` for anything else (more than two decimals, signs, letters,
/// or more than fits).
pub fn parse_major(text: &str) -> Option<i64> {
    let text: String = text.trim().chars().filter(|c| *c != ',').collect();
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 2 {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let cents: i64 = format!("{fraction:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(cents)
}

/// Minor units as a typed amount again (`500050` → `5000.50`), for forms.
pub fn as_major(minor: i64) -> String {
    if minor % 100 == 0 {
        (minor / 100).to_string()
    } else {
        format!("{}.{:02}", minor / 100, (minor % 100).abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_read_as_people_write_them() {
        assert_eq!(format(1_250_050, "NGN"), "₦12,500.50");
        assert_eq!(format(100_000, "USD"), "$1,000");
        assert_eq!(format(5, "GHS"), "GH₵0.05");
        assert_eq!(parse_major("5,000.5"), Some(500_050));
        assert_eq!(parse_major(" 12 "), Some(1_200));
        for bad in [
            "",
            "-5",
            "1.234",
            "abc",
            "1e3",
            ".5",
            "99999999999999999999",
        ] {
            assert_eq!(parse_major(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn what_a_form_shows_reads_back_the_same(minor in 0i64..1_000_000_000_000) {
            prop_assert_eq!(parse_major(&as_major(minor)), Some(minor));
            let shown = format(minor, "USD");
            prop_assert_eq!(parse_major(shown.trim_start_matches('$')), Some(minor));
        }
    }
}
