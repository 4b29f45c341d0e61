//! The payment desk: what the workflow knows about each invoice of its
//! settlement, and the answers it gives buyers who ask to pay or answer an
//! offer. Pure state and checks, so the update validators and the saga read
//! the same facts and the rules are unit-tested without Temporal.
//!
//! The desk is how "one live way to pay per invoice" holds: every pay link
//! and card charge is started by the saga and recorded here, and a buyer's
//! `/pay` gets what is recorded (or asks the saga to make the one link).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::contract::settlement::{CloseReason, PaymentOpened};

/// `request_payment`: a buyer asks how to pay an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRequest {
    pub invoice_id: Uuid,
    pub buyer_id: Uuid,
}

/// The answer to a payment request: the invoice's one checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayLink {
    pub authorization_url: String,
    pub reference: String,
}

/// `answer_offer`: a runner-up accepts or declines a second-chance offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferAnswer {
    pub invoice_id: Uuid,
    pub buyer_id: Uuid,
    pub accept: bool,
}

/// What became of an answered offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferOutcome {
    Accepted,
    Declined,
}

/// Why the desk refused a request. Codes are part of the public API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum PaymentRefusal {
    #[error("only the buyer may do this")]
    NotTheBuyer,
    #[error("this invoice is not open for payment in this auction any more")]
    InvoiceNotCurrent,
    #[error("this invoice is paid")]
    InvoicePaid,
    #[error("this invoice is void: the payment window passed")]
    InvoiceVoid,
    #[error("this offer was declined")]
    OfferDeclined,
    #[error("this offer lapsed unanswered")]
    OfferExpired,
    #[error("accept the offer before paying it (it stands until {accept_by})")]
    OfferNotAccepted { accept_by: DateTime<Utc> },
    #[error("this invoice is not an offer")]
    NotAnOffer,
    #[error("your saved card is being charged; wait for the result before paying another way")]
    PaymentPending,
    #[error("online payment is not configured; pay offline (ask the seller or an admin)")]
    PaymentsNotConfigured,
    #[error("Paystack could not make a pay link just now; retry shortly")]
    PaymentUnavailable,
}

impl PaymentRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            PaymentRefusal::NotTheBuyer => "not_the_buyer",
            PaymentRefusal::InvoiceNotCurrent => "invoice_not_current",
            PaymentRefusal::InvoicePaid => "invoice_paid",
            PaymentRefusal::InvoiceVoid => "invoice_void",
            PaymentRefusal::OfferDeclined => "offer_declined",
            PaymentRefusal::OfferExpired => "offer_expired",
            PaymentRefusal::OfferNotAccepted { .. } => "offer_not_accepted",
            PaymentRefusal::NotAnOffer => "not_an_offer",
            PaymentRefusal::PaymentPending => "payment_pending",
            PaymentRefusal::PaymentsNotConfigured => "payments_not_configured",
            PaymentRefusal::PaymentUnavailable => "payment_unavailable",
        }
    }
}

/// Where an invoice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum InvoicePhase {
    /// A second-chance offer waiting for its answer.
    Offered {
        accept_by: DateTime<Utc>,
    },
    Open,
    Paid,
    Closed {
        reason: CloseReason,
    },
}

/// How an open invoice can be paid right now.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PaymentState {
    /// Nothing started yet (or the start failed): the saga makes a link
    /// when asked.
    #[default]
    NotStarted,
    PayLink {
        authorization_url: String,
        reference: String,
    },
    CardPending {
        reference: String,
    },
    OfflineOnly,
}

impl From<&PaymentOpened> for PaymentState {
    fn from(opened: &PaymentOpened) -> Self {
        match opened {
            PaymentOpened::PayLink {
                authorization_url,
                reference,
            } => PaymentState::PayLink {
                authorization_url: authorization_url.clone(),
                reference: reference.clone(),
            },
            PaymentOpened::CardPending { reference } => PaymentState::CardPending {
                reference: reference.clone(),
            },
            PaymentOpened::OfflineOnly => PaymentState::OfflineOnly,
            PaymentOpened::Charged => PaymentState::NotStarted,
        }
    }
}

