//! Invoices for their buyer: paying one (its one Paystack checkout, made by
//! the auction's workflow), answering a second-chance offer, and the saved
//! cards that pay later wins. Only the buyer, the seller and admins see an
//! invoice; to anyone else it does not exist.

use gavel_store::invoices::{self, Invoice, InvoiceStatus};
use gavel_workflows::{
    ids::UserId,
    settlement::desk::{OfferAnswer, PaymentRefusal, PaymentRequest},
};
use uuid::Uuid;

use crate::{
    auctions::gateway::{self, CallError},
    auth::{AuthUser, Role},
    cards::{self, SavedCard},
    state::AppState,
};

/// Why an invoice was not shown, paid or answered.
#[derive(Debug, thiserror::Error)]
pub enum InvoiceError {
    /// None, or not the viewer's to see.
    #[error("no such invoice")]
    NotFound,
    /// The payment desk (or the read model before it) said no.
    #[error(transparent)]
    Refused(PaymentRefusal),
    #[error("Temporal is unavailable: {0}")]
    Unavailable(anyhow::Error),
    #[error(transparent)]
    Database(#[from] gavel_store::StoreError),
}

impl From<CallError<PaymentRefusal>> for InvoiceError {
    fn from(err: CallError<PaymentRefusal>) -> Self {
        match err {
            CallError::Refused(reason) => InvoiceError::Refused(reason),
            CallError::Gone => InvoiceError::Refused(PaymentRefusal::InvoiceNotCurrent),
            CallError::Unavailable(err) => InvoiceError::Unavailable(err),
        }
    }
}

/// The invoice if `viewer` may see it.
pub async fn visible(
    state: &AppState,
    id: Uuid,
    viewer: &AuthUser,
) -> Result<Invoice, InvoiceError> {
    let invoice = invoices::find(&state.db, id)
        .await?
        .ok_or(InvoiceError::NotFound)?;
    let allowed = viewer.role == Role::Admin
        || viewer.id == invoice.buyer_id
        || viewer.id == invoice.seller_id;
    if allowed {
        Ok(invoice)
    } else {
        Err(InvoiceError::NotFound)
    }
}

/// The invoice if `viewer` is its buyer (others who may see it are refused).
async fn as_buyer(state: &AppState, id: Uuid, viewer: &AuthUser) -> Result<Invoice, InvoiceError> {
    let invoice = visible(state, id, viewer).await?;
    if viewer.id == invoice.buyer_id {
        Ok(invoice)
    } else {
        Err(InvoiceError::Refused(PaymentRefusal::NotTheBuyer))
    }
}

/// What the read model already says about paying `invoice`, without asking
/// the workflow.
pub fn settled_refusal(invoice: &Invoice) -> Option<PaymentRefusal> {
    match invoice.status {
        InvoiceStatus::Paid | InvoiceStatus::CancelledUnshipped => {
            Some(PaymentRefusal::InvoicePaid)
        }
        InvoiceStatus::Void => Some(PaymentRefusal::InvoiceVoid),
        InvoiceStatus::Declined => Some(PaymentRefusal::OfferDeclined),
        InvoiceStatus::Expired => Some(PaymentRefusal::OfferExpired),
        InvoiceStatus::Offered => Some(PaymentRefusal::OfferNotAccepted {
            accept_by: invoice.due_at,
        }),
        InvoiceStatus::Open => None,
    }
}

/// An invoice's Paystack checkout.
#[derive(Debug, Clone)]
pub struct PayLink {
    pub authorization_url: String,
    pub reference: String,
}

/// The invoice's checkout for its buyer, recording whether the card that
/// pays it is to be kept (`save_card`; unchanged when `None`).
pub async fn pay(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    save_card: Option<bool>,
) -> Result<PayLink, InvoiceError> {
    let invoice = as_buyer(state, id, user).await?;
    if let Some(reason) = settled_refusal(&invoice) {
        return Err(InvoiceError::Refused(reason));
    }
    if state.config.paystack.is_none() {
        return Err(InvoiceError::Refused(PaymentRefusal::PaymentsNotConfigured));
    }
    if let Some(save_card) = save_card {
        invoices::set_save_card(&state.db, id, save_card).await?;
    }
    // The workflow made this link; answering it from the read model keeps
    // repeated calls out of the auction's history.
    if let Some(url) = invoice.authorization_url {
        return Ok(PayLink {
            authorization_url: url,
            reference: invoice.reference,
        });
    }
    let request = PaymentRequest {
        invoice_id: id,
        buyer_id: user.id,
    };
    let link = gateway::request_payment(&state.temporal, invoice.auction_id, request).await?;
    Ok(PayLink {
        authorization_url: link.authorization_url,
        reference: link.reference,
    })
}

/// The buyer accepts (`accept`) or declines a second-chance offer; the
/// invoice as it is after.
pub async fn answer_offer(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    accept: bool,
) -> Result<Invoice, InvoiceError> {
    let invoice = as_buyer(state, id, user).await?;
    let answer = OfferAnswer {
        invoice_id: id,
        buyer_id: user.id,
        accept,
    };
    gateway::answer_offer(&state.temporal, invoice.auction_id, answer).await?;
    invoices::find(&state.db, id)
        .await?
        .ok_or(InvoiceError::NotFound)
}

/// Why a saved card was not removed.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("no saved card of yours has this id")]
    NotFound,
    #[error(transparent)]
    Database(#[from] gavel_store::StoreError),
}

/// The cards `user` agreed to keep, newest (the one charged first) first.
pub async fn saved_cards(state: &AppState, user: UserId) -> gavel_store::Result<Vec<SavedCard>> {
    cards::saved_cards(&state.db, user.uuid()).await
}

/// Forgets card `id` of `user`: it is never charged again.
pub async fn remove_card(state: &AppState, user: UserId, id: i64) -> Result<(), CardError> {
    if cards::remove_card(&state.db, user.uuid(), id).await? {
        tracing::info!(user_id = %user, card = id, "saved card removed");
        Ok(())
    } else {
        Err(CardError::NotFound)
    }
}
