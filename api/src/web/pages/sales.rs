//! The sales part of `/me`: for sellers, "Your sales" (ship, answer a
//! claim, the payout statement); for buyers, "Your purchases" (confirm
//! receipt, open a claim). Each form calls [`crate::service::sales`], as
//! the JSON API does; each refusal is worded by [`sale_sentence`].

use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use chrono::{DateTime, Utc};
use gavel_store::sale_statements::{Claim, SaleRow};
use gavel_workflows::contract::sale::SaleStage;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    said::MeSaid,
    shared::{
        BUSY, CsrfForm, FORBIDDEN, INVALID_AMOUNT, database_sentence, input_sentence, message,
        sentence, signed_in,
    },
};
use crate::{
    auth::AuthUser,
    error::ApiError,
    service::sales::{self as service, NewClaim, SaleError, Shipping, stage_of},
    state::AppState,
    web::{money, session::Visitor},
};

/// A claim as the page shows it.
pub struct ClaimLine {
    pub id: i64,
    pub reason: String,
    pub asked: String,
    pub state: &'static str,
    /// Open: the seller may answer (prefilled with what was asked).
    pub answerable: bool,
    pub suggested: String,
}

/// One sale on `/me`, from either side.
pub struct SaleLine {
    pub invoice_id: Uuid,
    pub number: String,
    pub auction_id: Uuid,
    pub lot: String,
    pub stage: &'static str,
    /// The next deadline, in words ("" when none).
    pub deadline: String,
    pub shipping: String,
    pub can_ship: bool,
    pub can_receive: bool,
    pub can_claim: bool,
    pub claim: Option<ClaimLine>,
    /// The seller's statement: hammer − refunds − commission = payout.
    pub hammer: String,
    pub refunds: String,
    pub commission: String,
    pub payout: String,
    pub payout_state: String,
    pub transfer: String,
}

/// What `/me` shows of sales.
pub struct SalesSection {
    pub selling: Vec<SaleLine>,
    pub buying: Vec<SaleLine>,
}

/// The sales and purchases of `user`, for `/me`.
pub async fn section(state: &AppState, user: &AuthUser) -> Result<SalesSection, SaleError> {
    let selling = service::statement(state, user).await?;
    let buying = service::purchases(state, user).await?;
    Ok(SalesSection {
        selling: selling.into_iter().map(line).collect(),
        buying: buying.into_iter().map(line).collect(),
    })
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%e %b %H:%M UTC").to_string()
}

/// A stage in words; a stage this build does not know is "unknown".
fn stage_words(stage: Option<SaleStage>) -> &'static str {
    match stage {
        Some(SaleStage::AwaitingShipment) => "awaiting shipment",
        Some(SaleStage::Shipped) => "shipped",
        Some(SaleStage::Received) => "received",
        Some(SaleStage::Closed) => "claims closed",
        Some(SaleStage::CancelledUnshipped) => "cancelled: never shipped",
        None => "unknown",
    }
}

fn claim_words(state: &str) -> &'static str {
    match state {
        "open" => "open: waiting for the seller",
        "accepted" => "accepted by the seller",
        "contested" => "contested: an admin decides",
        "unanswered" => "unanswered: an admin decides",
        "decided" => "decided by an admin",
        _ => "unknown",
    }
}

fn claim_line(claim: Claim, sale: &SaleRow) -> ClaimLine {
    let left = sale.hammer - sale.refunds_processed - sale.refunds_in_flight;
    let asked = claim.amount.unwrap_or(left);
    ClaimLine {
        id: claim.id,
        asked: match claim.amount {
            Some(amount) => money::format(amount, &sale.currency),
            None => "all of it".to_owned(),
        },
        answerable: claim.state == "open",
        suggested: money::as_major(asked.max(0)),
        state: claim_words(&claim.state),
        reason: claim.reason,
    }
}

