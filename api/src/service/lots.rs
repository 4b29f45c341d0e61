//! Reading lots: one lot as anyone sees it (live from its workflow while it
//! runs), and a bidder's lots with where they stand in each.

use chrono::{DateTime, Utc};
use gavel_store::auctions::{self as store, AuctionRow, BidderLot};
use gavel_workflows::{
    contract::view::{AuctionStatus, AuctionView, Outcome, SeenStatus},
    ids::UserId,
};
use uuid::Uuid;

use crate::{
    auctions::{gateway, view::AuctionResponse},
    state::AppState,
};

/// The row overlaid with the live view when the workflow answers, its status
/// as seen now (closed from the end on); the row alone once
/// [`reads_from_row`] says it is enough.
pub async fn present(state: &AppState, row: &AuctionRow) -> gavel_store::Result<AuctionResponse> {
    let now = Utc::now();
    if reads_from_row(row, now) {
        return Ok(AuctionResponse::from_row_at(row, now));
    }
    match gateway::live_state(&state.temporal, row.id).await {
        Some(view) => present_view(state, row, &view).await,
        None => Ok(AuctionResponse::from_row(row)),
    }
}

/// How long after the row's end a lot with anti-sniping is still read from
/// its workflow: past the workflow's backstop (15 s), with a margin.
const END_SETTLES: chrono::Duration = chrono::Duration::seconds(20);

/// Whether the row alone tells the lot at `now`, without asking its
/// workflow. A lot no longer live is final in the row. A lot whose end cannot
/// move (no anti-sniping) is read from the row once its end has passed: the
/// people watching a wave of lots end add no work to the workflows closing
/// them. One whose end can move is asked until [`END_SETTLES`] after the
/// row's end: an extension the API could not write at once (a failed write,
/// an operator's signal bid) reaches the row only with the workflow's
/// backstop publication, 15 s later.
fn reads_from_row(row: &AuctionRow, now: DateTime<Utc>) -> bool {
    let ended = row.seen_status(now) != row.status;
    let end_settled = row.anti_sniping_window_secs == 0 || now >= row.ends_at + END_SETTLES;
    !row.status.is_live() || (ended && end_settled)
}

/// The row overlaid with `view`, the leader's and winner's handles joined in.
pub async fn present_view(
    state: &AppState,
    row: &AuctionRow,
    view: &AuctionView,
) -> gavel_store::Result<AuctionResponse> {
    let mut ids: Vec<Uuid> = view.leader_id.into_iter().collect();
    if let Some(Outcome::Sold { winner_id, .. }) = &view.outcome {
        ids.push(*winner_id);
    }
    let names = store::handles(&state.db, &ids).await?;
    Ok(AuctionResponse::live(row, view, |id| {
        names.get(&id).cloned()
    }))
}

/// Where a bidder stands in a lot they bid on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MyStanding {
    Leading,
    Outbid,
    Cancelled,
    NoSale,
    Won,
    Lost,
}

impl MyStanding {
    /// `bidder`'s standing in `lot`: while it runs, whether they lead; once
    /// closed, whether they won (the leader at the close, or the winner the
    /// outcome names, a second-chance buyer included).
    pub fn of(lot: &BidderLot, bidder: UserId) -> Self {
        let leads = lot.leader_id == Some(bidder.uuid());
        let named_winner = lot
            .winner_id
            .as_deref()
            .is_some_and(|w| w == bidder.to_string());
        match lot.status {
            AuctionStatus::Open | AuctionStatus::Scheduled if leads => MyStanding::Leading,
            AuctionStatus::Open | AuctionStatus::Scheduled => MyStanding::Outbid,
            AuctionStatus::Cancelled => MyStanding::Cancelled,
            AuctionStatus::NoSale => MyStanding::NoSale,
            AuctionStatus::Closed if leads => MyStanding::Won,
            AuctionStatus::Closed
            | AuctionStatus::AwaitingPayment
            | AuctionStatus::Settled
            | AuctionStatus::Unsold => {
                if named_winner {
                    MyStanding::Won
                } else {
                    MyStanding::Lost
                }
            }
        }
    }
}

/// The lots `bidder` bid on, the most recently bid on first, each with
/// where they stand.
pub async fn lots_bid_on(
    state: &AppState,
    bidder: UserId,
) -> gavel_store::Result<Vec<(BidderLot, MyStanding)>> {
    let lots = store::lots_bid_on(&state.db, bidder).await?;
    Ok(lots
        .into_iter()
        .map(|lot| {
            let standing = MyStanding::of(&lot, bidder);
            (lot, standing)
        })
        .collect())
}

