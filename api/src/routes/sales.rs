//! A paid sale's journey over HTTP: shipping, receipt, claims and their
//! answers and decisions, a seller's payout statement, a buyer's purchases
//! and the admins' payouts. Thin callers of [`crate::service::sales`].

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use gavel_store::{
    sale_statements::{Claim, LedgerNeeds, SaleRow},
    sales::payout_state_text,
};
use gavel_workflows::sale::SaleMoney;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    auth::{AuthUser, Role},
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath, ApiQuery},
    service::sales::{self as service, NewClaim, SaleError, Shipping},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/invoices/{id}/sale", get(show))
        .route("/invoices/{id}/shipped", post(shipped))
        .route("/invoices/{id}/received", post(received))
        .route("/invoices/{id}/claims", post(open_claim))
        .route("/claims/{id}/answer", post(answer_claim))
        .route("/admin/claims/{id}/decide", post(decide_claim))
        .route("/me/payouts", get(my_payouts))
        .route("/me/purchases", get(my_purchases))
        .route("/admin/payouts", get(payouts))
}

impl From<SaleError> for ApiError {
    fn from(err: SaleError) -> Self {
        let message = err.to_string();
        match err {
            SaleError::Invalid(err) => err.into(),
            SaleError::Forbidden(err) => err.into(),
            SaleError::NotFound => ApiError::not_found("sale_not_found", message),
            SaleError::ClaimNotFound => ApiError::not_found("claim_not_found", message),
            SaleError::NotYourSale(_) => ApiError::forbidden("not_your_sale", message),
            SaleError::WrongStage(stage) => {
                ApiError::conflict("wrong_stage", message).with_details(json!({ "stage": stage }))
            }
            SaleError::ClaimsClosed(stage) => {
                ApiError::conflict("claims_closed", message).with_details(json!({ "stage": stage }))
            }
            SaleError::ClaimExists(id) => {
                ApiError::conflict("claim_exists", message).with_details(json!({ "claim_id": id }))
            }
            SaleError::ClaimTooLarge { hammer } => {
                ApiError::unprocessable("claim_exceeds_payment", message)
                    .with_details(json!({ "field": "amount", "paid": hammer }))
            }
            SaleError::ClaimNotOpen(state) => ApiError::conflict("claim_not_open", message)
                .with_details(json!({ "state": state })),
            SaleError::RefundTooLarge { left } => {
                ApiError::conflict("refund_exceeds_payment", message)
                    .with_details(json!({ "left": left }))
            }
            SaleError::NotRefundable => ApiError::conflict("not_refundable", message),
            SaleError::UnknownPayoutState => ApiError::unprocessable("invalid_state", message),
            SaleError::Database(err) => err.into(),
        }
    }
}

/// A buyer's claim about a sale.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClaimResponse {
    pub id: i64,
    pub invoice_id: Uuid,
    /// `open` (the seller answers), `accepted`, `contested` or `unanswered`
    /// (an admin decides), `decided`.
    pub state: String,
    pub reason: String,
    /// What the buyer asks back, minor units (`null`: all of it).
    pub amount: Option<i64>,
    /// When the seller's answer is due (set by the sale's workflow).
    pub answer_by: Option<DateTime<Utc>>,
    /// What is given back once settled (0: nothing).
    pub refund_amount: Option<i64>,
    /// The refund under the sale's payment (see `/admin/payments`).
    pub refund_id: Option<i64>,
    pub answered_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<Claim> for ClaimResponse {
    fn from(claim: Claim) -> Self {
        Self {
            id: claim.id,
            invoice_id: claim.invoice_id,
            state: claim.state,
            reason: claim.reason,
            amount: claim.amount,
            answer_by: claim.answer_by,
            refund_amount: claim.refund_amount,
            refund_id: claim.refund_id,
            answered_at: claim.answered_at,
            decided_at: claim.decided_at,
            created_at: claim.created_at,
        }
    }
}

/// Where a sale's money is: hammer − refunds − commission = payout.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PayoutResponse {
    /// The payout's public number.
    pub payout_id: i64,
    /// `held`, `scheduled`, `sending`, `otp`, `paid`, `failed` or `cancelled`.
    pub state: String,
    /// Why a held (or failed) payout waits: `journey`, `claim`, `dispute`,
    /// `refunds`, `no_payout_account`, `balance`, or Paystack's words.
    pub held_reason: Option<String>,
    /// What the buyer paid, minor units.
    pub hammer: i64,
    /// Refunds counted against the payout.
    pub refunds: i64,
    /// Of the sale's refunds: processed by Paystack.
    pub refunds_processed: i64,
    /// Of the sale's refunds: asked for and not finished.
    pub refunds_in_flight: i64,
    /// Basis points (1000 = 10 %), fixed when the lot was listed.
    pub commission_bps: i32,
    pub commission: i64,
    pub payout: i64,
    /// `true` once the payout was prepared (the numbers no longer change);
    /// until then they are what they would be now.
    pub fixed: bool,
    pub paid_out_at: Option<DateTime<Utc>>,
    /// The latest transfer attempt's reference and Paystack's word on it.
    pub transfer_reference: Option<String>,
    pub transfer_status: Option<String>,
}