/// One invoice of this settlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeskInvoice {
    pub invoice_id: Uuid,
    pub buyer_id: Uuid,
    /// Made as a second-chance offer (so it may be accepted).
    pub offer: bool,
    pub phase: InvoicePhase,
    pub payment: PaymentState,
}

/// Every invoice of the settlement and what buyers have asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desk {
    invoices: Vec<DeskInvoice>,
    /// A buyer asked for a pay link that does not exist yet.
    pub link_wanted: bool,
    /// Pay links the saga tried to make on request (waiting handlers see
    /// their attempt finish, whatever it came to).
    pub link_attempts: u64,
    /// Offer answers the saga has not acted on yet.
    answers: Vec<OfferAnswer>,
    /// Bumped on every change, so waiting handlers wake.
    pub version: u64,
}

impl Desk {
    fn find(&self, invoice_id: Uuid) -> Option<&DeskInvoice> {
        self.invoices.iter().find(|i| i.invoice_id == invoice_id)
    }

    fn find_mut(&mut self, invoice_id: Uuid) -> Option<&mut DeskInvoice> {
        self.version += 1;
        self.invoices
            .iter_mut()
            .find(|i| i.invoice_id == invoice_id)
    }

    /// A new invoice of this settlement.
    pub fn track(&mut self, invoice_id: Uuid, buyer_id: Uuid, phase: InvoicePhase) {
        self.version += 1;
        if self.find(invoice_id).is_none() {
            self.invoices.push(DeskInvoice {
                invoice_id,
                buyer_id,
                offer: matches!(phase, InvoicePhase::Offered { .. }),
                phase,
                payment: PaymentState::NotStarted,
            });
        }
    }

    pub fn set_phase(&mut self, invoice_id: Uuid, phase: InvoicePhase) {
        if let Some(invoice) = self.find_mut(invoice_id) {
            invoice.phase = phase;
        }
    }

    pub fn set_payment(&mut self, invoice_id: Uuid, payment: PaymentState) {
        if let Some(invoice) = self.find_mut(invoice_id) {
            invoice.payment = payment;
        }
    }

    pub fn invoice(&self, invoice_id: Uuid) -> Option<&DeskInvoice> {
        self.find(invoice_id)
    }

    /// The reference of a card charge still pending on `invoice_id`.
    pub fn pending_card(&self, invoice_id: Uuid) -> Option<&str> {
        match &self.find(invoice_id)?.payment {
            PaymentState::CardPending { reference } => Some(reference),
            _ => None,
        }
    }

    /// The answer to a payment request: `Ok(Some(link))` to give now,
    /// `Ok(None)` when the link is still to be made, or why not.
    pub fn check_payment(
        &self,
        request: &PaymentRequest,
    ) -> Result<Option<PayLink>, PaymentRefusal> {
        let invoice = self
            .find(request.invoice_id)
            .ok_or(PaymentRefusal::InvoiceNotCurrent)?;
        if invoice.buyer_id != request.buyer_id {
            return Err(PaymentRefusal::NotTheBuyer);
        }
        match invoice.phase {
            InvoicePhase::Offered { accept_by } => {
                Err(PaymentRefusal::OfferNotAccepted { accept_by })
            }
            InvoicePhase::Paid => Err(PaymentRefusal::InvoicePaid),
            InvoicePhase::Closed { reason } => Err(closed(reason)),
            InvoicePhase::Open => match &invoice.payment {
                PaymentState::PayLink {
                    authorization_url,
                    reference,
                } => Ok(Some(PayLink {
                    authorization_url: authorization_url.clone(),
                    reference: reference.clone(),
                })),
                PaymentState::CardPending { .. } => Err(PaymentRefusal::PaymentPending),
                PaymentState::OfflineOnly => Err(PaymentRefusal::PaymentsNotConfigured),
                PaymentState::NotStarted => Ok(None),
            },
        }
    }

