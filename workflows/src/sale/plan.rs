//! The next step of a sale, decided from its row and the deadlines the
//! workflow set: pure, so every path is a unit test.

use chrono::{DateTime, Utc};

use crate::contract::sale::{ClaimState, Deadline, PayoutState, SaleStage, SaleView};

/// The deadlines the workflow set as it saw the sale move (workflow time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Clock {
    pub ship_by: Option<DateTime<Utc>>,
    /// When receipt is assumed (set when the workflow first sees `shipped`).
    pub receipt_at: Option<DateTime<Utc>>,
    /// When claims close (set when the workflow first sees `received`).
    pub claims_until: Option<DateTime<Utc>>,
    /// When the seller's answer is due (set when it first sees the claim).
    pub answer_by: Option<DateTime<Utc>>,
}

/// What the workflow does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Ask Paystack for these refunds of the ledger.
    AskRefunds(Vec<i64>),
    /// Apply a deadline now.
    Apply(Deadline),
    /// Wait for a nudge, or until the time, then apply the deadline.
    Wait(Option<(DateTime<Utc>, Deadline)>),
    /// Claims are closed: pay the seller.
    Payout,
    /// Nothing is left to do.
    Done,
}

pub(crate) fn next_step(view: &SaleView, clock: &Clock, claim_window: chrono::Duration) -> Step {
    if !view.refunds_to_ask.is_empty() {
        return Step::AskRefunds(view.refunds_to_ask.clone());
    }
    if matches!(
        view.payout,
        PayoutState::Paid | PayoutState::Failed | PayoutState::Cancelled
    ) {
        return Step::Done;
    }
    let claim = view.claim.as_ref().map(|c| c.state);
    match view.stage {
        SaleStage::CancelledUnshipped => Step::Done,
        SaleStage::Closed => Step::Payout,
        SaleStage::AwaitingShipment => Step::Wait(clock.ship_by.map(|at| (at, Deadline::ShipBy))),
        SaleStage::Shipped | SaleStage::Received => match claim {
            // A settled claim closes the claims: the payout goes ahead at once.
            Some(state) if state.settled() => Step::Apply(Deadline::Claims),
            Some(ClaimState::Open) => {
                Step::Wait(clock.answer_by.map(|at| (at, Deadline::ClaimAnswer)))
            }
            // Contested or unanswered: an admin decides; the clock stops.
            Some(_) => Step::Wait(None),
            None if view.stage == SaleStage::Shipped => Step::Wait(clock.receipt_at.map(|at| {
                (
                    at,
                    Deadline::Delivery {
                        claims_until: at + claim_window,
                    },
                )
            })),
            None => Step::Wait(clock.claims_until.map(|at| (at, Deadline::Claims))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::sale::ClaimView;

    fn view(stage: SaleStage) -> SaleView {
        SaleView {
            stage,
            claim: None,
            refunds_to_ask: Vec::new(),
            disputed: false,
            payout: PayoutState::Held,
            attempts: 0,
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn clock() -> Clock {
        Clock {
            ship_by: Some(at(10)),
            receipt_at: Some(at(20)),
            claims_until: Some(at(30)),
            answer_by: Some(at(40)),
        }
    }

    const WINDOW: chrono::Duration = chrono::Duration::seconds(5);

    #[test]
    fn each_stage_waits_for_its_deadline() {
        assert_eq!(
            next_step(&view(SaleStage::AwaitingShipment), &clock(), WINDOW),
            Step::Wait(Some((at(10), Deadline::ShipBy)))
        );
        assert_eq!(
            next_step(&view(SaleStage::Shipped), &clock(), WINDOW),
            Step::Wait(Some((
                at(20),
                Deadline::Delivery {
                    claims_until: at(25)
                }
            )))
        );
        assert_eq!(
            next_step(&view(SaleStage::Received), &clock(), WINDOW),
            Step::Wait(Some((at(30), Deadline::Claims)))
        );
        assert_eq!(
            next_step(&view(SaleStage::Closed), &clock(), WINDOW),
            Step::Payout
        );
        assert_eq!(
            next_step(&view(SaleStage::CancelledUnshipped), &clock(), WINDOW),
            Step::Done
        );
    }

    #[test]
    fn a_claim_stops_the_clock_until_it_is_settled() {
        let mut sale = view(SaleStage::Received);
        let mut claim = ClaimView {
            id: 1,
            state: ClaimState::Open,
        };
        sale.claim = Some(claim.clone());
        assert_eq!(
            next_step(&sale, &clock(), WINDOW),
            Step::Wait(Some((at(40), Deadline::ClaimAnswer)))
        );
        for state in [ClaimState::Contested, ClaimState::Unanswered] {
            claim.state = state;
            sale.claim = Some(claim.clone());
            assert_eq!(next_step(&sale, &clock(), WINDOW), Step::Wait(None));
        }
        for state in [ClaimState::Accepted, ClaimState::Decided] {
            claim.state = state;
            sale.claim = Some(claim.clone());
            assert_eq!(
                next_step(&sale, &clock(), WINDOW),
                Step::Apply(Deadline::Claims)
            );
        }
        // A claim before receipt stops the delivery clock too.
        sale.stage = SaleStage::Shipped;
        claim.state = ClaimState::Contested;
        sale.claim = Some(claim);
        assert_eq!(next_step(&sale, &clock(), WINDOW), Step::Wait(None));
    }

    #[test]
    fn refunds_are_asked_first_and_a_finished_payout_ends_it() {
        let mut sale = view(SaleStage::CancelledUnshipped);
        sale.refunds_to_ask = vec![7];
        assert_eq!(
            next_step(&sale, &clock(), WINDOW),
            Step::AskRefunds(vec![7])
        );
        let mut sale = view(SaleStage::Closed);
        for done in [
            PayoutState::Paid,
            PayoutState::Failed,
            PayoutState::Cancelled,
        ] {
            sale.payout = done;
            assert_eq!(next_step(&sale, &clock(), WINDOW), Step::Done);
        }
    }
}
