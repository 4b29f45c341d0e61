//! Invoices: the buyer's and seller's, the pay link, and an admin's offline
//! payment. Only the buyer, the seller and admins see an invoice; anyone else
//! gets 404, as if it did not exist.

use std::time::Duration;

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use gavel_activities::settlement::{
    invoices::{self, Invoice, LineItem},
    payments,
};
use gavel_workflows::settlement::{PaymentNotice, PaymentSource, PaymentStart};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    auctions::gateway,
    auth::{AuthUser, Role},
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/invoices/{id}", get(show))
        .route("/invoices/{id}/pay", post(pay))
        .route("/me/invoices", get(mine))
        .route("/admin/invoices/{id}/mark-paid", post(mark_paid))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LineItemResponse {
    pub description: String,
    pub amount: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceResponse {
    pub id: Uuid,
    pub number: String,
    pub auction_id: Uuid,
    /// 1 for the winner; 2, 3… for second-chance offers.
    pub round: i32,
    /// `open`, `paid` or `void`.
    pub status: String,
    pub currency: String,
    /// Minor units.
    pub total: i64,
    pub line_items: Vec<LineItemResponse>,
    pub buyer_id: Uuid,
    pub seller_id: Uuid,
    pub due_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    /// `paystack` or `offline`.
    pub paid_via: Option<String>,
    /// The Paystack checkout link, shown to the buyer only.
    pub pay_link: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl InvoiceResponse {
    fn for_viewer(invoice: Invoice, viewer: &AuthUser) -> Self {
        let pay_link = invoice
            .authorization_url
            .clone()
            .filter(|_| viewer.id == invoice.buyer_id && invoice.status == "open");
        Self {
            id: invoice.id,
            number: invoice.number,
            auction_id: invoice.auction_id,
            round: invoice.round,
            status: invoice.status,
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
            created_at: invoice.created_at,
        }
    }
}

fn invoice_not_found() -> ApiError {
    ApiError::not_found("invoice_not_found", "no such invoice")
}

/// The invoice if `viewer` may see it; 404 otherwise.
async fn visible(db: &PgPool, id: Uuid, viewer: &AuthUser) -> Result<Invoice, ApiError> {
    let invoice = invoices::find(db, id)
        .await?
        .ok_or_else(invoice_not_found)?;
    let allowed = viewer.role == Role::Admin
        || viewer.id == invoice.buyer_id
        || viewer.id == invoice.seller_id;
    if allowed {
        Ok(invoice)
    } else {
        Err(invoice_not_found())
    }
}

#[utoipa::path(get, path = "/invoices/{id}", tag = "payments",
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
    let invoice = visible(&state.db, id, &user).await?;
    Ok(ApiJson(InvoiceResponse::for_viewer(invoice, &user)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceList {
    pub items: Vec<InvoiceResponse>,
}

#[utoipa::path(get, path = "/me/invoices", tag = "payments",
    responses((status = 200, body = InvoiceList, description = "invoices you pay or are paid by, newest first")),
    security(("bearer" = [])))]
pub async fn mine(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<ApiJson<InvoiceList>, ApiError> {
    let rows: Vec<Invoice> = sqlx::query_as(
        "SELECT * FROM invoices WHERE buyer_id = $1 OR seller_id = $1
         ORDER BY created_at DESC LIMIT 100",
    )
    .bind(user.id)
    .fetch_all(&state.db)
    .await?;
    Ok(ApiJson(InvoiceList {
        items: rows
            .into_iter()
            .map(|i| InvoiceResponse::for_viewer(i, &user))
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PayLink {
    pub authorization_url: String,
    pub reference: String,
}

fn settled_error(invoice: &Invoice) -> Option<ApiError> {
    match invoice.status.as_str() {
        "paid" => Some(ApiError::conflict("invoice_paid", "this invoice is paid")),
        "void" => Some(ApiError::conflict(
            "invoice_void",
            "this invoice is void: the payment window passed",
        )),
        _ => None,
    }
}

#[utoipa::path(post, path = "/invoices/{id}/pay", tag = "payments",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = PayLink, description = "the Paystack checkout (made now if there was none)"),
        (status = 403, body = ErrorBody, description = "`not_the_buyer`"),
        (status = 404, body = ErrorBody, description = "`invoice_not_found`"),
        (status = 409, body = ErrorBody, description = "`invoice_paid`, `invoice_void`"),
        (status = 503, body = ErrorBody, description = "`payments_not_configured`, or Paystack unavailable"),
    ),
    security(("bearer" = [])))]
pub async fn pay(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<ApiJson<PayLink>, ApiError> {
    let invoice = visible(&state.db, id, &user).await?;
    if user.id != invoice.buyer_id {
        return Err(ApiError::forbidden(
            "not_the_buyer",
            "only the buyer pays an invoice",
        ));
    }
    if let Some(err) = settled_error(&invoice) {
        return Err(err);
    }
    let Some(paystack) = &state.config.paystack else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "payments_not_configured",
            "online payment is not configured; ask the seller about offline payment",
        ));
    };
    let (email,): (String,) = sqlx::query_as("SELECT email FROM users WHERE id = $1")
        .bind(user.id)
        .fetch_one(&state.db)
        .await?;
    let started = payments::pay_link(&state.db, paystack, &invoice, &email)
        .await
        .map_err(|err| ApiError::unavailable("Paystack", anyhow::anyhow!("{err:?}")))?;
    match started {
        PaymentStart::PayLink { authorization_url } => {
            let current = invoices::find(&state.db, id)
                .await?
                .ok_or_else(invoice_not_found)?;
            Ok(ApiJson(PayLink {
                authorization_url,
                reference: current.reference,
            }))
        }
        _ => Err(ApiError::conflict("invoice_paid", "this invoice is paid")),
    }
}

#[utoipa::path(post, path = "/admin/invoices/{id}/mark-paid", tag = "payments",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = InvoiceResponse, description = "paid (verified by the auction's workflow)"),
        (status = 202, body = InvoiceResponse, description = "accepted; the workflow has not confirmed yet"),
        (status = 403, body = ErrorBody, description = "`forbidden`: admins only"),
        (status = 404, body = ErrorBody, description = "`invoice_not_found`"),
        (status = 409, body = ErrorBody, description = "`invoice_paid`, `invoice_void`"),
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
    if let Some(err) = settled_error(&invoice) {
        return Err(err);
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
        return Err(ApiError::conflict(
            "invoice_void",
            "the auction's settlement is over; this invoice can no longer be paid",
        ));
    }
    // The workflow records the payment in a moment; say so if it has.
    for _ in 0..20 {
        let current = invoices::find(&state.db, id)
            .await?
            .ok_or_else(invoice_not_found)?;
        if current.status == "paid" {
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
