//! The settlement saga: after a sale the lot is invoiced to the winner and,
//! if they do not pay, offered down the line of bidders, each of whom may
//! accept or decline, until it is paid for or nobody is left.
//!
//! The money rules it keeps:
//! - one live way to pay per invoice: every card charge and pay link is
//!   started here and recorded on the [`Desk`](super::desk::Desk); a buyer's
//!   `/pay` gets that link, or asks this saga to make it;
//! - every verified payment is accounted for: each notice goes through
//!   `confirm_payment`, which pays the invoice or records and refunds the
//!   money; voiding at the deadline finds a just-paid invoice paid;
//! - second-chance offers oblige no one: nothing is charged until the
//!   runner-up accepts, and declining or ignoring costs them nothing;
//! - a winner who lets the window pass gets a strike (in `close_invoice`);
//! - any number of bidders is told of the end by one bulk activity.

use chrono::{DateTime, Utc};
use futures::FutureExt;
use temporalio_sdk::{
    CancellableFuture, ChildWorkflowOptions, ParentClosePolicy, WorkflowContext, WorkflowResult,
    workflows::select,
};
use uuid::Uuid;

use super::{
    desk::InvoicePhase,
    letters::{email, email_about, email_bidders, receipts, send, send_all},
    state::{Sale, SettlementHost, note_problem},
};
use crate::{
    contract::{
        sale::SaleStart,
        settlement::{
            AcceptOffer, CloseInvoice, CloseReason, EmailKind, InvoiceClosed, InvoiceRef,
            InvoiceRequest, SettlementActivities,
        },
        view::AuctionStatus,
    },
    names::{PATCH_SALE_JOURNEY_FOR_0_1, settlement_task_queue},
    sale::{SaleWorkflow, sale_workflow_id},
    steps::{db_local_options, db_options, now, payment_options, until},
};

mod payment;

/// One offer of the lot: the winner's (round 1) or a second chance.
#[derive(Debug, Clone, Copy)]
struct Offer {
    round: u32,
    buyer: Uuid,
    amount: i64,
}

/// The settlement of one sale, holding what every step needs.
pub(crate) struct Saga<H> {
    ctx: WorkflowContext<H>,
    sale: Sale,
    seller: Uuid,
    rounds: u32,
    offers_allowed: bool,
    payment_window: chrono::Duration,
    offer_window: chrono::Duration,
    /// When a failed verification is due again, and how many notices were
    /// waiting then (a new one is news: try at once).
    verify_again: Option<(DateTime<Utc>, usize)>,
}

impl<H: SettlementHost> Saga<H> {
    pub(crate) fn new(ctx: &WorkflowContext<H>, sale: Sale) -> Self {
        Self {
            ctx: ctx.clone(),
            seller: sale.seller_id,
            rounds: sale.settings.offer_rounds.max(1),
            offers_allowed: sale.second_chance_offers,
            payment_window: Sale::window(sale.settings.payment_window_secs),
            offer_window: Sale::window(sale.settings.offer_window_secs),
            verify_again: None,
            sale,
        }
    }

    /// A sale to `winner` at `price`: offered until paid for or unsold.
    pub(crate) async fn sell(mut self, winner: Uuid, price: i64) -> WorkflowResult<()> {
        let mut offered = Vec::new();
        let mut next = Some(Offer {
            round: 1,
            buyer: winner,
            amount: price,
        });
        let mut round = 1;
        while let Some(offer) = next.take() {
            round = offer.round;
            offered.push(offer.buyer);
            let invoice = self.invoice(offer).await?;
            set_status(&self.ctx, AuctionStatus::AwaitingPayment, round).await?;
            let accepted = round == 1 || self.await_consent(&invoice, offer).await?;
            if accepted {
                let paid_at_once = self.start_payment(&invoice, offer).await;
                if paid_at_once && self.ctx.state(|s| s.release_0_2()) {
                    // One batch of letters (the seller's sale, the buyer's
                    // receipt, the seller's completed sale) beside the
                    // other bidders' news, all at once.
                    self.complete_at_once(&invoice, offer, (round == 1).then_some(winner))
                        .await;
                    return self.finish(AuctionStatus::Settled, round).await;
                }
                if round == 1 {
                    // The winner hears first; then the seller and the others.
                    self.announce_sale(winner, price).await;
                }
                if paid_at_once || self.await_payment(&invoice, offer).await? {
                    self.complete(&invoice, offer).await;
                    return self.finish(AuctionStatus::Settled, round).await;
                }
            }
            if self.offers_allowed && round < self.rounds {
                next = self
                    .ctx
                    .state(|s| s.next_offer(&offered))
                    .map(|(buyer, amount)| Offer {
                        round: round + 1,
                        buyer,
                        amount,
                    });
            }
        }
        send(
            &self.ctx,
            email(&self.sale, EmailKind::Unsold, self.seller, u64::from(round)),
        )
        .await;
        self.finish(AuctionStatus::Unsold, round).await
    }

