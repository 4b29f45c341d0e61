//! A paid sale's journey as people move it: the seller ships, the buyer
//! confirms receipt or claims, the seller answers a claim, an admin decides
//! one; and what each of them reads (the sale, a seller's statement, a
//! buyer's purchases, the admins' payouts).
//!
//! Each move is one conditional write in `gavel_store::sale_actions`; the
//! sale's workflow keeps the deadlines and races them through the same rows.
//! After a move the workflow is nudged to read the row again; a failed nudge
//! is only logged, because the row is the truth and the workflow re-reads it
//! on its next timer anyway.

use gavel_store::{
    sale_actions::{self, ClaimOpened, ClaimSettled, Moved},
    sale_statements::{self, Claim, LedgerNeeds, SaleRow},
};
use gavel_workflows::{contract::sale::SaleStage, sale::SaleMoney, text::Lines};
use serde::{Deserialize, de::value::StrDeserializer};
use uuid::Uuid;

use crate::{
    auctions::gateway,
    auth::{AuthUser, Role, RoleError},
    input_error::{InputError, InputKind},
    state::AppState,
    text,
};

/// The longest carrier name or tracking number kept.
pub const SHIPPING_TEXT_MAX: usize = 100;
/// The longest claim reason kept.
pub const REASON_MAX: usize = 1_000;
/// Payout states an admin may list by.
pub const PAYOUT_STATES: [&str; 7] = [
    "held",
    "scheduled",
    "sending",
    "otp",
    "paid",
    "failed",
    "cancelled",
];

