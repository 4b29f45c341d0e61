//! What the API answers about auctions and bids: public fields only (handles,
//! never names or emails; whether the reserve is met, never its amount).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use gavel_workflows::{
    contract::{
        auction::BidReceipt,
        read_model::EventData,
        view::{AuctionView, Outcome, SeenStatus},
    },
    rules::{Standing, minimum_next_bid},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use gavel_store::auctions::{AuctionRow, BidRow, EventRow, StoredBid};

use super::input::AntiSnipingInput;
use crate::commission::CommissionResponse;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SellerRef {
    pub id: Uuid,
    pub handle: Option<String>,
}

/// How an auction ended.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutcomeResponse {
    /// `sold`, `no_sale` or `cancelled`.
    pub result: Cow<'static, str>,
    /// The winner's public handle.
    pub winner: Option<String>,
    pub price: Option<i64>,
    /// `no_bids`, `reserve_not_met`, or the cancel reason.
    pub reason: Option<String>,
}

impl OutcomeResponse {
    pub fn of(outcome: &Outcome, winner: Option<String>) -> Self {
        match outcome {
            Outcome::Sold { price, .. } => Self {
                result: "sold".into(),
                winner,
                price: Some(*price),
                reason: None,
            },
            Outcome::NoSale { reason } => Self {
                result: "no_sale".into(),
                winner: None,
                price: None,
                reason: Some(reason.as_str().to_owned()),
            },
            Outcome::Cancelled { reason } => Self {
                result: "cancelled".into(),
                winner: None,
                price: None,
                reason: Some(reason.clone()),
            },
        }
    }
}

/// An auction as anyone may see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuctionResponse {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub seller: SellerRef,
    pub currency: String,
    /// One of `scheduled`, `open`, `closed`, `awaiting_payment`, `settled`,
    /// `no_sale`, `unsold`, `cancelled`. An open auction reads `closed` from
    /// `ends_at` on (no bid is taken from then), before its outcome is known.
    pub status: String,
    pub starting_price: i64,
    /// The visible price; null before the first bid.
    pub current_price: Option<i64>,
    /// The smallest amount the next bid may have.
    pub minimum_bid: i64,
    pub min_increment: Option<i64>,
    pub has_reserve: bool,
    pub reserve_met: bool,
    pub buy_now_price: Option<i64>,
    pub buy_now_available: bool,
    /// The leading bidder's public handle.
    pub leader: Option<String>,
    pub bid_count: u64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub hard_close_at: Option<DateTime<Utc>>,
    pub anti_sniping: AntiSnipingInput,
    /// Whether unpaid lots are offered to the next bidders.
    pub second_chance_offers: bool,
    /// What Gavel keeps of the sale, fixed when the auction was listed.
    pub commission: CommissionResponse,
    pub outcome: Option<OutcomeResponse>,
    pub created_at: DateTime<Utc>,
    /// True when the figures come from the running workflow; false when from
    /// the read model (after the close, or while Temporal is unreachable).
    pub live: bool,
}

impl AuctionResponse {
    /// From the read model alone, as seen now (an open auction past its end
    /// is shown closed).
    pub fn from_row(row: &AuctionRow) -> Self {
        Self::from_row_at(row, Utc::now())
    }

    /// From the read model alone, as seen at `now`.
    pub fn from_row_at(row: &AuctionRow, now: DateTime<Utc>) -> Self {
        Self {
            id: row.id,
            title: row.title.clone(),
            description: row.description.clone(),
            seller: SellerRef {
                id: row.seller_id,
                handle: row.seller_handle.clone(),
            },
            currency: row.currency.clone(),
            status: row.seen_status(now).as_str().to_owned(),
            starting_price: row.starting_price,
            current_price: row.current_price,
            minimum_bid: minimum_next_bid(row.current_price, row.starting_price, row.min_increment),
            min_increment: row.min_increment,
            has_reserve: row.reserve_price.is_some(),
            reserve_met: row.reserve_met,
            buy_now_price: row.buy_now_price,
            buy_now_available: row.buy_now_available,
            leader: row.leader_handle.clone(),
            bid_count: row.bid_count,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            hard_close_at: row.hard_close_at,
            anti_sniping: AntiSnipingInput {
                window_secs: row.anti_sniping_window_secs,
                extension_secs: row.anti_sniping_extension_secs,
            },
            second_chance_offers: row.second_chance_offers,
            commission: CommissionResponse::of(row.commission_bps, row.commission_min),
            outcome: row
                .outcome
                .as_ref()
                .map(|o| OutcomeResponse::of(&o.0, row.winner_handle.clone())),
            created_at: row.created_at,
            live: false,
        }
    }

