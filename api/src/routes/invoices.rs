//! Invoices: the buyer's and seller's, paying one, answering a second-chance
//! offer, and an admin's offline payment. Only the buyer, the seller and
//! admins see an invoice; anyone else gets 404, as if it did not exist.
//!
//! Nothing here moves money itself: paying and answering go to the auction's
//! workflow, which owns the invoice's one live way to pay.

use std::time::Duration;

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use gavel_store::invoices::{self, Invoice, InvoiceStatus, LineItem};
use gavel_workflows::{
    contract::settlement::{PaymentNotice, PaymentSource},
    settlement::desk::PaymentRefusal,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    auctions::gateway,
    auth::{AuthUser, Role},
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath},
    service::invoices::{self as service, InvoiceError, settled_refusal},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/invoices/{id}", get(show))
        .route("/invoices/{id}/pay", post(pay))
        .route("/invoices/{id}/accept", post(accept))
        .route("/invoices/{id}/decline", post(decline))
        .route("/me/invoices", get(mine))
        .route("/admin/invoices/{id}/mark-paid", post(mark_paid))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LineItemResponse {
    pub description: String,
    pub amount: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoiceResponse {
    pub id: Uuid,
    pub number: String,
    pub auction_id: Uuid,
    /// 1 for the winner; 2, 3… for second-chance offers.
    pub round: i32,
    /// `offered` (a second-chance offer to accept or decline), `open`,
    /// `paid`, `void` (unpaid in time), `declined` or `expired`.
    pub status: String,
    pub currency: String,
    /// Minor units.
    pub total: i64,
    pub line_items: Vec<LineItemResponse>,
    pub buyer_id: Uuid,
    pub seller_id: Uuid,
    /// When payment is due; for an `offered` invoice, when the offer lapses.
    pub due_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    /// `paystack` or `offline`.
    pub paid_via: Option<String>,
    /// The Paystack checkout link, shown to the buyer only.
    pub pay_link: Option<String>,
    /// The current Paystack reference, shown to the buyer and admins (for
    /// support and for `gavel paystack send-webhook` in test mode).
    pub reference: Option<String>,
    /// When a second-chance offer was accepted.
    pub accepted_at: Option<DateTime<Utc>>,
    /// When a payment of this invoice was disputed.
    pub disputed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl InvoiceResponse {
    fn for_viewer(invoice: Invoice, viewer: &AuthUser) -> Self {
        let is_buyer = viewer.id == invoice.buyer_id;
        let pay_link = invoice
            .authorization_url
            .clone()
            .filter(|_| is_buyer && invoice.status == InvoiceStatus::Open);
        let reference =
            Some(invoice.reference.clone()).filter(|_| is_buyer || viewer.role == Role::Admin);
        Self {
            id: invoice.id,
            number: invoice.number,
            auction_id: invoice.auction_id,
            round: invoice.round,
            status: invoice.status.as_str().to_owned(),
            currency: invoice.currency,
            total: invoice.total,
            line_items: invoice
                .line_items
                .0
                .into_iter()
                .map(
                    |LineItem {
                         description,
                         amount,
                     }| LineItemResponse {
                        description,
                        amount,
                    },
                )
                .collect(),
            buyer_id: invoice.buyer_id,
            seller_id: invoice.seller_id,
            due_at: invoice.due_at,
            paid_at: invoice.paid_at,
            paid_via: invoice.paid_via,
            pay_link,
            reference,
            accepted_at: invoice.accepted_at,
            disputed_at: invoice.disputed_at,
            created_at: invoice.created_at,
        }
    }
}

fn invoice_not_found() -> ApiError {
    ApiError::not_found("invoice_not_found", "no such invoice")
}

/// A refusal of the payment desk as an HTTP error.
fn refusal(refusal: &PaymentRefusal) -> ApiError {
    let error = match refusal {
        PaymentRefusal::NotTheBuyer => ApiError::forbidden(refusal.code(), refusal.to_string()),
        // Permanent until someone configures Paystack: retrying will not help.
        PaymentRefusal::PaymentsNotConfigured => ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            refusal.code(),
            refusal.to_string(),
        ),
        PaymentRefusal::PaymentUnavailable => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            refusal.code(),
            refusal.to_string(),
        )
        .with_retry_after(5),
        _ => ApiError::conflict(refusal.code(), refusal.to_string()),
    };
    match refusal {
        PaymentRefusal::OfferNotAccepted { accept_by } => {
            error.with_details(json!({ "accept_by": accept_by }))
        }
        _ => error,
    }
}

