//! Collecting one invoice's money: its one way to pay (a stored card
//! charged, else a pay link), the wait for payment with its reminder and
//! deadline, pending card checks, and every payment notice confirmed
//! whichever invoice it names. The rounds around it are the saga's.

use temporalio_sdk::WorkflowResult;
use uuid::Uuid;

use super::{Offer, Saga};
use crate::{
    contract::settlement::{
        BeginPayment, CloseReason, Confirmation, EmailKind, InvoiceClosed, InvoiceRef,
        PaymentNotice, PaymentOpened, PaymentSource, SettlementActivities,
    },
    settlement::{
        desk::{InvoicePhase, PaymentState},
        letters::{email, email_about, send},
        state::SettlementHost,
    },
    steps::{failure_summary, now, payment_options},
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

impl<H: SettlementHost> Saga<H> {
    /// Starts the invoice's one way to pay (stored card first) and tells the
    /// buyer how to pay; `true` when the card paid at once.
    pub(super) async fn start_payment(&mut self, invoice: &InvoiceRef, offer: Offer) -> bool {
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
    pub(super) async fn begin(
        &self,
        invoice: &InvoiceRef,
        stored_card: bool,
    ) -> Option<PaymentOpened> {
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
    pub(super) async fn await_payment(
        &mut self,
        invoice: &InvoiceRef,
        offer: Offer,
    ) -> WorkflowResult<bool> {
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
    pub(super) fn check_card(&self, invoice: &InvoiceRef) -> bool {
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
    pub(super) async fn open_link(
        &mut self,
        invoice: &InvoiceRef,
        offer: Offer,
        tell: bool,
    ) -> bool {
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
    pub(super) async fn handle_notices(
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
}
