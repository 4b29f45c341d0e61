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
    desk::{InvoicePhase, PaymentState},
    letters::{email, email_about, email_bidders, off_path_queue, receipts, send, send_all},
    state::{Sale, SettlementHost, note_problem},
};
use crate::{
    contract::{
        sale::SaleStart,
        settlement::{
            AcceptOffer, BeginPayment, CloseInvoice, CloseReason, Confirmation, EmailKind,
            InvoiceClosed, InvoiceRef, InvoiceRequest, PaymentNotice, PaymentOpened, PaymentSource,
            SettlementActivities,
        },
        view::AuctionStatus,
    },
    names::PATCH_SALE_JOURNEY,
    sale::{SaleWorkflow, sale_workflow_id},
    steps::{db_local_options, db_options, failure_summary, now, payment_options, until},
};

/// How soon a pending card charge is first checked with Paystack, and how
/// often after that (Paystack suggests waiting at least 10 s).
const CARD_CHECK_FIRST: chrono::Duration = chrono::Duration::minutes(1);
const CARD_CHECK_EVERY: chrono::Duration = chrono::Duration::minutes(5);
/// A verification that failed outright (Paystack down past every retry) is
/// tried again this much later, at once on news, and at the deadline.
const VERIFY_AGAIN_AFTER: chrono::Duration = chrono::Duration::minutes(5);
/// Paystack statuses after which a pending card charge will never pay.
const CHARGE_DEAD: [&str; 3] = ["failed", "abandoned", "reversed"];

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
                if paid_at_once && self.ctx.state(|s| s.lean()) {
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
        let invoice = if self.ctx.state(|s| s.lean()) {
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
                    if self.ctx.state(|s| s.lean()) {
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

    /// Starts the invoice's one way to pay (stored card first) and tells the
    /// buyer how to pay; `true` when the card paid at once.
    async fn start_payment(&mut self, invoice: &InvoiceRef, offer: Offer) -> bool {
        let opened = match self.begin(invoice, true).await {
            Some(PaymentOpened::Charged) => return true,
            Some(opened) => opened,
            // Paystack is down or refuses the key (visible in the history);
            // `/pay` tries again, and offline payment still works.
            None => PaymentOpened::OfflineOnly,
        };
        let kind = if offer.round == 1 {
            EmailKind::Won
        } else {
            EmailKind::OfferAccepted
        };
        let mut letter = email_about(&self.sale, kind, offer.buyer, offer.round, invoice);
        match opened {
            PaymentOpened::PayLink {
                authorization_url, ..
            } => letter.pay_link = Some(authorization_url),
            PaymentOpened::CardPending { .. } => letter.card_pending = true,
            PaymentOpened::Charged | PaymentOpened::OfflineOnly => {}
        }
        send(&self.ctx, letter).await;
        false
    }

    /// `begin_payment`, recorded on the desk; `None` when it failed.
    async fn begin(&self, invoice: &InvoiceRef, stored_card: bool) -> Option<PaymentOpened> {
        let request = BeginPayment {
            invoice_id: invoice.invoice_id,
            stored_card,
        };
        let started = self
            .ctx
            .execute_activity(
                SettlementActivities::begin_payment,
                request,
                payment_options(),
            )
            .await;
        self.ctx.state_mut(|s| {
            s.settlement_mut().desk.link_attempts += 1;
            s.settlement_mut().desk.version += 1;
            match &started {
                Ok(PaymentOpened::Charged) => s
                    .settlement_mut()
                    .desk
                    .set_phase(invoice.invoice_id, InvoicePhase::Paid),
                Ok(opened) => s
                    .settlement_mut()
                    .desk
                    .set_payment(invoice.invoice_id, opened.into()),
                Err(err) => {
                    s.settlement_mut().problem = Some(format!("payment: {}", failure_summary(err)));
                }
            }
        });
        started.ok()
    }

    /// Waits for the invoice to be paid, reminding halfway through the
    /// window; at the deadline voids it unless it was paid. `true` when paid.
    async fn await_payment(&mut self, invoice: &InvoiceRef, offer: Offer) -> WorkflowResult<bool> {
        let started = now(&self.ctx)?;
        let reminder_at = started + self.payment_window / 2;
        let deadline = started + self.payment_window;
        let mut reminded = false;
        let mut card_check_at = self
            .ctx
            .state(|s| {
                s.settlement()
                    .desk
                    .pending_card(invoice.invoice_id)
                    .is_some()
            })
            .then(|| started + CARD_CHECK_FIRST);
        loop {
            if self.ctx.state(|s| s.settlement().desk.link_wanted)
                && self.open_link(invoice, offer, false).await
            {
                return Ok(true);
            }
            let at = now(&self.ctx)?;
            if let Some(due) = card_check_at.filter(|due| at >= *due) {
                card_check_at = self.check_card(invoice).then(|| due + CARD_CHECK_EVERY);
            }
            // At the deadline a kept notice gets one last try.
            let last_try = at >= deadline;
            if self
                .handle_notices(Some(invoice.invoice_id), last_try)
                .await?
            {
                return Ok(true);
            }
            if card_check_at.is_some()
                && self.ctx.state(|s| {
                    s.settlement()
                        .desk
                        .pending_card(invoice.invoice_id)
                        .is_none()
                })
            {
                // The charge failed: the buyer gets a pay link instead.
                card_check_at = None;
                if self.open_link(invoice, offer, true).await {
                    return Ok(true);
                }
            }
            let at = now(&self.ctx)?;
            if at >= deadline {
                return Ok(
                    self.close(invoice, CloseReason::Unpaid).await? == InvoiceClosed::AlreadyPaid
                );
            }
            if !reminded && at >= reminder_at {
                reminded = true;
                let mut reminder = email_about(
                    &self.sale,
                    EmailKind::PaymentReminder,
                    offer.buyer,
                    offer.round,
                    invoice,
                );
                reminder.pay_link = self.ctx.state(|s| {
                    match s
                        .settlement()
                        .desk
                        .invoice(invoice.invoice_id)
                        .map(|i| &i.payment)
                    {
                        Some(PaymentState::PayLink {
                            authorization_url, ..
                        }) => Some(authorization_url.clone()),
                        _ => None,
                    }
                });
                send(&self.ctx, reminder).await;
                continue;
            }
            let mut wake = if reminded { deadline } else { reminder_at };
            for other in [card_check_at, self.verify_again.map(|(again, _)| again)]
                .into_iter()
                .flatten()
            {
                wake = wake.min(other);
            }
            self.pause(wake, None).await;
        }
    }

    /// Queues a check of the pending card charge with Paystack; `false`
    /// when there is no pending charge any more.
    fn check_card(&self, invoice: &InvoiceRef) -> bool {
        self.ctx.state_mut(|s| {
            let Some(reference) = s
                .settlement_mut()
                .desk
                .pending_card(invoice.invoice_id)
                .map(str::to_owned)
            else {
                return false;
            };
            s.settlement_mut().notices.push(PaymentNotice {
                invoice_id: invoice.invoice_id,
                source: PaymentSource::Paystack { reference },
            });
            true
        })
    }

    /// Makes the invoice's pay link (asked for by `/pay`, or after a failed
    /// card charge) and, when `tell` is set, emails it. `true` when it turned
    /// out to be paid already.
    async fn open_link(&mut self, invoice: &InvoiceRef, offer: Offer, tell: bool) -> bool {
        let started = self.ctx.state_mut(|s| {
            s.settlement_mut().desk.link_wanted = false;
            s.settlement()
                .desk
                .invoice(invoice.invoice_id)
                .is_some_and(|i| i.payment != PaymentState::NotStarted)
        });
        if started {
            // Made meanwhile (or a card charge is pending): nothing to add.
            return false;
        }
        match self.begin(invoice, false).await {
            Some(PaymentOpened::Charged) => true,
            Some(PaymentOpened::PayLink {
                authorization_url, ..
            }) if tell => {
                let mut letter = email_about(
                    &self.sale,
                    EmailKind::PayLink,
                    offer.buyer,
                    offer.round,
                    invoice,
                );
                letter.pay_link = Some(authorization_url);
                send(&self.ctx, letter).await;
                false
            }
            _ => false,
        }
    }

    /// Confirms every waiting payment notice (whichever invoice it names);
    /// `true` when `current` is now paid. A verification that fails outright
    /// keeps its notice for later.
    async fn handle_notices(
        &mut self,
        current: Option<Uuid>,
        last_try: bool,
    ) -> WorkflowResult<bool> {
        let at = now(&self.ctx)?;
        let waiting = self.ctx.state(|s| s.settlement().notices.len());
        if let Some((again, seen)) = self.verify_again {
            if waiting <= seen && at < again && !last_try {
                return Ok(false);
            }
            self.verify_again = None;
        }
        let mut paid = false;
        while let Some(notice) = self.ctx.state_mut(|s| {
            (!s.settlement_mut().notices.is_empty()).then(|| s.settlement_mut().notices.remove(0))
        }) {
            let confirmed = self
                .ctx
                .execute_activity(
                    SettlementActivities::confirm_payment,
                    notice.clone(),
                    payment_options(),
                )
                .await;
            match confirmed {
                Ok(Confirmation::Paid { invoice_id }) => {
                    self.ctx.state_mut(|s| {
                        s.settlement_mut()
                            .desk
                            .set_phase(invoice_id, InvoicePhase::Paid)
                    });
                    if Some(invoice_id) == current {
                        paid = true;
                        break;
                    }
                }
                Ok(Confirmation::Refunded {
                    invoice_id,
                    payer_id,
                    payment_id,
                    amount,
                    reason,
                }) => {
                    let mut letter = email(&self.sale, EmailKind::Refund, payer_id, payment_id);
                    letter.invoice_id = Some(invoice_id);
                    letter.amount = Some(amount);
                    self.ctx.state_mut(|s| {
                        s.settlement_mut().problem = Some(format!("refunded {amount}: {reason}"));
                    });
                    send(&self.ctx, letter).await;
                }
                Ok(Confirmation::NotPaid { reason, status }) => {
                    self.ctx.state_mut(|s| {
                        let card = s
                            .settlement_mut()
                            .desk
                            .pending_card(notice.invoice_id)
                            .map(str::to_owned);
                        let named = match &notice.source {
                            PaymentSource::Paystack { reference } => Some(reference.clone()),
                            PaymentSource::Offline { .. } => None,
                        };
                        if card.is_some()
                            && card == named
                            && status
                                .as_deref()
                                .is_some_and(|st| CHARGE_DEAD.contains(&st))
                        {
                            s.settlement_mut()
                                .desk
                                .set_payment(notice.invoice_id, PaymentState::NotStarted);
                        }
                        s.settlement_mut().problem = Some(format!("not paid: {reason}"));
                    });
                }
                Ok(Confirmation::Refused { reason }) => {
                    let at = now(&self.ctx).ok();
                    self.ctx.state_mut(|s| {
                        s.settlement_mut().problem = Some(format!("refused: {reason}"));
                        s.refuse("payment_received", reason, at);
                    });
                }
                Err(err) => {
                    let again = now(&self.ctx)? + VERIFY_AGAIN_AFTER;
                    let waiting = self.ctx.state_mut(|s| {
                        s.settlement_mut().problem =
                            Some(format!("verify: {}", failure_summary(&err)));
                        s.settlement_mut().notices.insert(0, notice);
                        s.settlement_mut().notices.len()
                    });
                    self.verify_again = Some((again, waiting));
                    break;
                }
            }
        }
        Ok(paid)
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
        if self.ctx.patched(PATCH_SALE_JOURNEY) {
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
            // Named, not left empty: not every server defaults it to ours.
            .task_queue(off_path_queue(&self.ctx))
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
