//! What anyone may see of an auction: its public status, listing, outcome
//! and the live view the `state` query answers, and how each is derived from
//! the book (shared by the workflow and the API).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use temporalio_common::search_attributes::{SearchAttributeUpdate, Timestamp};
use uuid::Uuid;

use crate::{
    names,
    rules::{Book, Currency, Phase},
};

/// Public auction status: the same words in the API, the read model and the
/// `AuctionStatus` search attribute. Serde, strum and sqlx each spell a
/// variant in snake_case; a test holds them to the same word.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "snake_case"))]
pub enum AuctionStatus {
    Scheduled,
    Open,
    Closed,
    AwaitingPayment,
    Settled,
    NoSale,
    Unsold,
    Cancelled,
}

impl AuctionStatus {
    pub const ALL: &[AuctionStatus] = <AuctionStatus as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(word: &str) -> Option<Self> {
        word.parse().ok()
    }

    /// Whether the auction is over for good: nothing follows (settled,
    /// unsold, no sale, cancelled).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            AuctionStatus::NoSale
                | AuctionStatus::Settled
                | AuctionStatus::Unsold
                | AuctionStatus::Cancelled
        )
    }

    /// Whether bids may still change the auction (the state lives in the
    /// workflow, not yet final in the read model).
    pub fn is_live(self) -> bool {
        matches!(self, AuctionStatus::Scheduled | AuctionStatus::Open)
    }

    /// The status a reader is shown at `now` for an auction ending at
    /// `ends_at`: an open auction whose end has passed is closed. The rules
    /// refuse every bid decided at or after the end, so this is already true
    /// while the workflow's close timer is still on its way (a wave of lots
    /// ending together can hold timers back for seconds); the outcome follows
    /// when the workflow publishes it.
    pub fn as_seen_at(self, ends_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        if self == AuctionStatus::Open && now >= ends_at {
            AuctionStatus::Closed
        } else {
            self
        }
    }
}

/// Anything that has a status and an end: what a reader is shown of it.
/// The workflow's live view and the read model's rows implement it, so every
/// reader names one rule ([`AuctionStatus::as_seen_at`]) rather than
/// repeating it.
pub trait SeenStatus {
    /// The status as stored or published, and the end it runs to.
    fn status_and_end(&self) -> (AuctionStatus, DateTime<Utc>);

    /// The status a reader is shown at `now`: closed from the end on.
    fn seen_status(&self, now: DateTime<Utc>) -> AuctionStatus {
        let (status, ends_at) = self.status_and_end();
        status.as_seen_at(ends_at, now)
    }
}

/// What the seller wrote about the lot: shown, never used by the rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub title: String,
    pub description: String,
}

/// Why nothing was sold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum NoSaleReason {
    NoBids,
    ReserveNotMet,
}

impl NoSaleReason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How the bidding ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    Sold { winner_id: Uuid, price: i64 },
    NoSale { reason: NoSaleReason },
    Cancelled { reason: String },
}

impl Outcome {
    /// The outcome of a book whose bidding has ended.
    pub fn of_closed(book: &Book) -> Outcome {
        match (book.leader, book.price) {
            (Some(winner_id), Some(price)) if book.reserve_met() => {
                Outcome::Sold { winner_id, price }
            }
            (Some(_), _) => Outcome::NoSale {
                reason: NoSaleReason::ReserveNotMet,
            },
            (None, _) => Outcome::NoSale {
                reason: NoSaleReason::NoBids,
            },
        }
    }

    pub fn status(&self) -> AuctionStatus {
        match self {
            Outcome::Sold { .. } => AuctionStatus::Closed,
            Outcome::NoSale { .. } => AuctionStatus::NoSale,
            Outcome::Cancelled { .. } => AuctionStatus::Cancelled,
        }
    }
}