    /// The read model's row overlaid with the workflow's live view;
    /// `handle_of` names the leader and winner.
    pub fn live(
        row: &AuctionRow,
        view: &AuctionView,
        handle_of: impl Fn(Uuid) -> Option<String>,
    ) -> Self {
        let now = Utc::now();
        let mut response = Self::from_row_at(row, now);
        response.status = view.seen_status(now).as_str().to_owned();
        response.current_price = view.current_price;
        response.minimum_bid = view.minimum_bid;
        response.reserve_met = view.reserve_met;
        response.buy_now_available = view.buy_now_available;
        response.leader = view.leader_id.and_then(&handle_of);
        response.bid_count = view.bid_count;
        response.ends_at = view.ends_at;
        response.outcome = view.outcome.as_ref().map(|o| {
            let winner = match o {
                Outcome::Sold { winner_id, .. } => handle_of(*winner_id),
                _ => None,
            };
            OutcomeResponse::of(o, winner)
        });
        response.live = true;
        response
    }
}

/// A page of auctions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuctionPage {
    pub items: Vec<AuctionResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The verdict on a bid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BidResponse {
    pub bid_id: Uuid,
    /// The bid's number in this auction (1-based).
    pub seq: u64,
    /// `leading` or `outbid`.
    #[schema(value_type = String, example = "leading")]
    pub status: Standing,
    pub amount: i64,
    pub max_amount: i64,
    pub current_price: i64,
    pub ends_at: DateTime<Utc>,
    /// The bid moved the end (anti-sniping).
    pub extended: bool,
    /// The bid took the buy-now price and closed the auction.
    pub bought_now: bool,
    pub reserve_met: bool,
}

impl BidResponse {
    pub fn from_receipt(receipt: &BidReceipt, amount: i64, max_amount: i64) -> Self {
        let v = &receipt.verdict;
        Self {
            bid_id: receipt.bid_id,
            seq: v.seq,
            status: v.standing,
            amount,
            max_amount,
            current_price: v.current_price,
            ends_at: v.ends_at,
            extended: v.extended,
            bought_now: v.bought_now,
            reserve_met: v.reserve_met,
        }
    }

    pub fn from_stored(bid: &StoredBid) -> Self {
        Self {
            bid_id: bid.id,
            seq: bid.seq,
            status: bid.standing,
            amount: bid.amount,
            max_amount: bid.max_amount,
            current_price: bid.price_after,
            ends_at: bid.ends_at_after,
            extended: bid.extended,
            bought_now: bid.bought_now,
            reserve_met: bid.reserve_met,
        }
    }
}

/// One line of the public bid history (no one's maximum).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BidHistoryItem {
    pub bid_id: Uuid,
    pub seq: i64,
    pub bidder: Option<String>,
    pub amount: i64,
    /// The visible price right after this bid.
    pub price_after: i64,
    pub placed_at: DateTime<Utc>,
}

impl From<BidRow> for BidHistoryItem {
    fn from(row: BidRow) -> Self {
        Self {
            bid_id: row.id,
            seq: row.seq,
            bidder: row.bidder_handle,
            amount: row.amount,
            price_after: row.price_after,
            placed_at: row.placed_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BidPage {
    pub items: Vec<BidHistoryItem>,
    pub next_cursor: Option<String>,
}

/// A stored live event as every client sees it, made once per event (not
/// once per subscriber): user ids replaced by handles, the SSE payload
/// already serialized.
#[derive(Debug, Clone)]
pub struct PublicEvent {
    pub seq: i64,
    pub kind: String,
    pub data: String,
    /// Nothing follows it (an event this version cannot read is not final:
    /// the stream stays open rather than end early).
    pub last: bool,
}

impl PublicEvent {
    pub fn of(row: &EventRow) -> Self {
        let last = EventData::deserialize(&row.data.0).is_ok_and(|data| data.is_final());
        let mut data = row.data.0.clone();
        if let Some(map) = data.as_object_mut() {
            map.remove("kind");
            if map.remove("leader_id").is_some() {
                map.insert("leader".into(), json!(row.leader_handle));
            }
            if let Some(outcome) = map.get_mut("outcome").and_then(Value::as_object_mut)
                && outcome.remove("winner_id").is_some()
            {
                outcome.insert("winner".into(), json!(row.winner_handle));
            }
        }
        Self {
            seq: row.seq,
            kind: row.kind.clone(),
            data: data.to_string(),
            last,
        }
    }
}
