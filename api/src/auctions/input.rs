//! Request bodies for auctions and bids, and their validation into the rules'
//! types. Every refusal is a 422 with a stable code and the field it concerns.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use gavel_workflows::{
    contract::view::Listing,
    rules::{AntiSniping, Currency, MAX_AMOUNT, Terms, valid_amount},
    text::Lines,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    input_error::{InputError, InputKind},
    text,
};

pub const TITLE_MAX: usize = 120;
pub const DESCRIPTION_MAX: usize = 5_000;
pub const REASON_MAX: usize = 500;
/// The longest an auction may run from creation to its (first) end.
pub const LONGEST_AUCTION_DAYS: i64 = 90;
/// Anti-sniping windows and extensions are between 1 s and an hour.
pub const ANTI_SNIPING_MAX_SECS: u32 = 3_600;
pub const IDEMPOTENCY_KEY_MAX: usize = 200;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AntiSnipingInput {
    /// A bid this close to the end extends it (seconds; 0 turns it off).
    #[schema(example = 120)]
    pub window_secs: u32,
    /// New end = bid time + this (seconds).
    #[schema(example = 120)]
    pub extension_secs: u32,
}

/// `POST /auctions`. Amounts are integers in minor units (kobo, pesewas, cents).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAuctionRequest {
    #[schema(example = "Ankara print armchair")]
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// One of NGN, GHS, ZAR, KES, USD.
    #[schema(example = "NGN")]
    pub currency: String,
    #[schema(example = 500_000)]
    pub starting_price: i64,
    /// Hidden from bidders; only whether it is met is shown.
    pub reserve_price: Option<i64>,
    pub buy_now_price: Option<i64>,
    /// Fixed bid increment; without it a table by price band applies.
    pub min_increment: Option<i64>,
    /// When bidding opens; now when absent or past. RFC 3339 with an offset.
    #[serde(default, deserialize_with = "rfc3339::optional")]
    pub starts_at: Option<DateTime<Utc>>,
    /// RFC 3339 with an offset, e.g. `2026-12-01T18:00:00Z`.
    #[serde(deserialize_with = "rfc3339::required")]
    pub ends_at: DateTime<Utc>,
    pub anti_sniping: Option<AntiSnipingInput>,
    /// The end never moves past this, whatever the bids.
    #[serde(default, deserialize_with = "rfc3339::optional")]
    pub hard_close_at: Option<DateTime<Utc>>,
    /// Offer the lot to the next bidders (at their own highest bid, for them
    /// to accept or decline) when the winner does not pay. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_chance_offers: Option<bool>,
}

/// Timestamps as RFC 3339 with an offset, refused with a message that says
/// so (serde's own would be "premature end of input").
mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, de::Error};

    const EXPECTED: &str = "must be RFC 3339 with an offset, e.g. 2026-12-01T18:00:00Z";

    pub(super) fn parse<E: Error>(text: &str) -> Result<DateTime<Utc>, E> {
        DateTime::parse_from_rfc3339(text.trim())
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| E::custom(format!("{text:?} {EXPECTED}")))
    }

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        parse(&String::deserialize(d)?)
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| parse(&text))
            .transpose()
    }
}

/// A validated create request.
#[derive(Debug, Clone)]
pub struct NewAuction {
    pub listing: Listing,
    pub terms: Terms,
}

fn invalid(kind: InputKind, field: &str, message: impl Into<String>) -> InputError {
    InputError::of(kind, field, message)
}

fn amount(value: i64, kind: InputKind, field: &str) -> Result<i64, InputError> {
    if valid_amount(value) {
        Ok(value)
    } else {
        Err(invalid(
            kind,
            field,
            format!("{field} must be a whole number of minor units between 1 and {MAX_AMOUNT}"),
        ))
    }
}