fn line(sale: SaleRow) -> SaleLine {
    let stage = stage_of(&sale.stage);
    let deadline = match stage {
        Some(SaleStage::AwaitingShipment) => format!("ship by {}", when(sale.ship_by)),
        Some(SaleStage::Shipped) => sale
            .receipt_assumed_at
            .map(|at| format!("received by {} at the latest", when(at)))
            .unwrap_or_default(),
        Some(SaleStage::Received) => sale
            .claims_until
            .map(|at| format!("claims until {}", when(at)))
            .unwrap_or_default(),
        Some(SaleStage::Closed | SaleStage::CancelledUnshipped) | None => String::new(),
    };
    let shipping = [sale.carrier.as_deref(), sale.tracking.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
    let claimable = matches!(stage, Some(SaleStage::Shipped | SaleStage::Received));
    let currency = sale.currency.clone();
    SaleLine {
        invoice_id: sale.invoice_id,
        number: sale.invoice_number.clone(),
        auction_id: sale.auction_id,
        lot: sale.auction_title.clone(),
        stage: stage_words(stage),
        deadline,
        shipping,
        can_ship: stage == Some(SaleStage::AwaitingShipment),
        can_receive: stage == Some(SaleStage::Shipped),
        can_claim: claimable && sale.claim.is_none(),
        hammer: money::format(sale.hammer, &currency),
        refunds: money::format(sale.refunds, &currency),
        commission: money::format(sale.commission, &currency),
        payout: money::format(sale.payout, &currency),
        payout_state: match &sale.held_reason {
            Some(reason) => format!("{} ({reason})", sale.payout_state),
            None => sale.payout_state.clone(),
        },
        transfer: match (&sale.transfer_reference, &sale.transfer_status) {
            (Some(reference), Some(status)) => format!("{reference} ({status})"),
            _ => "—".to_owned(),
        },
        claim: sale.claim.clone().map(|claim| claim_line(claim, &sale)),
    }
}

/// What a person reads for a sale or claim form that was refused.
pub fn sale_sentence(err: &SaleError) -> String {
    match err {
        SaleError::Invalid(err) => input_sentence(err),
        SaleError::Forbidden(_) => FORBIDDEN.to_owned(),
        SaleError::NotFound => "No such sale.".to_owned(),
        SaleError::ClaimNotFound => "No such claim.".to_owned(),
        SaleError::NotYourSale(party) => format!("Only the sale's {party} may do this."),
        SaleError::WrongStage(stage) => format!(
            "This sale is {} now: reload the page to see where it is.",
            stage_words(stage_of(stage))
        ),
        SaleError::ClaimsClosed(stage) => format!(
            "Claims are open only once the lot is shipped, until the claim window closes; this sale is {}.",
            stage_words(stage_of(stage))
        ),
        SaleError::ClaimExists(_) => "This sale has a claim already.".to_owned(),
        SaleError::ClaimTooLarge { .. }
        | SaleError::ClaimNotOpen(_)
        | SaleError::RefundTooLarge { .. }
        | SaleError::NotRefundable
        | SaleError::UnknownPayoutState => format!("{err}."),
        SaleError::Database(err) => database_sentence(err),
    }
}

/// The signed-in user behind a form on `/me`, or the page to answer instead.
fn form_user(visitor: &Visitor, csrf: &str) -> Result<AuthUser, Box<Response>> {
    let user = signed_in(visitor, "/me").map_err(|to| Box::new(to.into_response()))?;
    visitor.check_csrf(csrf).map_err(|err| {
        Box::new(message(
            visitor,
            StatusCode::FORBIDDEN,
            "Try again",
            &sentence(&err),
            "/me",
        ))
    })?;
    Ok(user)
}

/// Back to `/me` saying `said`, or the refusal's page.
fn answered<T>(
    visitor: &Visitor,
    heading: &str,
    result: Result<T, SaleError>,
    said: MeSaid,
) -> Response {
    match result {
        Ok(_) => Redirect::to(&said.link()).into_response(),
        Err(SaleError::Database(err)) if err.is_unavailable() => message(
            visitor,
            StatusCode::SERVICE_UNAVAILABLE,
            heading,
            BUSY,
            "/me",
        ),
        Err(err) => {
            let text = sale_sentence(&err);
            message(visitor, ApiError::from(err).status, heading, &text, "/me")
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ShippedForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub carrier: Option<String>,
    #[serde(default)]
    pub tracking: Option<String>,
}

/// `POST /me/sales/{id}/shipped`: the seller marks the lot shipped.
pub async fn shipped(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Form(form): Form<ShippedForm>,
) -> Result<Response, ApiError> {
    let user = match form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return Ok(*answer),
    };
    let shipping = Shipping {
        carrier: form.carrier,
        tracking: form.tracking,
    };
    let result = service::mark_shipped(&state, &user, id, shipping).await;
    Ok(answered(&visitor, "Shipping", result, MeSaid::Shipped))
}

/// `POST /me/sales/{id}/received`: the buyer has the lot.
pub async fn received(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    let user = match form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return Ok(*answer),
    };
    let result = service::mark_received(&state, &user, id).await;
    Ok(answered(&visitor, "Receipt", result, MeSaid::Received))
}

#[derive(Debug, Deserialize)]
pub struct ClaimForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub reason: String,
    /// Major units; empty asks for all of it.
    #[serde(default)]
    pub amount: String,
}

/// `POST /me/sales/{id}/claim`: the buyer opens a claim.
pub async fn claim(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Form(form): Form<ClaimForm>,
) -> Result<Response, ApiError> {
    let user = match form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return Ok(*answer),
    };
    let amount = if form.amount.trim().is_empty() {
        None
    } else {
        match money::parse_major(&form.amount) {
            Some(amount) => Some(amount),
            None => {
                return Ok(message(
                    &visitor,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Claim",
                    INVALID_AMOUNT,
                    "/me",
                ));
            }
        }
    };
    let new = NewClaim {
        reason: form.reason,
        amount,
    };
    let result = service::open_claim(&state, &user, id, new).await;
    Ok(answered(&visitor, "Claim", result, MeSaid::ClaimOpened))
}

#[derive(Debug, Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    pub csrf: String,
    /// `accept` or `contest` (the button pressed).
    #[serde(default)]
    pub answer: String,
    /// Major units, when accepting.
    #[serde(default)]
    pub refund_amount: String,
}

/// `POST /me/claims/{id}/answer`: the seller accepts with a refund or
/// contests.
pub async fn answer(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    Form(form): Form<AnswerForm>,
) -> Result<Response, ApiError> {
    let user = match form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return Ok(*answer),
    };
    let accept = form.answer == "accept";
    let refund_amount = if !accept || form.refund_amount.trim().is_empty() {
        None
    } else {
        match money::parse_major(&form.refund_amount) {
            Some(amount) => Some(amount),
            None => {
                return Ok(message(
                    &visitor,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Claim",
                    INVALID_AMOUNT,
                    "/me",
                ));
            }
        }
    };
    let result = service::answer_claim(&state, &user, id, accept, refund_amount).await;
    let said = if accept {
        MeSaid::ClaimAccepted
    } else {
        MeSaid::ClaimContested
    };
    Ok(answered(&visitor, "Claim", result, said))
}
