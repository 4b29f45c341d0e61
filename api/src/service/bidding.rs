//! Placing a bid: the rate limit, the idempotency key, strikes, and the
//! group commit into the auction's workflow; and each verdict as a type.

use chrono::{DateTime, Utc};
use gavel_store::auctions::{self as store, StoredBid};
use gavel_workflows::{
    contract::auction::PlaceBid,
    ids::AuctionId,
    rules::{Rejection, strikes::suspended_until},
};

use crate::{
    auctions::{
        batcher::{BidAnswer, BidFailure},
        input::PlaceBidRequest,
        view::BidResponse,
    },
    auth::AuthUser,
    input_error::InputError,
    state::AppState,
};

/// Why a bid was not taken.
#[derive(Debug, thiserror::Error)]
pub enum BidError {
    /// The amounts or currency fail the checks made before anything else.
    #[error(transparent)]
    Invalid(#[from] InputError),
    #[error("this bidder bids faster than allowed")]
    TooFast { retry_after_secs: u64 },
    #[error("no such auction")]
    NotFound,
    #[error("the key was used for another bid")]
    KeyReused { amount: i64, max_amount: i64 },
    #[error("bidding is suspended until {until}")]
    Suspended {
        until: DateTime<Utc>,
        strikes: usize,
    },
    #[error("the auction is closed")]
    Closed,
    /// The bidder's email address is not verified yet.
    #[error("confirm your email address before bidding")]
    EmailUnverified,
    /// The auction's rules refused it.
    #[error(transparent)]
    Refused(Rejection),
    #[error("a bid with this key is still being placed")]
    InProgress,
    #[error("the auction is saturated")]
    Busy,
    #[error("this bidder has several bids waiting for this auction")]
    TooManyQueued,
    #[error("Temporal is unavailable: {0}")]
    Unavailable(anyhow::Error),
    #[error(transparent)]
    Database(#[from] gavel_store::StoreError),
}

impl BidError {
    /// The stable code the API answers with (also the lot page's `said=`).
    pub fn code(&self) -> &'static str {
        match self {
            BidError::Invalid(err) => err.code(),
            BidError::TooFast { .. } | BidError::TooManyQueued => "too_many_bids",
            BidError::NotFound => "auction_not_found",
            BidError::KeyReused { .. } => "idempotency_key_reused",
            BidError::Suspended { .. } => "bidding_suspended",
            BidError::Closed => "auction_closed",
            BidError::EmailUnverified => "email_unverified",
            BidError::Refused(rejection) => rejection.code(),
            BidError::InProgress => "bid_in_progress",
            BidError::Busy => "auction_busy",
            BidError::Unavailable(_) => "service_unavailable",
            BidError::Database(err) if err.is_unavailable() => "service_unavailable",
            BidError::Database(_) => "internal",
        }
    }
}

/// A bid to place: the amounts as sent, and the bidder's idempotency key
/// (already checked: 1 to 200 visible ASCII characters).
#[derive(Debug, Clone)]
pub struct NewBid {
    pub key: String,
    pub request: PlaceBidRequest,
}

/// A retried key must carry the bid it was first used for: answering another
/// body with the first verdict would tell the bidder something untrue.
fn same_bid(stored: &StoredBid, amount: i64, max_amount: Option<i64>) -> Result<(), BidError> {
    if stored.amount == amount && stored.max_amount == max_amount.unwrap_or(amount) {
        return Ok(());
    }
    Err(BidError::KeyReused {
        amount: stored.amount,
        max_amount: stored.max_amount,
    })
}

/// The answer for a key accepted before: the stored bid, if it is this one.
async fn answer_stored(
    state: &AppState,
    auction_id: AuctionId,
    key: &str,
    amount: i64,
    max_amount: Option<i64>,
) -> Result<Option<BidResponse>, BidError> {
    let Some(stored) = store::bid_by_key(&state.db, auction_id.uuid(), key).await? else {
        return Ok(None);
    };
    same_bid(&stored, amount, max_amount)?;
    Ok(Some(BidResponse::from_stored(&stored)))
}

/// Places `bid` by `user` on `auction_id` (any account bids, sellers too on
/// others' lots: the rules refuse a seller's bid on their own).
pub async fn place_bid(
    state: &AppState,
    user: &AuthUser,
    auction_id: AuctionId,
    bid: NewBid,
) -> Result<BidResponse, BidError> {
    let id = auction_id.uuid();
    let (amount, max_amount, currency) = bid.request.validate()?;
    // Before anything costs a database read or a Temporal call.
    state.bidder_rates.take(user.id).map_err(|secs| {
        crate::limits::refused("bids_per_sec");
        BidError::TooFast {
            retry_after_secs: secs,
        }
    })?;
    if !super::account_email::may_trade(state, user.id).await? {
        return Err(BidError::EmailUnverified);
    }
    // Keys are per bidder: two bidders may pick the same one.
    let scoped_key = format!("{}:{}", user.id, bid.key);
    // One query on the hot path: does the auction exist, is it live, was
    // this key's bid accepted before, and may this bidder bid?
    let policy = state.config.strikes;
    let now = Utc::now();
    let lookup = store::bid_lookup(&state.db, id, &scoped_key, user.id, now - policy.ttl)
        .await?
        .ok_or(BidError::NotFound)?;
    if let Some(stored) = lookup.stored {
        same_bid(&stored, amount, max_amount)?;
        return Ok(BidResponse::from_stored(&stored));
    }
    if let Some(until) = suspended_until(&lookup.strikes, policy.limit, policy.ttl, now) {
        return Err(BidError::Suspended {
            until,
            strikes: lookup.strikes.len(),
        });
    }
    if !lookup.status.is_live() {
        return Err(BidError::Closed);
    }
    let place = PlaceBid {
        bidder_id: user.id,
        amount,
        max_amount,
        currency,
        idempotency_key: scoped_key.clone(),
    };
    let answer = state.bids.place(id, place).await;
    let code = match &answer {
        Ok(BidAnswer::Accepted(_)) => "accepted",
        Ok(BidAnswer::Refused(rejection)) => rejection.code(),
        Err(BidFailure::Gone) => "gone",
        Err(BidFailure::Unavailable(_)) => "unavailable",
        Ok(BidAnswer::Repeated(_)) => "repeated",
        Ok(BidAnswer::KeyReused { .. }) => "idempotency_key_reused",
        Err(BidFailure::Busy) => "auction_busy",
        Err(BidFailure::TooManyQueued) => "too_many_bids",
    };
    metrics::counter!("gavel_bids_total", "verdict" => code).increment(1);
    match answer {
        Ok(BidAnswer::Accepted(receipt)) => Ok(BidResponse::from_receipt(
            &receipt,
            amount,
            max_amount.unwrap_or(amount),
        )),
        Ok(BidAnswer::Refused(rejection)) => Err(BidError::Refused(rejection)),
        Ok(BidAnswer::KeyReused { amount, max_amount }) => {
            Err(BidError::KeyReused { amount, max_amount })
        }
        // Written by whichever request placed it first; until then, retry.
        Ok(BidAnswer::Repeated(_)) => {
            answer_stored(state, auction_id, &scoped_key, amount, max_amount)
                .await?
                .ok_or(BidError::InProgress)
        }
        Err(BidFailure::Gone) => answer_stored(state, auction_id, &scoped_key, amount, max_amount)
            .await?
            .ok_or(BidError::Closed),
        Err(BidFailure::Unavailable(reason)) => Err(BidError::Unavailable(anyhow::anyhow!(reason))),
        Err(BidFailure::Busy) => Err(BidError::Busy),
        Err(BidFailure::TooManyQueued) => Err(BidError::TooManyQueued),
    }
}