impl CreateAuctionRequest {
    /// Checks every field against `now` and builds the auction's terms.
    pub fn validate(&self, seller_id: Uuid, now: DateTime<Utc>) -> Result<NewAuction, InputError> {
        // PostgreSQL keeps microseconds; so do the terms, so both agree.
        let now = now.trunc_subsecs(6);
        let ends_at = self.ends_at.trunc_subsecs(6);
        let hard_close_at = self.hard_close_at.map(|h| h.trunc_subsecs(6));
        let title = self.title.trim();
        text::check("title", title, Lines::One)?;
        let title_len = title.chars().count();
        if !(3..=TITLE_MAX).contains(&title_len) {
            return Err(invalid(
                InputKind::InvalidTitle,
                "title",
                format!("title must be 3 to {TITLE_MAX} characters"),
            ));
        }
        let description = self.description.trim();
        text::check("description", description, Lines::Many)?;
        if description.chars().count() > DESCRIPTION_MAX {
            return Err(invalid(
                InputKind::InvalidDescription,
                "description",
                format!("description must be at most {DESCRIPTION_MAX} characters"),
            ));
        }
        let currency = Currency::parse(&self.currency).ok_or_else(|| {
            let codes: Vec<&str> = Currency::ALL.iter().map(|c| c.code()).collect();
            invalid(
                InputKind::InvalidCurrency,
                "currency",
                format!("currency must be one of {}", codes.join(", ")),
            )
        })?;
        let starting_price = amount(
            self.starting_price,
            InputKind::InvalidAmount,
            "starting_price",
        )?;
        let reserve_price = match self.reserve_price {
            None => None,
            Some(r) if valid_amount(r) && r >= starting_price => Some(r),
            Some(_) => {
                return Err(invalid(
                    InputKind::InvalidReservePrice,
                    "reserve_price",
                    "reserve_price must be an amount no lower than starting_price",
                ));
            }
        };
        let buy_now_price = match self.buy_now_price {
            None => None,
            Some(b)
                if valid_amount(b)
                    && b > starting_price
                    && reserve_price.is_none_or(|r| b >= r) =>
            {
                Some(b)
            }
            Some(_) => {
                return Err(invalid(
                    InputKind::InvalidBuyNowPrice,
                    "buy_now_price",
                    "buy_now_price must be above starting_price and no lower than the reserve",
                ));
            }
        };
        let min_increment = self
            .min_increment
            .map(|i| amount(i, InputKind::InvalidMinIncrement, "min_increment"))
            .transpose()?;
        let starts_at = self.starts_at.map_or(now, |s| s.trunc_subsecs(6).max(now));
        if ends_at <= now || ends_at <= starts_at {
            return Err(invalid(
                InputKind::InvalidEndsAt,
                "ends_at",
                "ends_at must be in the future and after starts_at",
            ));
        }
        if ends_at > now + Duration::days(LONGEST_AUCTION_DAYS) {
            return Err(invalid(
                InputKind::InvalidEndsAt,
                "ends_at",
                format!("an auction may run at most {LONGEST_AUCTION_DAYS} days"),
            ));
        }
        let anti_sniping = match self.anti_sniping {
            None => AntiSniping::default(),
            Some(a)
                if a.window_secs <= ANTI_SNIPING_MAX_SECS
                    && (1..=ANTI_SNIPING_MAX_SECS).contains(&a.extension_secs) =>
            {
                AntiSniping {
                    window_secs: a.window_secs,
                    extension_secs: a.extension_secs,
                }
            }
            Some(_) => {
                return Err(invalid(
                    InputKind::InvalidAntiSniping,
                    "anti_sniping",
                    format!(
                        "window_secs must be 0 to {ANTI_SNIPING_MAX_SECS} and extension_secs 1 to {ANTI_SNIPING_MAX_SECS}"
                    ),
                ));
            }
        };
        if hard_close_at.is_some_and(|h| h < ends_at) {
            return Err(invalid(
                InputKind::InvalidHardCloseAt,
                "hard_close_at",
                "hard_close_at must not be before ends_at",
            ));
        }
        Ok(NewAuction {
            listing: Listing {
                title: title.to_owned(),
                description: description.to_owned(),
            },
            terms: Terms {
                seller_id,
                currency,
                starting_price,
                reserve_price,
                buy_now_price,
                min_increment,
                starts_at,
                ends_at,
                anti_sniping,
                hard_close_at,
                second_chance_offers: self.second_chance_offers.unwrap_or(true),
            },
        })
    }

    /// A digest of the request, to tell a retry from a different request
    /// under the same `Idempotency-Key`.
    pub fn fingerprint(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(canonical))
    }
}

/// `POST /auctions/{id}/bids`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceBidRequest {
    /// The amount bid openly now, in minor units.
    #[schema(example = 510_000)]
    pub amount: i64,
    /// Your proxy ceiling: Gavel bids for you up to it. Never shown to others.
    pub max_amount: Option<i64>,
    /// When given, must be the auction's currency.
    pub currency: Option<String>,
}

impl PlaceBidRequest {
    /// Checks the amounts before anything reaches the workflow.
    pub fn validate(&self) -> Result<(i64, Option<i64>, Option<Currency>), InputError> {
        let amount = amount(self.amount, InputKind::InvalidAmount, "amount")?;
        let max_amount = match self.max_amount {
            None => None,
            Some(m) if valid_amount(m) && m >= amount => Some(m),
            Some(_) => {
                return Err(invalid(
                    InputKind::InvalidAmount,
                    "max_amount",
                    "max_amount must be an amount no lower than amount",
                ));
            }
        };
        let currency = match &self.currency {
            None => None,
            Some(code) => Some(Currency::parse(code).ok_or_else(|| {
                invalid(
                    InputKind::InvalidCurrency,
                    "currency",
                    "currency must be one of NGN, GHS, ZAR, KES, USD",
                )
            })?),
        };
        Ok((amount, max_amount, currency))
    }
}

/// `POST /auctions/{id}/cancel`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelAuctionRequest {
    #[serde(default)]
    pub reason: String,
}