    /// No sale: the seller and every bidder are told.
    pub(crate) async fn no_sale(ctx: &WorkflowContext<H>, sale: &Sale) {
        let to_seller = send(ctx, email(sale, EmailKind::NoSale, sale.seller_id, 1));
        let to_bidders = email_bidders(ctx, sale, EmailKind::NoSale, Vec::new());
        futures::join!(to_seller, to_bidders);
    }

    /// A cancelled auction: its bidders are told (the seller or an admin
    /// cancelled it, so they know).
    pub(crate) async fn cancelled(ctx: &WorkflowContext<H>, sale: &Sale) {
        if sale.has_bids {
            email_bidders(ctx, sale, EmailKind::AuctionCancelled, Vec::new()).await;
        }
    }

    async fn invoice(&self, offer: Offer) -> WorkflowResult<InvoiceRef> {
        let at = now(&self.ctx)?;
        let is_offer = offer.round > 1;
        let due_at = at
            + if is_offer {
                self.offer_window
            } else {
                self.payment_window
            };
        let request = InvoiceRequest {
            auction_id: self.sale.auction_id,
            round: offer.round,
            buyer_id: offer.buyer,
            seller_id: self.sale.seller_id,
            currency: self.sale.currency,
            amount: offer.amount,
            title: self.sale.title.clone(),
            due_at,
            offer: is_offer,
        };
        let invoice = if self.ctx.state(|s| s.release_0_2()) {
            self.ctx
                .execute_local_activity(
                    SettlementActivities::create_invoice,
                    request,
                    db_local_options(),
                )
                .await?
        } else {
            self.ctx
                .execute_activity(SettlementActivities::create_invoice, request, db_options())
                .await?
        };
        let phase = if is_offer {
            InvoicePhase::Offered { accept_by: due_at }
        } else {
            InvoicePhase::Open
        };
        self.ctx.state_mut(|s| {
            s.settlement_mut()
                .desk
                .track(invoice.invoice_id, offer.buyer, phase)
        });
        Ok(invoice)
    }

    /// A second-chance offer: the runner-up is told it is optional and has
    /// until the accept-by time; `true` once they accept.
    async fn await_consent(&mut self, invoice: &InvoiceRef, offer: Offer) -> WorkflowResult<bool> {
        let accept_by = match self.ctx.state(|s| {
            s.settlement()
                .desk
                .invoice(invoice.invoice_id)
                .map(|i| i.phase)
        }) {
            Some(InvoicePhase::Offered { accept_by }) => accept_by,
            _ => return Ok(true),
        };
        let mut letter = email_about(
            &self.sale,
            EmailKind::SecondChance,
            offer.buyer,
            offer.round,
            invoice,
        );
        letter.amount = Some(invoice.total);
        send(&self.ctx, letter).await;
        loop {
            self.handle_notices(None, false).await?;
            if let Some(answer) = self
                .ctx
                .state_mut(|s| s.settlement_mut().desk.take_answer(invoice.invoice_id))
            {
                if answer.accept {
                    let due_at = now(&self.ctx)? + self.payment_window;
                    let accepted = AcceptOffer {
                        invoice_id: invoice.invoice_id,
                        due_at,
                    };
                    if self.ctx.state(|s| s.release_0_2()) {
                        self.ctx
                            .execute_local_activity(
                                SettlementActivities::accept_offer,
                                accepted,
                                db_local_options(),
                            )
                            .await?;
                    } else {
                        self.ctx
                            .execute_activity(
                                SettlementActivities::accept_offer,
                                accepted,
                                db_options(),
                            )
                            .await?;
                    }
                    self.ctx.state_mut(|s| {
                        s.settlement_mut()
                            .desk
                            .set_phase(invoice.invoice_id, InvoicePhase::Open)
                    });
                    return Ok(true);
                }
                self.close(invoice, CloseReason::Declined).await?;
                return Ok(false);
            }
            if now(&self.ctx)? >= accept_by {
                self.close(invoice, CloseReason::Expired).await?;
                return Ok(false);
            }
            self.pause(accept_by, Some(invoice.invoice_id)).await;
        }
    }

    /// Closes an unpaid invoice or offer (void with a strike, declined, or
    /// lapsed), or finds it paid.
    async fn close(
        &self,
        invoice: &InvoiceRef,
        reason: CloseReason,
    ) -> WorkflowResult<InvoiceClosed> {
        let closed = self
            .ctx
            .execute_activity(
                SettlementActivities::close_invoice,
                CloseInvoice {
                    invoice_id: invoice.invoice_id,
                    reason,
                },
                payment_options(),
            )
            .await?;
        let phase = match closed {
            InvoiceClosed::AlreadyPaid => InvoicePhase::Paid,
            InvoiceClosed::Closed => InvoicePhase::Closed { reason },
        };
        self.ctx
            .state_mut(|s| s.settlement_mut().desk.set_phase(invoice.invoice_id, phase));
        Ok(closed)
    }