/// The opaque cursor a listing page hands out: where the next page starts.
pub fn encode_cursor(created_at: DateTime<Utc>, id: Uuid) -> String {
    hex::encode(format!("{}|{id}", created_at.timestamp_micros()))
}

/// The position a cursor names; `None` for one this house did not make.
pub fn decode_cursor(cursor: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let text = String::from_utf8(hex::decode(cursor).ok()?).ok()?;
    let (micros, id) = text.split_once('|')?;
    Some((
        DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        id.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lot(status: AuctionStatus, leader: Option<Uuid>, winner: Option<Uuid>) -> BidderLot {
        BidderLot {
            auction_id: Uuid::nil(),
            title: String::new(),
            currency: "NGN".into(),
            status,
            price: 0,
            leader_id: leader,
            winner_id: winner.map(|w| w.to_string()),
            my_max: 0,
        }
    }

    fn auction(status: AuctionStatus, ends_at: DateTime<Utc>, window_secs: u32) -> AuctionRow {
        AuctionRow {
            id: Uuid::nil(),
            seller_id: Uuid::nil(),
            seller_handle: None,
            title: String::new(),
            description: String::new(),
            currency: "NGN".into(),
            starting_price: 100,
            reserve_price: None,
            buy_now_price: None,
            min_increment: None,
            anti_sniping_window_secs: window_secs,
            anti_sniping_extension_secs: window_secs,
            hard_close_at: None,
            starts_at: ends_at - chrono::Duration::hours(1),
            ends_at,
            status,
            current_price: None,
            reserve_met: false,
            leader_id: None,
            leader_handle: None,
            bid_count: 0,
            buy_now_available: false,
            outcome: None,
            winner_handle: None,
            second_chance_offers: false,
            create_fingerprint: None,
            created_at: ends_at - chrono::Duration::hours(2),
            commission_bps: 0,
            commission_min: 0,
        }
    }

    #[test]
    fn a_lot_is_read_from_its_row_once_final_or_its_end_has_settled() {
        let ends_at = Utc::now();
        let before = ends_at - chrono::Duration::seconds(1);
        let just_after = ends_at + chrono::Duration::seconds(1);
        let settled = ends_at + END_SETTLES;
        // Final in the row: never asks the workflow.
        assert!(reads_from_row(
            &auction(AuctionStatus::Settled, ends_at, 60),
            before
        ));
        // Running: asks the workflow.
        assert!(!reads_from_row(
            &auction(AuctionStatus::Open, ends_at, 0),
            before
        ));
        assert!(!reads_from_row(
            &auction(AuctionStatus::Scheduled, ends_at, 0),
            just_after
        ));
        // Past its end, no anti-sniping: the row at once.
        assert!(reads_from_row(
            &auction(AuctionStatus::Open, ends_at, 0),
            ends_at
        ));
        // Past its end with anti-sniping: the workflow until END_SETTLES.
        assert!(!reads_from_row(
            &auction(AuctionStatus::Open, ends_at, 60),
            just_after
        ));
        assert!(reads_from_row(
            &auction(AuctionStatus::Open, ends_at, 60),
            settled
        ));
    }

    #[test]
    fn a_bidder_wins_by_leading_at_the_close_or_being_named_winner() {
        let me = Uuid::new_v4();
        let other = Uuid::new_v4();
        let of = |l: BidderLot| MyStanding::of(&l, UserId::new(me));
        assert_eq!(
            of(lot(AuctionStatus::Open, Some(me), None)),
            MyStanding::Leading
        );
        assert_eq!(
            of(lot(AuctionStatus::Scheduled, Some(other), None)),
            MyStanding::Outbid
        );
        assert_eq!(
            of(lot(AuctionStatus::Closed, Some(me), None)),
            MyStanding::Won
        );
        assert_eq!(
            of(lot(AuctionStatus::Closed, Some(other), None)),
            MyStanding::Lost
        );
        assert_eq!(
            of(lot(AuctionStatus::AwaitingPayment, Some(other), Some(me))),
            MyStanding::Won
        );
        assert_eq!(
            of(lot(AuctionStatus::Settled, Some(me), Some(other))),
            MyStanding::Lost
        );
        assert_eq!(
            of(lot(AuctionStatus::Cancelled, Some(me), Some(me))),
            MyStanding::Cancelled
        );
        assert_eq!(
            of(lot(AuctionStatus::NoSale, Some(me), None)),
            MyStanding::NoSale
        );
    }
}