    /// The outcome of an offer answer: `Ok(Some(_))` when already decided
    /// (a repeated answer gets the same outcome), `Ok(None)` while the saga
    /// has yet to act on it, or why the answer is refused.
    pub fn check_answer(
        &self,
        answer: &OfferAnswer,
    ) -> Result<Option<OfferOutcome>, PaymentRefusal> {
        let invoice = self
            .find(answer.invoice_id)
            .ok_or(PaymentRefusal::InvoiceNotCurrent)?;
        if invoice.buyer_id != answer.buyer_id {
            return Err(PaymentRefusal::NotTheBuyer);
        }
        if !invoice.offer {
            return Err(PaymentRefusal::NotAnOffer);
        }
        match (invoice.phase, answer.accept) {
            (InvoicePhase::Offered { .. }, _) => Ok(None),
            (InvoicePhase::Open | InvoicePhase::Paid, true) => Ok(Some(OfferOutcome::Accepted)),
            (
                InvoicePhase::Closed {
                    reason: CloseReason::Declined,
                },
                false,
            ) => Ok(Some(OfferOutcome::Declined)),
            (InvoicePhase::Open | InvoicePhase::Paid, false) => Err(PaymentRefusal::NotAnOffer),
            (InvoicePhase::Closed { reason }, _) => Err(closed(reason)),
        }
    }

    /// Queues an answer for the saga (once per invoice).
    pub fn answer(&mut self, answer: OfferAnswer) {
        self.version += 1;
        if !self
            .answers
            .iter()
            .any(|a| a.invoice_id == answer.invoice_id)
        {
            self.answers.push(answer);
        }
    }

    /// The first queued answer for `invoice_id`, taken off the queue.
    pub fn take_answer(&mut self, invoice_id: Uuid) -> Option<OfferAnswer> {
        let index = self
            .answers
            .iter()
            .position(|a| a.invoice_id == invoice_id)?;
        self.version += 1;
        Some(self.answers.remove(index))
    }

    pub fn has_answer(&self, invoice_id: Uuid) -> bool {
        self.answers.iter().any(|a| a.invoice_id == invoice_id)
    }
}