/// A paid sale: where the lot is, its claim, and (for its seller and
/// admins) where its money is.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SaleResponse {
    pub invoice_id: Uuid,
    pub invoice_number: String,
    pub auction_id: Uuid,
    pub auction_title: String,
    pub seller_id: Uuid,
    pub buyer_id: Uuid,
    pub currency: String,
    /// What the buyer paid, minor units.
    pub hammer: i64,
    /// `awaiting_shipment`, `shipped`, `received`, `closed` (claims closed,
    /// the payout under way) or `cancelled_unshipped`.
    pub stage: String,
    /// Deadlines the sale's workflow set (its timers enforce them).
    pub ship_by: DateTime<Utc>,
    pub receipt_assumed_at: Option<DateTime<Utc>>,
    pub claims_until: Option<DateTime<Utc>>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub carrier: Option<String>,
    pub tracking: Option<String>,
    pub received_at: Option<DateTime<Utc>>,
    /// The buyer did not confirm; the delivery window passed.
    pub receipt_assumed: bool,
    pub claim: Option<ClaimResponse>,
    /// Shown to the seller and admins only.
    pub payout: Option<PayoutResponse>,
}

impl SaleResponse {
    pub fn for_viewer(sale: SaleRow, viewer: &AuthUser) -> Self {
        let money_visible = viewer.role == Role::Admin || viewer.id == sale.seller_id;
        let payout = money_visible.then(|| PayoutResponse {
            payout_id: sale.payout_id,
            state: sale.payout_state.clone(),
            held_reason: sale.held_reason.clone(),
            hammer: sale.hammer,
            refunds: sale.refunds,
            refunds_processed: sale.refunds_processed,
            refunds_in_flight: sale.refunds_in_flight,
            commission_bps: sale.commission_bps,
            commission: sale.commission,
            payout: sale.payout,
            fixed: sale.fixed,
            paid_out_at: sale.paid_out_at,
            transfer_reference: sale.transfer_reference.clone(),
            transfer_status: sale.transfer_status.clone(),
        });
        Self {
            invoice_id: sale.invoice_id,
            invoice_number: sale.invoice_number,
            auction_id: sale.auction_id,
            auction_title: sale.auction_title,
            seller_id: sale.seller_id,
            buyer_id: sale.buyer_id,
            currency: sale.currency,
            hammer: sale.hammer,
            stage: sale.stage,
            ship_by: sale.ship_by,
            receipt_assumed_at: sale.receipt_assumed_at,
            claims_until: sale.claims_until,
            shipped_at: sale.shipped_at,
            carrier: sale.carrier,
            tracking: sale.tracking,
            received_at: sale.received_at,
            receipt_assumed: sale.receipt_assumed,
            claim: sale.claim.map(ClaimResponse::from),
            payout,
        }
    }
}

/// Where the sale's workflow says the money is.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SaleMoneyResponse {
    /// What the workflow waits for, in words.
    pub waiting_for: String,
    /// The transfer attempt under way (0: none yet).
    pub attempt: u32,
    /// The payout's state as the workflow last read it.
    pub payout_state: Option<String>,
}

