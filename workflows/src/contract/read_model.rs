//! What the workflow tells the read model: a snapshot of the auction, the bids
//! it accepted and the live events, in one idempotent `publish_auction`
//! activity (implemented in `gavel-activities`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use temporalio_macros::activity_definitions;
use temporalio_sdk::activities::ActivityError;
use uuid::Uuid;

use super::view::{AuctionStatus, AuctionView, Listing, Outcome};
use crate::rules::{AcceptedBid, Standing, Terms};

/// The auction row as the workflow knows it. `revision` only grows: the read
/// model ignores a snapshot older than the one it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionSnapshot {
    pub auction_id: Uuid,
    pub revision: u64,
    pub listing: Listing,
    pub terms: Terms,
    pub view: AuctionView,
}

/// One accepted bid with the verdict it got, so a retried request can be
/// answered from the read model long after the workflow forgot it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidRecord {
    pub bid_id: Uuid,
    #[serde(flatten)]
    pub bid: AcceptedBid,
    pub standing: Standing,
    pub ends_at_after: DateTime<Utc>,
    pub extended: bool,
    pub bought_now: bool,
    pub reserve_met: bool,
}

/// A live event for SSE subscribers; `seq` is its id within the auction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionEvent {
    pub seq: u64,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub data: EventData,
}

/// What happened. `kind` is the SSE event name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventData {
    Opened {
        ends_at: DateTime<Utc>,
    },
    Bid {
        bid_id: Uuid,
        bid_seq: u64,
        amount: i64,
        current_price: i64,
        leader_id: Option<Uuid>,
        bid_count: u64,
        reserve_met: bool,
        ends_at: DateTime<Utc>,
    },
    Extended {
        ends_at: DateTime<Utc>,
    },
    Closed {
        status: AuctionStatus,
        outcome: Outcome,
    },
    Cancelled {
        reason: String,
    },
    /// Settlement moved on: `awaiting_payment`, `settled`, `unsold`.
    Status {
        status: AuctionStatus,
        round: u32,
    },
}

impl EventData {
    pub fn kind(&self) -> &'static str {
        match self {
            EventData::Opened { .. } => "opened",
            EventData::Bid { .. } => "bid",
            EventData::Extended { .. } => "extended",
            EventData::Closed { .. } => "closed",
            EventData::Cancelled { .. } => "cancelled",
            EventData::Status { status, .. } => status.as_str(),
        }
    }

    /// Whether nothing follows this event: the auction is settled, unsold,
    /// cancelled, or closed without a sale.
    pub fn is_final(&self) -> bool {
        match self {
            EventData::Cancelled { .. } => true,
            EventData::Closed { status, .. } | EventData::Status { status, .. } => {
                status.is_final()
            }
            EventData::Opened { .. } | EventData::Bid { .. } | EventData::Extended { .. } => false,
        }
    }
}

/// One batch for the read model: written in one transaction, idempotently
/// (bids by id, events by sequence, the snapshot by revision).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    pub snapshot: AuctionSnapshot,
    pub bids: Vec<BidRecord>,
    pub events: Vec<AuctionEvent>,
}

/// What a batch of bids changed, for the API to write to the read model at
/// once (the workflow publishes the same again later, so a crashed API loses
/// nothing): the view at `revision`, the bids accepted and the events made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveDelta {
    pub revision: u64,
    pub view: AuctionView,
    pub bids: Vec<BidRecord>,
    pub events: Vec<AuctionEvent>,
    /// The rules' revision (callers may refuse hopeless bids themselves only
    /// under rules that refuse every bid below the minimum).
    pub rules: u32,
}

/// The read-model activity the auction workflow calls.
pub struct ReadModelActivities;

#[activity_definitions]
impl ReadModelActivities {
    /// Upserts the snapshot, inserts new bids and events, and `NOTIFY`s
    /// listeners; safe to run any number of times.
    #[activity(name = "publish_auction")]
    pub fn publish_auction(publication: Publication) -> Result<(), ActivityError> {
        unimplemented!()
    }
}

/// The `publish_auction` contract, for the implementing crate.
pub use read_model_activities::PublishAuction as PublishAuctionDefinition;