impl From<InvoiceError> for ApiError {
    fn from(err: InvoiceError) -> Self {
        match err {
            InvoiceError::NotFound => invoice_not_found(),
            InvoiceError::Refused(reason) => refusal(&reason),
            InvoiceError::Unavailable(err) => ApiError::unavailable("Temporal", err),
            InvoiceError::Database(err) => err.into(),
        }
    }
}

#[utoipa::path(get, path = "/invoices/{id}", tag = "payments", operation_id = "get_invoice",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = InvoiceResponse),
        (status = 404, body = ErrorBody, description = "`invoice_not_found` (also for anyone but the buyer, the seller and admins)"),
    ),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<ApiJson<InvoiceResponse>, ApiError> {
    let invoice = service::visible(&state, id, &user).await?;
    Ok(ApiJson(InvoiceResponse::for_viewer(invoice, &user)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoiceList {
    pub items: Vec<InvoiceResponse>,
}

#[utoipa::path(get, path = "/me/invoices", tag = "payments", operation_id = "list_my_invoices",
    responses((status = 200, body = InvoiceList, description = "invoices you pay or are paid by, newest first")),
    security(("bearer" = [])))]
pub async fn mine(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<ApiJson<InvoiceList>, ApiError> {
    let rows = invoices::of_user(&state.db, user.id, 100).await?;
    Ok(ApiJson(InvoiceList {
        items: rows
            .into_iter()
            .map(|i| InvoiceResponse::for_viewer(i, &user))
            .collect(),
    }))
}

/// The invoice's one Paystack checkout.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PayLinkResponse {
    pub authorization_url: String,
    pub reference: String,
}

/// What the buyer says when asking to pay (the body may be empty).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PayRequest {
    /// Keep the card that pays this checkout to pay my later wins and
    /// accepted offers (listed at `GET /me/cards`, removable). Without it,
    /// no card is kept and every win gets a pay link. Recorded until the
    /// invoice is paid; the last answer counts.
    #[serde(default)]
    pub save_card: Option<bool>,
}

#[utoipa::path(post, path = "/invoices/{id}/pay", tag = "payments", operation_id = "pay_invoice",
    params(("id" = Uuid, Path)),
    request_body(content = Option<PayRequest>, content_type = "application/json", description = "optional; `{\"save_card\": true}` keeps the card for later wins"),
    responses(
        (status = 200, body = PayLinkResponse, description = "the invoice's one Paystack checkout: the same link and reference for every call (made now if there was none)"),
        (status = 403, body = ErrorBody, description = "`not_the_buyer`"),
        (status = 400, body = ErrorBody, description = "`malformed_json`"),
        (status = 404, body = ErrorBody, description = "`invoice_not_found`"),
        (status = 409, body = ErrorBody, description = "`invoice_paid`, `invoice_void`, `payment_pending` (a saved-card charge is in progress), `offer_not_accepted` (details.accept_by), `offer_declined`, `offer_expired`, `invoice_not_current`"),
        (status = 422, body = ErrorBody, description = "`invalid_body` (the body is not an object, or `save_card` is not a boolean)"),
        (status = 501, body = ErrorBody, description = "`payments_not_configured`: pay offline"),
        (status = 503, body = ErrorBody, description = "`payment_unavailable` (Paystack), `service_unavailable` (Temporal or the database); retry after `Retry-After`"),
    ),
    security(("bearer" = [])))]
pub async fn pay(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    body: axum::body::Bytes,
) -> Result<ApiJson<PayLinkResponse>, ApiError> {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        PayRequest::default()
    } else {
        let value = serde_json::from_slice::<serde_json::Value>(&body).map_err(|_| {
            ApiError::bad_request("malformed_json", "the request body is not valid JSON")
        })?;
        // Only an object: serde would read a list (`[true]`) into the struct.
        if !value.is_object() {
            return Err(ApiError::unprocessable(
                "invalid_body",
                "the body is a JSON object (or empty)",
            ));
        }
        serde_json::from_value::<PayRequest>(value)
            .map_err(|err| ApiError::unprocessable("invalid_body", err.to_string()))?
    };
    let link = service::pay(&state, &user, id, request.save_card).await?;
    Ok(ApiJson(PayLinkResponse {
        authorization_url: link.authorization_url,
        reference: link.reference,
    }))
}