impl From<SaleMoney> for SaleMoneyResponse {
    fn from(money: SaleMoney) -> Self {
        Self {
            waiting_for: money.waiting_for,
            attempt: money.attempt,
            payout_state: money
                .view
                .map(|view| payout_state_text(view.payout).to_owned()),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SaleDetail {
    pub sale: SaleResponse,
    /// From the sale's workflow; `null` when it did not answer (finished,
    /// or not running).
    pub money: Option<SaleMoneyResponse>,
}

#[utoipa::path(get, path = "/invoices/{id}/sale", tag = "sales", operation_id = "get_invoice_sale",
    params(("id" = Uuid, Path, description = "the paid invoice")),
    responses(
        (status = 200, body = SaleDetail),
        (status = 404, body = ErrorBody, description = "`sale_not_found` (also for anyone but the buyer, the seller and admins)"),
    ),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<ApiJson<SaleDetail>, ApiError> {
    let found = service::sale(&state, &user, id).await?;
    Ok(ApiJson(SaleDetail {
        sale: SaleResponse::for_viewer(found.sale, &user),
        money: found.money.map(SaleMoneyResponse::from),
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ShippedRequest {
    /// Who carries the lot (at most 100 characters).
    #[schema(example = "GIG Logistics")]
    pub carrier: Option<String>,
    /// The carrier's tracking number (at most 100 characters).
    #[schema(example = "GIG-4471-0092")]
    pub tracking: Option<String>,
}

#[utoipa::path(post, path = "/invoices/{id}/shipped", tag = "sales", operation_id = "mark_sale_shipped",
    params(("id" = Uuid, Path, description = "the paid invoice")),
    request_body = ShippedRequest,
    responses(
        (status = 200, body = SaleResponse, description = "shipped; the buyer has until `receipt_assumed_at` to confirm receipt"),
        (status = 403, body = ErrorBody, description = "`not_your_sale`: only the seller ships"),
        (status = 404, body = ErrorBody, description = "`sale_not_found`"),
        (status = 409, body = ErrorBody, description = "`wrong_stage`: not awaiting shipment (`details.stage` says where it is)"),
        (status = 422, body = ErrorBody, description = "`invalid_shipping` (over 100 characters), `invalid_text`"),
    ),
    security(("bearer" = [])))]
pub async fn shipped(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ShippedRequest>,
) -> Result<ApiJson<SaleResponse>, ApiError> {
    let shipping = Shipping {
        carrier: body.carrier,
        tracking: body.tracking,
    };
    let sale = service::mark_shipped(&state, &user, id, shipping).await?;
    Ok(ApiJson(SaleResponse::for_viewer(sale, &user)))
}

#[utoipa::path(post, path = "/invoices/{id}/received", tag = "sales", operation_id = "mark_sale_received",
    params(("id" = Uuid, Path, description = "the paid invoice")),
    responses(
        (status = 200, body = SaleResponse, description = "received; claims stay open for the claim window"),
        (status = 403, body = ErrorBody, description = "`not_your_sale`: only the buyer confirms receipt"),
        (status = 404, body = ErrorBody, description = "`sale_not_found`"),
        (status = 409, body = ErrorBody, description = "`wrong_stage`: not shipped (`details.stage` says where it is)"),
    ),
    security(("bearer" = [])))]
pub async fn received(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<ApiJson<SaleResponse>, ApiError> {
    let sale = service::mark_received(&state, &user, id).await?;
    Ok(ApiJson(SaleResponse::for_viewer(sale, &user)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ClaimRequest {
    /// What is wrong (1 to 1,000 characters).
    #[schema(example = "the frame arrived chipped")]
    pub reason: String,
    /// What to give back, minor units, at most what was paid (leave out: all of it).
    #[schema(example = 20_000)]
    pub amount: Option<i64>,
}

#[utoipa::path(post, path = "/invoices/{id}/claims", tag = "sales", operation_id = "open_sale_claim",
    params(("id" = Uuid, Path, description = "the paid invoice")),
    request_body = ClaimRequest,
    responses(
        (status = 201, body = ClaimResponse, description = "opened; the seller answers"),
        (status = 403, body = ErrorBody, description = "`not_your_sale`: only the buyer claims"),
        (status = 404, body = ErrorBody, description = "`sale_not_found`"),
        (status = 409, body = ErrorBody, description = "`claims_closed` (not shipped yet, or the claim window is over; `details.stage`), `claim_exists` (one per sale; `details.claim_id`)"),
        (status = 422, body = ErrorBody, description = "`claim_exceeds_payment` (more than was paid), `invalid_amount`, `invalid_reason`, `invalid_text`"),
    ),
    security(("bearer" = [])))]
pub async fn open_claim(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ClaimRequest>,
) -> Result<(StatusCode, ApiJson<ClaimResponse>), ApiError> {
    let new = NewClaim {
        reason: body.reason,
        amount: body.amount,
    };
    let claim = service::open_claim(&state, &user, id, new).await?;
    Ok((StatusCode::CREATED, ApiJson(claim.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AnswerClaimRequest {
    /// `true` gives back `refund_amount`; `false` contests (an admin decides).
    pub accept: bool,
    /// When accepting: minor units, at least 1 (by default what the buyer
    /// asked, or all that is left of the payment).
    #[schema(example = 20_000)]
    pub refund_amount: Option<i64>,
}

#[utoipa::path(post, path = "/claims/{id}/answer", tag = "sales", operation_id = "answer_sale_claim",
    params(("id" = i64, Path, description = "the claim")),
    request_body = AnswerClaimRequest,
    responses(
        (status = 200, body = ClaimResponse, description = "accepted (a refund is asked of Paystack by the sale's workflow) or contested"),
        (status = 403, body = ErrorBody, description = "`not_your_sale`: only the seller answers"),
        (status = 404, body = ErrorBody, description = "`claim_not_found`"),
        (status = 409, body = ErrorBody, description = "`claim_not_open` (answered already, or the answer window passed; `details.state`), `refund_exceeds_payment` (`details.left`), `not_refundable` (an offline payment)"),
        (status = 422, body = ErrorBody, description = "`invalid_amount`: accepting gives back at least 1"),
    ),
    security(("bearer" = [])))]
pub async fn answer_claim(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AnswerClaimRequest>,
) -> Result<ApiJson<ClaimResponse>, ApiError> {
    let claim = service::answer_claim(&state, &user, id, body.accept, body.refund_amount).await?;
    Ok(ApiJson(claim.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DecideClaimRequest {
    /// What the buyer gets back, minor units (0: nothing).
    #[schema(example = 20_000)]
    pub refund_amount: i64,
}

#[utoipa::path(post, path = "/admin/claims/{id}/decide", tag = "admin", operation_id = "decide_sale_claim",
    params(("id" = i64, Path, description = "the claim")),
    request_body = DecideClaimRequest,
    responses(
        (status = 200, body = ClaimResponse, description = "decided (a refund, if any, is asked of Paystack by the sale's workflow)"),
        (status = 403, body = ErrorBody, description = "`forbidden`: admins only"),
        (status = 404, body = ErrorBody, description = "`claim_not_found`"),
        (status = 409, body = ErrorBody, description = "`claim_not_open` (not contested or unanswered; `details.state`), `refund_exceeds_payment` (`details.left`), `not_refundable`"),
        (status = 422, body = ErrorBody, description = "`invalid_amount`"),
    ),
    security(("bearer" = [])))]
pub async fn decide_claim(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<DecideClaimRequest>,
) -> Result<ApiJson<ClaimResponse>, ApiError> {
    let claim = service::decide_claim(&state, &user, id, body.refund_amount).await?;
    Ok(ApiJson(claim.into()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SaleList {
    pub items: Vec<SaleResponse>,
}

#[utoipa::path(get, path = "/me/payouts", tag = "sales", operation_id = "list_my_payouts",
    responses((status = 200, body = SaleList, description = "your sales, newest first, each with hammer − refunds − commission = payout")),
    security(("bearer" = [])))]
pub async fn my_payouts(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<ApiJson<SaleList>, ApiError> {
    let rows = service::statement(&state, &user).await?;
    Ok(ApiJson(list(rows, &user)))
}

#[utoipa::path(get, path = "/me/purchases", tag = "sales", operation_id = "list_my_purchases",
    responses((status = 200, body = SaleList, description = "your paid purchases, newest first")),
    security(("bearer" = [])))]
pub async fn my_purchases(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<ApiJson<SaleList>, ApiError> {
    let rows = service::purchases(&state, &user).await?;
    Ok(ApiJson(list(rows, &user)))
}

fn list(rows: Vec<SaleRow>, viewer: &AuthUser) -> SaleList {
    SaleList {
        items: rows
            .into_iter()
            .map(|sale| SaleResponse::for_viewer(sale, viewer))
            .collect(),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PayoutsQuery {
    /// `held`, `scheduled`, `sending`, `otp`, `paid`, `failed` or `cancelled`.
    pub state: Option<String>,
}

/// What the Paystack balance must keep for others.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LedgerNeedsResponse {
    /// What buyers paid and kept for sales not paid out yet.
    pub held_for_sales: i64,
    /// Refunds asked for and not finished.
    pub refunds_in_flight: i64,
    pub total: i64,
}

impl From<LedgerNeeds> for LedgerNeedsResponse {
    fn from(needs: LedgerNeeds) -> Self {
        Self {
            held_for_sales: needs.held_for_sales,
            refunds_in_flight: needs.refunds_in_flight,
            total: needs.total(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PayoutList {
    pub items: Vec<SaleResponse>,
    pub ledger_needs: LedgerNeedsResponse,
}

#[utoipa::path(get, path = "/admin/payouts", tag = "admin", operation_id = "list_payouts",
    params(PayoutsQuery),
    responses(
        (status = 200, body = PayoutList, description = "newest first (at most 200), with what the ledger must hold"),
        (status = 403, body = ErrorBody, description = "`forbidden`: admins only"),
        (status = 422, body = ErrorBody, description = "`invalid_state` (lists the states)"),
    ),
    security(("bearer" = [])))]
pub async fn payouts(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<PayoutsQuery>,
) -> Result<ApiJson<PayoutList>, ApiError> {
    let found = service::payouts(&state, &user, query.state.as_deref()).await?;
    Ok(ApiJson(PayoutList {
        items: list(found.sales, &user).items,
        ledger_needs: found.needs.into(),
    }))
}
