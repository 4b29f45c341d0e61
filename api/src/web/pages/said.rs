//! The `?said=` words: what a page says about the form just sent, as one
//! typed enum per page that reads them ([`LotSaid`], [`MeSaid`],
//! [`ListingSaid`]), built from the service's verdicts and read back from
//! the link. Each word is its variant's snake_case name, the same in serde
//! (reading) and strum (writing), so the links stay as they were; a word a
//! page does not know reads as nothing said. Each page words its variants.

use gavel_workflows::rules::{Rejection, Standing};
use serde::{Deserialize, Deserializer, de::DeserializeOwned, de::value::StrDeserializer};

use crate::{input_error::InputKind, service::bidding::BidError};

/// What the lot page says after a bid or watch form sent without script:
/// the bid's standing, the refusal's code (as the JSON API names it) or the
/// watch button's outcome.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, strum::IntoStaticStr, strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum LotSaid {
    Leading,
    Outbid,
    BidTooLow,
    MaxNotRaised,
    AuctionClosed,
    AuctionNotOpen,
    OwnAuction,
    CurrencyMismatch,
    BiddingSuspended,
    EmailUnverified,
    TooManyBids,
    InvalidAmount,
    InvalidCurrency,
    InvalidIdempotencyKey,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    AuctionNotFound,
    BidInProgress,
    AuctionBusy,
    ServiceUnavailable,
    Internal,
    CsrfFailed,
    Watching,
    Unwatched,
    TooManyWatched,
}

impl LotSaid {
    pub fn word(self) -> &'static str {
        self.into()
    }
}

impl From<Standing> for LotSaid {
    fn from(standing: Standing) -> Self {
        match standing {
            Standing::Leading => LotSaid::Leading,
            Standing::Outbid => LotSaid::Outbid,
        }
    }
}

impl From<&Rejection> for LotSaid {
    fn from(rejection: &Rejection) -> Self {
        match rejection {
            Rejection::AuctionNotOpen => LotSaid::AuctionNotOpen,
            Rejection::AuctionClosed => LotSaid::AuctionClosed,
            Rejection::BidTooLow { .. } => LotSaid::BidTooLow,
            Rejection::OwnAuction => LotSaid::OwnAuction,
            Rejection::CurrencyMismatch => LotSaid::CurrencyMismatch,
            Rejection::InvalidAmount => LotSaid::InvalidAmount,
            Rejection::MaxNotRaised { .. } => LotSaid::MaxNotRaised,
            Rejection::InvalidIdempotencyKey => LotSaid::InvalidIdempotencyKey,
        }
    }
}

/// The word for a refused bid: its code in the JSON API ([`BidError::code`]).
impl From<&BidError> for LotSaid {
    fn from(error: &BidError) -> Self {
        match error {
            BidError::Invalid(err) => match err.kind {
                InputKind::InvalidAmount => LotSaid::InvalidAmount,
                InputKind::InvalidCurrency => LotSaid::InvalidCurrency,
                InputKind::InvalidIdempotencyKey => LotSaid::InvalidIdempotencyKey,
                InputKind::IdempotencyKeyRequired => LotSaid::IdempotencyKeyRequired,
                // A bid's checks give none of these: said as the house
                // failing, which is what the page said of them before.
                InputKind::InvalidText
                | InputKind::InvalidTitle
                | InputKind::InvalidDescription
                | InputKind::InvalidReservePrice
                | InputKind::InvalidBuyNowPrice
                | InputKind::InvalidMinIncrement
                | InputKind::InvalidEndsAt
                | InputKind::InvalidAntiSniping
                | InputKind::InvalidHardCloseAt
                | InputKind::InvalidReason
                | InputKind::InvalidEmail
                | InputKind::WeakPassword
                | InputKind::InvalidName
                | InputKind::InvalidShipping
                | InputKind::InvalidEndingSoonLead => LotSaid::Internal,
            },
            BidError::TooFast { .. } | BidError::TooManyQueued => LotSaid::TooManyBids,
            BidError::NotFound => LotSaid::AuctionNotFound,
            BidError::KeyReused { .. } => LotSaid::IdempotencyKeyReused,
            BidError::Suspended { .. } => LotSaid::BiddingSuspended,
            BidError::Closed => LotSaid::AuctionClosed,
            BidError::EmailUnverified => LotSaid::EmailUnverified,
            BidError::Refused(rejection) => rejection.into(),
            BidError::InProgress => LotSaid::BidInProgress,
            BidError::Busy => LotSaid::AuctionBusy,
            BidError::Unavailable(_) => LotSaid::ServiceUnavailable,
            BidError::Database(err) if err.is_unavailable() => LotSaid::ServiceUnavailable,
            BidError::Database(_) => LotSaid::Internal,
        }
    }
}