async fn answer(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    accept: bool,
) -> Result<ApiJson<InvoiceResponse>, ApiError> {
    let current = service::answer_offer(state, user, id, accept).await?;
    Ok(ApiJson(InvoiceResponse::for_viewer(current, user)))
}

#[utoipa::path(post, path = "/invoices/{id}/accept", tag = "payments", operation_id = "accept_invoice_offer",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = InvoiceResponse, description = "accepted: the invoice is `open` and is paid like any other (a saved card is charged, or `/pay` gives the link); `paid` when a saved card was charged before the answer was read back"),
        (status = 403, body = ErrorBody, description = "`not_the_buyer`"),
        (status = 404, body = ErrorBody, description = "`invoice_not_found`"),
        (status = 409, body = ErrorBody, description = "`not_an_offer`, `offer_declined`, `offer_expired`, `invoice_not_current`"),
    ),
    security(("bearer" = [])))]
pub async fn accept(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<ApiJson<InvoiceResponse>, ApiError> {
    answer(&state, &user, id, true).await
}

#[utoipa::path(post, path = "/invoices/{id}/decline", tag = "payments", operation_id = "decline_invoice_offer",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = InvoiceResponse, description = "declined: nothing is owed and no strike is given"),
        (status = 403, body = ErrorBody, description = "`not_the_buyer`"),
        (status = 404, body = ErrorBody, description = "`invoice_not_found`"),
        (status = 409, body = ErrorBody, description = "`not_an_offer`, `offer_expired`, `invoice_not_current`"),
    ),
    security(("bearer" = [])))]
pub async fn decline(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<ApiJson<InvoiceResponse>, ApiError> {
    answer(&state, &user, id, false).await
}

#[utoipa::path(post, path = "/admin/invoices/{id}/mark-paid", tag = "payments", operation_id = "mark_invoice_paid",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = InvoiceResponse, description = "paid (confirmed by the auction's workflow)"),
        (status = 202, body = InvoiceResponse, description = "accepted; the workflow has not confirmed yet"),
        (status = 403, body = ErrorBody, description = "`forbidden`: admins only"),
        (status = 404, body = ErrorBody, description = "`invoice_not_found`"),
        (status = 409, body = ErrorBody, description = "`invoice_paid`, `invoice_void`, `offer_not_accepted`, `offer_declined`, `offer_expired`"),
    ),
    security(("bearer" = [])))]
pub async fn mark_paid(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<(StatusCode, ApiJson<InvoiceResponse>), ApiError> {
    user.require(&[Role::Admin])?;
    let invoice = invoices::find(&state.db, id)
        .await?
        .ok_or_else(invoice_not_found)?;
    if let Some(reason) = settled_refusal(&invoice) {
        return Err(refusal(&reason));
    }
    let notice = PaymentNotice {
        invoice_id: id,
        source: PaymentSource::Offline { admin_id: user.id },
    };
    let delivered = gateway::notify_payment(
        &state.temporal,
        invoice.auction_id,
        notice,
        format!("offline-{id}"),
    )
    .await
    .map_err(|err| ApiError::unavailable("Temporal", err))?;
    if !delivered {
        return Err(refusal(&PaymentRefusal::InvoiceNotCurrent));
    }
    // The workflow records the payment in a moment; say so if it has.
    for _ in 0..20 {
        let current = invoices::find(&state.db, id)
            .await?
            .ok_or_else(invoice_not_found)?;
        if current.status == InvoiceStatus::Paid {
            return Ok((
                StatusCode::OK,
                ApiJson(InvoiceResponse::for_viewer(current, &user)),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let current = invoices::find(&state.db, id)
        .await?
        .ok_or_else(invoice_not_found)?;
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(InvoiceResponse::for_viewer(current, &user)),
    ))
}