/// The live view the `state` query answers (and the API shows while open).
/// Carries no hidden data: no reserve amount, no one's maximum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionView {
    pub auction_id: Uuid,
    pub status: AuctionStatus,
    pub seller_id: Uuid,
    pub currency: Currency,
    pub starting_price: i64,
    pub current_price: Option<i64>,
    /// The smallest amount the next bid may have.
    pub minimum_bid: i64,
    pub has_reserve: bool,
    pub reserve_met: bool,
    pub leader_id: Option<Uuid>,
    pub bid_count: u64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub hard_close_at: Option<DateTime<Utc>>,
    pub buy_now_price: Option<i64>,
    pub buy_now_available: bool,
    pub outcome: Option<Outcome>,
    /// Runs before the current one (continue-as-new).
    pub runs_before: u32,
}

impl SeenStatus for AuctionView {
    fn status_and_end(&self) -> (AuctionStatus, DateTime<Utc>) {
        (self.status, self.ends_at)
    }
}

/// The public status: settlement's word once it has one, else the outcome's,
/// else the bidding phase's.
pub fn status_of(
    book: &Book,
    outcome: Option<&Outcome>,
    settlement: Option<AuctionStatus>,
) -> AuctionStatus {
    settlement.unwrap_or(match (book.phase, outcome) {
        (_, Some(outcome)) => outcome.status(),
        (Phase::Scheduled, None) => AuctionStatus::Scheduled,
        (Phase::Open, None) => AuctionStatus::Open,
        (Phase::Closed, None) => AuctionStatus::Closed,
        (Phase::Cancelled, None) => AuctionStatus::Cancelled,
    })
}

/// The search attributes operators filter on, for an auction in `status`
/// (`CurrentBid` only once there is a price).
pub fn search_attributes_of(book: &Book, status: AuctionStatus) -> Vec<SearchAttributeUpdate> {
    let mut updates = vec![
        names::AUCTION_STATUS.value_set(status.as_str().to_owned()),
        names::SELLER_ID.value_set(book.terms.seller_id.to_string()),
        names::AUCTION_ENDS_AT.value_set(Timestamp::new(
            book.ends_at.timestamp(),
            i32::try_from(book.ends_at.timestamp_subsec_nanos())
                .expect("sub-second nanoseconds fit an i32"),
        )),
    ];
    if let Some(price) = book.price {
        updates.push(names::CURRENT_BID.value_set(price));
    }
    updates
}

/// Builds the public view of a book.
pub fn view_of(
    auction_id: Uuid,
    book: &Book,
    outcome: Option<&Outcome>,
    settlement: Option<AuctionStatus>,
    runs_before: u32,
) -> AuctionView {
    AuctionView {
        auction_id,
        status: status_of(book, outcome, settlement),
        seller_id: book.terms.seller_id,
        currency: book.terms.currency,
        starting_price: book.terms.starting_price,
        current_price: book.price,
        minimum_bid: book.minimum_bid(),
        has_reserve: book.terms.reserve_price.is_some(),
        reserve_met: book.reserve_met(),
        leader_id: book.leader,
        bid_count: book.bid_count,
        starts_at: book.terms.starts_at,
        ends_at: book.ends_at,
        hard_close_at: book.terms.hard_close_at,
        buy_now_price: book.terms.buy_now_price,
        buy_now_available: book.buy_now_available(),
        outcome: outcome.cloned(),
        runs_before,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_their_words() {
        for &status in AuctionStatus::ALL {
            assert_eq!(AuctionStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        assert_eq!(AuctionStatus::parse("sold"), None);
    }

    #[test]
    fn an_open_auction_is_seen_closed_from_its_end_and_nothing_else_moves() {
        let ends_at = Utc::now();
        let before = ends_at - chrono::Duration::milliseconds(1);
        assert_eq!(
            AuctionStatus::Open.as_seen_at(ends_at, before),
            AuctionStatus::Open
        );
        assert_eq!(
            AuctionStatus::Open.as_seen_at(ends_at, ends_at),
            AuctionStatus::Closed
        );
        for &status in AuctionStatus::ALL {
            if status != AuctionStatus::Open {
                let later = ends_at + chrono::Duration::days(1);
                assert_eq!(status.as_seen_at(ends_at, later), status);
            }
        }
    }

    #[test]
    fn no_sale_reasons_say_the_word_they_serialize_as() {
        for reason in [NoSaleReason::NoBids, NoSaleReason::ReserveNotMet] {
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                serde_json::json!(reason.as_str())
            );
        }
    }
}