    /// Sleeps until `wake`, or until news: a payment notice, a request for a
    /// pay link, or an answer to the offer on `offer`.
    async fn pause(&self, wake: DateTime<Utc>, offer: Option<Uuid>) {
        let Ok(at) = now(&self.ctx) else {
            return;
        };
        let seen = self.ctx.state(|s| s.settlement().notices.len());
        let timer = self.ctx.timer(until(at, wake));
        futures::pin_mut!(timer);
        select! {
            _ = timer => {}
            _ = self.ctx.wait_condition(|s| {
                s.settlement().notices.len() > seen
                    || s.settlement().desk.link_wanted
                    || offer.is_some_and(|id| s.settlement().desk.has_answer(id))
            }).fuse() => timer.cancel(),
        }
    }

    /// The seller hears the lot sold; every other bidder that it has ended.
    async fn announce_sale(&self, winner: Uuid, price: i64) {
        let mut sold = email(&self.sale, EmailKind::Sold, self.seller, 1);
        sold.amount = Some(price);
        futures::join!(
            send(&self.ctx, sold),
            email_bidders(&self.ctx, &self.sale, EmailKind::AuctionLost, vec![winner])
        );
    }

    /// Receipts: the buyer's and the seller's.
    async fn complete(&self, invoice: &InvoiceRef, offer: Offer) {
        let [receipt, completed] = receipts(&self.sale, invoice, offer.buyer, offer.round);
        futures::join!(send(&self.ctx, receipt), send(&self.ctx, completed));
        // A 0.1.0 run paid after the upgrade goes on too (its seller is
        // paid out by Gavel): the one patch asked for late in a run.
        if self.ctx.state(|s| s.release_0_2()) || self.ctx.patched(PATCH_SALE_JOURNEY_FOR_0_1) {
            self.start_journey(invoice, offer).await;
        }
    }

    /// A sale paid the moment it was made (a stored card): the seller's
    /// "sold" (for the winner's round), both receipts and the other
    /// bidders' news go out together, then the sale's journey starts.
    async fn complete_at_once(&self, invoice: &InvoiceRef, offer: Offer, winner: Option<Uuid>) {
        let mut letters = Vec::with_capacity(3);
        if winner.is_some() {
            let mut sold = email(&self.sale, EmailKind::Sold, self.seller, 1);
            sold.amount = Some(offer.amount);
            letters.push(sold);
        }
        letters.extend(receipts(&self.sale, invoice, offer.buyer, offer.round));
        let others = async {
            if let Some(winner) = winner {
                email_bidders(&self.ctx, &self.sale, EmailKind::AuctionLost, vec![winner]).await;
            }
        };
        futures::join!(send_all(&self.ctx, letters), others);
        self.start_journey(invoice, offer).await;
    }

    /// The paid sale goes on as its own workflow (shipping, receipt, claims,
    /// payout), left running when this one ends. Its id is the invoice's, so
    /// it is started once whatever happens here.
    async fn start_journey(&self, invoice: &InvoiceRef, offer: Offer) {
        let start = SaleStart {
            invoice_id: invoice.invoice_id,
            auction_id: self.sale.auction_id,
            seller_id: self.seller,
            buyer_id: offer.buyer,
            currency: self.sale.currency,
            amount: invoice.total,
            terms: self.sale.settings.journey,
        };
        let options = ChildWorkflowOptions::builder()
            .workflow_id(sale_workflow_id(invoice.invoice_id))
            // The settlement queue, also for a 0.1.0 run paid after the
            // upgrade (a journey lasts weeks: off the auctions' queue).
            .task_queue(settlement_task_queue(self.ctx.task_queue()))
            .parent_close_policy(ParentClosePolicy::Abandon)
            .build();
        if let Err(err) = self
            .ctx
            .start_child_workflow(SaleWorkflow::run, start, options)
            .await
        {
            note_problem(
                &self.ctx,
                format!("the sale's workflow did not start: {err}"),
            );
        }
    }

    /// Publishes the final status, then accounts for every payment notice
    /// still waiting (late money is refunded before the workflow ends).
    async fn finish(mut self, status: AuctionStatus, round: u32) -> WorkflowResult<()> {
        set_status(&self.ctx, status, round).await?;
        while self.ctx.state(|s| !s.settlement().notices.is_empty()) {
            self.handle_notices(None, true).await?;
            if let Some((again, _)) = self.verify_again {
                self.pause(again, None).await;
            }
        }
        Ok(())
    }
}

/// Settlement moved on: its status is recorded, then published and indexed
/// by the workflow.
async fn set_status<H: SettlementHost>(
    ctx: &WorkflowContext<H>,
    status: AuctionStatus,
    round: u32,
) -> WorkflowResult<()> {
    let at = now(ctx)?;
    ctx.state_mut(|s| s.settlement_mut().status = Some(status));
    H::publish_status(ctx, status, round, at).await
}