/// Why a sale or claim was not shown or moved.
#[derive(Debug, thiserror::Error)]
pub enum SaleError {
    /// A field the checks refuse.
    #[error(transparent)]
    Invalid(#[from] InputError),
    /// Admins only.
    #[error(transparent)]
    Forbidden(#[from] RoleError),
    /// No such sale, or not the viewer's to see.
    #[error("no such sale")]
    NotFound,
    /// No such claim, or not the viewer's to see.
    #[error("no such claim")]
    ClaimNotFound,
    /// The viewer is a party to the sale, but not the one who does this.
    #[error("only the sale's {0} may do this")]
    NotYourSale(&'static str),
    /// The sale is not at the stage this starts from.
    #[error("the sale is {0}")]
    WrongStage(String),
    /// Claims open once the lot is shipped and close with the claim window.
    #[error("claims about this sale are closed (it is {0})")]
    ClaimsClosed(String),
    /// One claim per sale.
    #[error("this sale has a claim already")]
    ClaimExists(i64),
    /// A claim asks back more than was paid.
    #[error("a claim asks back at most the {hammer} that was paid")]
    ClaimTooLarge { hammer: i64 },
    /// The claim is not waiting for this.
    #[error("the claim is {0}")]
    ClaimNotOpen(String),
    /// A refund of more than is left of the payment.
    #[error("at most {left} of this payment is left to give back")]
    RefundTooLarge { left: i64 },
    /// The payment cannot go back through Paystack (offline).
    #[error("this payment is given back by hand")]
    NotRefundable,
    /// The admins' list was asked for an unknown payout state.
    #[error("state must be one of {}", PAYOUT_STATES.join(", "))]
    UnknownPayoutState,
    #[error(transparent)]
    Database(#[from] gavel_store::StoreError),
}

/// A sale's stage as stored (`awaiting_shipment`, `shipped`, …), typed;
/// `None` for a word this build does not know.
pub fn stage_of(stage: &str) -> Option<SaleStage> {
    SaleStage::deserialize(StrDeserializer::<serde::de::value::Error>::new(stage)).ok()
}

/// The seller's shipping details as sent.
#[derive(Debug, Clone, Default)]
pub struct Shipping {
    pub carrier: Option<String>,
    pub tracking: Option<String>,
}

/// A buyer's claim as sent.
#[derive(Debug, Clone)]
pub struct NewClaim {
    pub reason: String,
    pub amount: Option<i64>,
}

/// A sale and where its money is, as its workflow says (`None`: no
/// workflow answered).
#[derive(Debug, Clone)]
pub struct SaleWithMoney {
    pub sale: SaleRow,
    pub money: Option<SaleMoney>,
}

/// What an admin's payout list shows.
#[derive(Debug, Clone)]
pub struct Payouts {
    pub sales: Vec<SaleRow>,
    pub needs: LedgerNeeds,
}

/// The sale of `invoice_id` if `viewer` is its buyer, seller or an admin.
pub async fn sale(
    state: &AppState,
    viewer: &AuthUser,
    invoice_id: Uuid,
) -> Result<SaleWithMoney, SaleError> {
    let sale = sale_statements::sale(&state.db, invoice_id)
        .await?
        .filter(|sale| may_see(viewer, sale))
        .ok_or(SaleError::NotFound)?;
    let money = gateway::sale_money(&state.temporal, invoice_id).await;
    Ok(SaleWithMoney { sale, money })
}

fn may_see(viewer: &AuthUser, sale: &SaleRow) -> bool {
    viewer.role == Role::Admin || viewer.id == sale.seller_id || viewer.id == sale.buyer_id
}

/// A refusal of a move, as the viewer may learn it: to a stranger the sale
/// does not exist.
fn not_yours(viewer: &AuthUser, involved: bool, party: &'static str) -> SaleError {
    if involved || viewer.role == Role::Admin {
        SaleError::NotYourSale(party)
    } else {
        SaleError::NotFound
    }
}

fn moved(
    viewer: &AuthUser,
    outcome: Moved<SaleRow>,
    party: &'static str,
) -> Result<SaleRow, SaleError> {
    match outcome {
        Moved::Done(sale) => Ok(sale),
        Moved::NotFound => Err(SaleError::NotFound),
        Moved::NotYours { involved } => Err(not_yours(viewer, involved, party)),
        Moved::WrongStage(stage) => Err(SaleError::WrongStage(stage)),
    }
}

/// An optional line of shipping text: trimmed, empty is none, at most
/// [`SHIPPING_TEXT_MAX`] characters of readable text.
fn shipping_text(field: &str, value: Option<String>) -> Result<Option<String>, InputError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > SHIPPING_TEXT_MAX {
        return Err(InputError::of(
            InputKind::InvalidShipping,
            field,
            format!("{field} is at most {SHIPPING_TEXT_MAX} characters"),
        ));
    }
    text::check(field, value, Lines::One)?;
    Ok(Some(value.to_owned()))
}

/// The seller marks the lot shipped.
pub async fn mark_shipped(
    state: &AppState,
    seller: &AuthUser,
    invoice_id: Uuid,
    shipping: Shipping,
) -> Result<SaleRow, SaleError> {
    let carrier = shipping_text("carrier", shipping.carrier)?;
    let tracking = shipping_text("tracking", shipping.tracking)?;
    let outcome = sale_actions::mark_shipped(
        &state.db,
        invoice_id,
        seller.id,
        carrier.as_deref(),
        tracking.as_deref(),
    )
    .await?;
    let sale = moved(seller, outcome, "seller")?;
    tracing::info!(%invoice_id, seller_id = %seller.id, "sale shipped");
    nudge(state, invoice_id, "shipped").await;
    Ok(sale)
}

/// The buyer says the lot arrived.
pub async fn mark_received(
    state: &AppState,
    buyer: &AuthUser,
    invoice_id: Uuid,
) -> Result<SaleRow, SaleError> {
    let outcome = sale_actions::mark_received(&state.db, invoice_id, buyer.id).await?;
    let sale = moved(buyer, outcome, "buyer")?;
    tracing::info!(%invoice_id, buyer_id = %buyer.id, "sale received");
    nudge(state, invoice_id, "received").await;
    Ok(sale)
}

/// The buyer opens the sale's claim.
pub async fn open_claim(
    state: &AppState,
    buyer: &AuthUser,
    invoice_id: Uuid,
    new: NewClaim,
) -> Result<Claim, SaleError> {
    let reason = new.reason.trim();
    if reason.is_empty() || reason.chars().count() > REASON_MAX {
        return Err(InputError::of(
            InputKind::InvalidReason,
            "reason",
            format!("reason is 1 to {REASON_MAX} characters"),
        )
        .into());
    }
    // The seller and admins read it: no hidden or reordering characters.
    text::check("reason", reason, Lines::Many)?;
    if new.amount.is_some_and(|amount| amount < 1) {
        return Err(InputError::of(
            InputKind::InvalidAmount,
            "amount",
            "amount is in minor units and at least 1 (leave it out to ask for all of it)",
        )
        .into());
    }
    let claim = match sale_actions::open_claim(&state.db, invoice_id, buyer.id, reason, new.amount)
        .await?
    {
        ClaimOpened::Opened(claim) => claim,
        ClaimOpened::NotFound => return Err(SaleError::NotFound),
        ClaimOpened::NotYours { involved } => {
            return Err(not_yours(buyer, involved, "buyer"));
        }
        ClaimOpened::ClaimsClosed(stage) => return Err(SaleError::ClaimsClosed(stage)),
        ClaimOpened::ClaimExists(id) => return Err(SaleError::ClaimExists(id)),
        ClaimOpened::TooMuch { hammer } => return Err(SaleError::ClaimTooLarge { hammer }),
    };
    tracing::info!(%invoice_id, claim = claim.id, "claim opened");
    nudge(state, invoice_id, "claim opened").await;
    Ok(claim)
}

/// The seller answers an open claim: `accept` gives back `refund_amount`
/// (by default what the buyer asked, or all that is left); otherwise the
/// claim is contested and an admin decides.
pub async fn answer_claim(
    state: &AppState,
    seller: &AuthUser,
    claim_id: i64,
    accept: bool,
    refund_amount: Option<i64>,
) -> Result<Claim, SaleError> {
    // A seller who gives nothing back contests instead.
    if accept && refund_amount.is_some_and(|amount| amount < 1) {
        return Err(InputError::of(
            InputKind::InvalidAmount,
            "refund_amount",
            "refund_amount is at least 1 when accepting; contest the claim to give nothing back",
        )
        .into());
    }
    let refund_amount = refund_amount.filter(|_| accept);
    let outcome =
        sale_actions::answer_claim(&state.db, claim_id, seller.id, accept, refund_amount).await?;
    let claim = settled(seller, outcome, "seller")?;
    tracing::info!(claim = claim.id, accept, refund = ?claim.refund_amount, "claim answered");
    nudge(state, claim.invoice_id, "claim answered").await;
    Ok(claim)
}

/// An admin decides a contested or unanswered claim (0: nothing back).
pub async fn decide_claim(
    state: &AppState,
    admin: &AuthUser,
    claim_id: i64,
    refund_amount: i64,
) -> Result<Claim, SaleError> {
    admin.require(&[Role::Admin])?;
    if refund_amount < 0 {
        return Err(InputError::of(
            InputKind::InvalidAmount,
            "refund_amount",
            "refund_amount is in minor units, 0 (nothing back) or more",
        )
        .into());
    }
    let outcome = sale_actions::decide_claim(&state.db, claim_id, admin.id, refund_amount).await?;
    let claim = settled(admin, outcome, "admin")?;
    tracing::info!(claim = claim.id, admin_id = %admin.id, refund_amount, "claim decided");
    nudge(state, claim.invoice_id, "claim decided").await;
    Ok(claim)
}

fn settled(
    viewer: &AuthUser,
    outcome: ClaimSettled,
    party: &'static str,
) -> Result<Claim, SaleError> {
    match outcome {
        ClaimSettled::Settled(claim) => Ok(claim),
        ClaimSettled::NotFound => Err(SaleError::ClaimNotFound),
        ClaimSettled::NotYours { involved } => match not_yours(viewer, involved, party) {
            SaleError::NotFound => Err(SaleError::ClaimNotFound),
            other => Err(other),
        },
        ClaimSettled::WrongState(state) => Err(SaleError::ClaimNotOpen(state)),
        ClaimSettled::TooMuch { left } => Err(SaleError::RefundTooLarge { left }),
        ClaimSettled::NotRefundable => Err(SaleError::NotRefundable),
    }
}

/// A seller's statement: every sale, hammer − refunds − commission = payout.
pub async fn statement(state: &AppState, seller: &AuthUser) -> Result<Vec<SaleRow>, SaleError> {
    Ok(sale_statements::seller_statement(&state.db, seller.id).await?)
}

/// A buyer's paid purchases and where each lot is.
pub async fn purchases(state: &AppState, buyer: &AuthUser) -> Result<Vec<SaleRow>, SaleError> {
    Ok(sale_statements::buyer_purchases(&state.db, buyer.id).await?)
}

/// Every payout (or those in `payout_state`) and what the ledger must hold.
pub async fn payouts(
    state: &AppState,
    admin: &AuthUser,
    payout_state: Option<&str>,
) -> Result<Payouts, SaleError> {
    admin.require(&[Role::Admin])?;
    if payout_state.is_some_and(|wanted| !PAYOUT_STATES.contains(&wanted)) {
        return Err(SaleError::UnknownPayoutState);
    }
    let sales = sale_statements::admin_payouts(&state.db, payout_state).await?;
    let needs = sale_statements::ledger_needs(&state.db).await?;
    Ok(Payouts { sales, needs })
}

/// Tells the sale's workflow its row changed.
async fn nudge(state: &AppState, invoice_id: Uuid, why: &str) {
    match gateway::nudge_sale(&state.temporal, invoice_id, why).await {
        Ok(true) => {}
        Ok(false) => tracing::debug!(%invoice_id, why, "no sale workflow to nudge"),
        Err(err) => {
            tracing::warn!(%invoice_id, why, error = %err, "sale workflow not nudged; it re-reads the row on its next timer");
        }
    }
}

#[cfg(test)]
mod tests {
    use gavel_store::sales::stage_text;

    use super::*;

    /// Every stage the store writes reads back as itself.
    #[test]
    fn stored_stages_read_as_their_type() {
        for stage in [
            SaleStage::AwaitingShipment,
            SaleStage::Shipped,
            SaleStage::Received,
            SaleStage::Closed,
            SaleStage::CancelledUnshipped,
        ] {
            assert_eq!(stage_of(stage_text(stage)), Some(stage));
        }
        assert_eq!(stage_of("lost_at_sea"), None);
    }
}