impl CancelAuctionRequest {
    pub fn validate(&self) -> Result<String, InputError> {
        let reason = self.reason.trim();
        text::check("reason", reason, Lines::Many)?;
        if reason.chars().count() > REASON_MAX {
            return Err(invalid(
                InputKind::InvalidReason,
                "reason",
                format!("reason must be at most {REASON_MAX} characters"),
            ));
        }
        Ok(reason.to_owned())
    }
}

/// The `Idempotency-Key` a bid must carry: missing or empty is refused, so
/// a retried bid can never count twice.
pub fn required_idempotency_key(headers: &axum::http::HeaderMap) -> Result<String, InputError> {
    let missing = headers
        .get("idempotency-key")
        .is_none_or(|v| v.as_bytes().iter().all(u8::is_ascii_whitespace));
    if missing {
        return Err(InputError::new(
            InputKind::IdempotencyKeyRequired,
            "a bid needs an Idempotency-Key header: any unique string, sent again unchanged \
             when you retry the same bid",
        ));
    }
    idempotency_key(headers).map(Option::unwrap_or_default)
}

/// Reads an `Idempotency-Key` header value: 1 to 200 visible ASCII characters.
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, InputError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    check_idempotency_key(value.to_str().unwrap_or_default()).map(Some)
}

/// An `Idempotency-Key` as sent: 1 to 200 visible ASCII characters.
pub fn check_idempotency_key(key: &str) -> Result<String, InputError> {
    if key.is_empty()
        || key.len() > IDEMPOTENCY_KEY_MAX
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(InputError::new(
            InputKind::InvalidIdempotencyKey,
            format!("Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} visible ASCII characters"),
        ));
    }
    Ok(key.to_owned())
}

#[cfg(test)]
mod properties {
    use chrono::FixedOffset;
    use proptest::prelude::*;

    use super::*;

    /// Amounts around every edge as well as anywhere.
    fn amount() -> impl Strategy<Value = i64> {
        prop_oneof![
            any::<i64>(),
            -3i64..3,
            (MAX_AMOUNT - 3)..(MAX_AMOUNT + 3),
            Just(i64::MIN),
            Just(i64::MAX),
        ]
    }

    proptest! {
        /// A bid passes exactly when both amounts are valid and the maximum
        /// is not below the amount.
        #[test]
        fn bid_amounts_pass_exactly_when_valid(
            amount in amount(),
            max in proptest::option::of(amount()),
        ) {
            let request = PlaceBidRequest { amount, max_amount: max, currency: None };
            let valid = valid_amount(amount)
                && max.is_none_or(|m| valid_amount(m) && m >= amount);
            match request.validate() {
                Ok((a, m, _)) => {
                    prop_assert!(valid);
                    prop_assert_eq!((a, m), (amount, max));
                }
                Err(err) => {
                    prop_assert!(!valid);
                    prop_assert_eq!(err.code(), "invalid_amount");
                }
            }
        }

        /// A currency is exactly one of the five codes, or refused.
        #[test]
        fn currencies_are_the_listed_codes_only(
            code in prop_oneof![
                proptest::sample::select(vec!["NGN", "GHS", "ZAR", "KES", "USD", "ngn", " USD", "EUR"])
                    .prop_map(str::to_owned),
                "[A-Z]{3}",
                "\\PC{0,6}",
            ],
        ) {
            let request = PlaceBidRequest { amount: 1_000, max_amount: None, currency: Some(code.clone()) };
            let listed = ["NGN", "GHS", "ZAR", "KES", "USD"].contains(&code.as_str());
            match request.validate() {
                Ok((_, _, currency)) => {
                    prop_assert!(listed, "{code:?} accepted");
                    prop_assert_eq!(currency.map(|c| c.code()), Some(code.as_str()));
                }
                Err(err) => {
                    prop_assert!(!listed, "{code:?} refused");
                    prop_assert_eq!(err.code(), "invalid_currency");
                }
            }
        }

        /// Any instant, written in RFC 3339 with any offset, reads back as itself.
        #[test]
        fn timestamps_round_trip_in_any_offset(
            secs in 0i64..8_000_000_000,
            nanos in 0u32..1_000_000_000,
            offset_minutes in -720i32..=840,
        ) {
            let instant = DateTime::from_timestamp(secs, nanos).unwrap();
            let offset = FixedOffset::east_opt(offset_minutes * 60).unwrap();
            let text = instant.with_timezone(&offset).to_rfc3339();
            let parsed: Result<DateTime<Utc>, serde_json::Error> = rfc3339::parse(&text);
            prop_assert_eq!(parsed.unwrap(), instant);
        }

        /// Anything else is refused with the message that says what is wanted.
        #[test]
        fn other_text_is_refused_with_the_expected_format(text in "\\PC{0,32}") {
            let parsed: Result<DateTime<Utc>, serde_json::Error> = rfc3339::parse(&text);
            match parsed {
                Ok(instant) => prop_assert!(DateTime::parse_from_rfc3339(text.trim()).is_ok(), "{instant}"),
                Err(err) => prop_assert!(err.to_string().contains("RFC 3339 with an offset")),
            }
        }
    }
}