fn closed(reason: CloseReason) -> PaymentRefusal {
    match reason {
        CloseReason::Unpaid => PaymentRefusal::InvoiceVoid,
        CloseReason::Declined => PaymentRefusal::OfferDeclined,
        CloseReason::Expired => PaymentRefusal::OfferExpired,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const INVOICE: Uuid = Uuid::from_u128(10);
    const OFFER: Uuid = Uuid::from_u128(11);
    const ADA: Uuid = Uuid::from_u128(2);
    const BOLA: Uuid = Uuid::from_u128(3);

    fn request(invoice_id: Uuid, buyer_id: Uuid) -> PaymentRequest {
        PaymentRequest {
            invoice_id,
            buyer_id,
        }
    }

    fn link() -> PaymentState {
        PaymentState::PayLink {
            authorization_url: "https://checkout.paystack.com/x".into(),
            reference: "gavel-x".into(),
        }
    }

    #[test]
    fn the_buyer_gets_the_one_link_and_nobody_else_gets_anything() {
        let mut desk = Desk::default();
        desk.track(INVOICE, ADA, InvoicePhase::Open);
        assert_eq!(
            desk.check_payment(&request(INVOICE, ADA)),
            Ok(None),
            "not made yet"
        );
        desk.set_payment(INVOICE, link());
        let given = desk.check_payment(&request(INVOICE, ADA)).unwrap().unwrap();
        assert_eq!(given.reference, "gavel-x");
        assert_eq!(
            desk.check_payment(&request(INVOICE, ADA)).unwrap().unwrap(),
            given,
            "the same link every time"
        );
        assert_eq!(
            desk.check_payment(&request(INVOICE, BOLA)),
            Err(PaymentRefusal::NotTheBuyer)
        );
        assert_eq!(
            desk.check_payment(&request(Uuid::from_u128(99), ADA)),
            Err(PaymentRefusal::InvoiceNotCurrent)
        );
    }

    #[test]
    fn a_pending_card_or_no_paystack_means_no_link() {
        let mut desk = Desk::default();
        desk.track(INVOICE, ADA, InvoicePhase::Open);
        desk.set_payment(
            INVOICE,
            PaymentState::CardPending {
                reference: "gavel-x".into(),
            },
        );
        assert_eq!(
            desk.check_payment(&request(INVOICE, ADA)),
            Err(PaymentRefusal::PaymentPending)
        );
        assert_eq!(desk.pending_card(INVOICE), Some("gavel-x"));
        desk.set_payment(INVOICE, PaymentState::OfflineOnly);
        assert_eq!(
            desk.check_payment(&request(INVOICE, ADA)),
            Err(PaymentRefusal::PaymentsNotConfigured)
        );
    }

    #[test]
    fn paid_and_closed_invoices_say_why() {
        let mut desk = Desk::default();
        desk.track(INVOICE, ADA, InvoicePhase::Open);
        desk.set_phase(INVOICE, InvoicePhase::Paid);
        assert_eq!(
            desk.check_payment(&request(INVOICE, ADA)),
            Err(PaymentRefusal::InvoicePaid)
        );
        desk.set_phase(
            INVOICE,
            InvoicePhase::Closed {
                reason: CloseReason::Unpaid,
            },
        );
        assert_eq!(
            desk.check_payment(&request(INVOICE, ADA)),
            Err(PaymentRefusal::InvoiceVoid)
        );
    }

    #[test]
    fn an_offer_is_paid_only_once_accepted_and_answers_are_idempotent() {
        let accept_by = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let mut desk = Desk::default();
        desk.track(INVOICE, ADA, InvoicePhase::Open);
        desk.track(OFFER, BOLA, InvoicePhase::Offered { accept_by });
        assert_eq!(
            desk.check_payment(&request(OFFER, BOLA)),
            Err(PaymentRefusal::OfferNotAccepted { accept_by })
        );
        let accept = OfferAnswer {
            invoice_id: OFFER,
            buyer_id: BOLA,
            accept: true,
        };
        assert_eq!(desk.check_answer(&accept), Ok(None));
        desk.answer(accept.clone());
        desk.answer(accept.clone());
        assert_eq!(desk.take_answer(OFFER), Some(accept.clone()));
        assert_eq!(desk.take_answer(OFFER), None, "queued once");
        desk.set_phase(OFFER, InvoicePhase::Open);
        assert_eq!(desk.check_answer(&accept), Ok(Some(OfferOutcome::Accepted)));
        let decline = OfferAnswer {
            accept: false,
            ..accept.clone()
        };
        assert_eq!(desk.check_answer(&decline), Err(PaymentRefusal::NotAnOffer));
        let winners = OfferAnswer {
            invoice_id: INVOICE,
            buyer_id: ADA,
            accept: true,
        };
        assert_eq!(desk.check_answer(&winners), Err(PaymentRefusal::NotAnOffer));
        assert_eq!(
            desk.check_answer(&OfferAnswer {
                buyer_id: ADA,
                ..accept
            }),
            Err(PaymentRefusal::NotTheBuyer)
        );
    }

    #[test]
    fn a_declined_or_lapsed_offer_stays_so() {
        let accept_by = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let mut desk = Desk::default();
        desk.track(OFFER, BOLA, InvoicePhase::Offered { accept_by });
        desk.set_phase(
            OFFER,
            InvoicePhase::Closed {
                reason: CloseReason::Declined,
            },
        );
        let decline = OfferAnswer {
            invoice_id: OFFER,
            buyer_id: BOLA,
            accept: false,
        };
        assert_eq!(
            desk.check_answer(&decline),
            Ok(Some(OfferOutcome::Declined))
        );
        assert_eq!(
            desk.check_answer(&OfferAnswer {
                accept: true,
                ..decline.clone()
            }),
            Err(PaymentRefusal::OfferDeclined)
        );
        desk.set_phase(
            OFFER,
            InvoicePhase::Closed {
                reason: CloseReason::Expired,
            },
        );
        assert_eq!(
            desk.check_answer(&decline),
            Err(PaymentRefusal::OfferExpired)
        );
    }
}