/// What `/me` says after one of its forms went through.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, strum::IntoStaticStr, strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum MeSaid {
    /// An invoice offered to the buyer was accepted.
    Accepted,
    Declined,
    SearchDeleted,
    CardRemoved,
    NoticesSaved,
    Shipped,
    Received,
    ClaimOpened,
    ClaimAccepted,
    ClaimContested,
}

impl MeSaid {
    pub fn word(self) -> &'static str {
        self.into()
    }

    /// `/me` saying this.
    pub fn link(self) -> String {
        format!("/me?said={}", self.word())
    }
}

/// What the listing says after "Save this search".
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, strum::IntoStaticStr, strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ListingSaid {
    SearchSaved,
}

impl ListingSaid {
    pub fn word(self) -> &'static str {
        self.into()
    }
}

/// `?said=` as `S`: a word `S` does not know (an old or hand-made link)
/// reads as nothing said rather than refusing the page.
pub fn known_word<'de, D, S>(deserializer: D) -> Result<Option<S>, D::Error>
where
    D: Deserializer<'de>,
    S: DeserializeOwned,
{
    let word = Option::<String>::deserialize(deserializer)?;
    Ok(word.and_then(|word| {
        S::deserialize(StrDeserializer::<serde::de::value::Error>::new(&word)).ok()
    }))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use strum::VariantArray;

    use super::*;
    use crate::{input_error::InputError, web::pages::shared::SaidQuery};

    fn read<S: DeserializeOwned>(word: &str) -> Option<S> {
        serde_json::from_value::<SaidQuery<S>>(serde_json::json!({ "said": word }))
            .expect("a page reads any word")
            .said
    }

    /// The word written in a link (strum) is the word read back (serde).
    #[test]
    fn every_word_reads_back_as_itself() {
        for said in LotSaid::VARIANTS {
            assert_eq!(read::<LotSaid>(said.word()), Some(*said));
        }
        for said in MeSaid::VARIANTS {
            assert_eq!(read::<MeSaid>(said.word()), Some(*said));
        }
        for said in ListingSaid::VARIANTS {
            assert_eq!(read::<ListingSaid>(said.word()), Some(*said));
        }
        assert_eq!(read::<LotSaid>("<script>"), None);
        assert_eq!(read::<MeSaid>("leading"), None);
        assert_eq!(read::<LotSaid>(""), None);
    }

    /// The links keep their words: a refused bid's is its API code, and
    /// `/me`'s and the listing's are the ones the browser tests follow.
    #[test]
    fn words_are_the_links_words() {
        let refusals = [
            BidError::Refused(Rejection::BidTooLow { minimum: 1 }),
            BidError::Refused(Rejection::MaxNotRaised { current_max: 1 }),
            BidError::Refused(Rejection::AuctionClosed),
            BidError::Refused(Rejection::AuctionNotOpen),
            BidError::Refused(Rejection::OwnAuction),
            BidError::Refused(Rejection::InvalidAmount),
            BidError::Refused(Rejection::CurrencyMismatch),
            BidError::Refused(Rejection::InvalidIdempotencyKey),
            BidError::Closed,
            BidError::EmailUnverified,
            BidError::Suspended {
                until: Utc::now(),
                strikes: 2,
            },
            BidError::TooFast {
                retry_after_secs: 1,
            },
            BidError::TooManyQueued,
            BidError::Busy,
            BidError::InProgress,
            BidError::NotFound,
            BidError::Unavailable(anyhow::anyhow!("down")),
            BidError::KeyReused {
                amount: 1,
                max_amount: 1,
            },
            BidError::Invalid(InputError::new(InputKind::InvalidAmount, "no")),
            BidError::Invalid(InputError::new(InputKind::InvalidCurrency, "no")),
            BidError::Invalid(InputError::new(InputKind::InvalidIdempotencyKey, "no")),
            BidError::Invalid(InputError::new(InputKind::IdempotencyKeyRequired, "no")),
        ];
        for refusal in refusals {
            assert_eq!(LotSaid::from(&refusal).word(), refusal.code());
        }
        for standing in [Standing::Leading, Standing::Outbid] {
            assert_eq!(LotSaid::from(standing).word(), standing.as_str());
        }
        assert_eq!(LotSaid::CsrfFailed.word(), "csrf_failed");
        assert_eq!(LotSaid::TooManyWatched.word(), "too_many_watched");
        let me: Vec<&str> = MeSaid::VARIANTS.iter().map(|s| s.word()).collect();
        assert_eq!(
            me,
            [
                "accepted",
                "declined",
                "search_deleted",
                "card_removed",
                "notices_saved",
                "shipped",
                "received",
                "claim_opened",
                "claim_accepted",
                "claim_contested",
            ]
        );
        assert_eq!(MeSaid::CardRemoved.link(), "/me?said=card_removed");
        assert_eq!(ListingSaid::SearchSaved.word(), "search_saved");
    }
}
