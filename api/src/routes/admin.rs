//! Admin views of the money: the payment ledger (kept and refunded, with
//! each payment's refunds), clearing a bidder's strikes, and changing a
//! user's role. Admins only. Refunding part of a payment is in
//! [`super::refunds`].

use axum::{
    Router,
    extract::State,
    routing::{delete, get, put},
};
use gavel_store::{
    ledger::{self, Payment, PaymentState},
    refunds::{self, Refund},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::auctions::{invalid_query, page_limit};
use crate::{
    accounts::{self, User},
    auth::{AuthUser, Role},
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath, ApiQuery},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/payments", get(payments))
        .route("/admin/users/{id}/strikes", delete(clear_strikes))
        .route("/admin/users/{id}/role", put(set_role))
}

/// Ledger states: what became of a verified payment.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PaymentsQuery {
    /// `kept` (it paid its invoice), `partly_refunded` (it paid, and part of
    /// it went back), `refunding`, `refunded`, `refund_failed`.
    pub state: Option<String>,
    /// 1 to 100; 20 by default.
    pub limit: Option<i64>,
}

/// One verified payment.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentResponse {
    pub id: i64,
    pub invoice_id: Uuid,
    /// The Paystack reference (`offline-…` for an offline payment).
    pub reference: String,
    pub amount: i64,
    pub currency: String,
    /// `paystack` or `offline`.
    pub channel: String,
    /// `kept`, `partly_refunded`, `refunding`, `refunded` or `refund_failed`,
    /// derived from `pays_invoice` and `refunds`.
    pub state: String,
    /// Whether it paid its invoice (else it is given back whole).
    pub pays_invoice: bool,
    /// Why the money could not pay its invoice.
    pub refund_reason: Option<String>,
    /// The latest refund's status as Paystack put it (`pending`,
    /// `processed`, `failed`, `needs-attention`, …).
    pub refund_status: Option<String>,
    /// When the last of it went back (once `refunded`).
    pub refunded_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Minor units given back so far (refunds `processed`).
    pub refunded: i64,
    /// Its refunds, oldest first.
    pub refunds: Vec<RefundResponse>,
    pub disputed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub verified_at: chrono::DateTime<chrono::Utc>,
}

/// One refund of a payment.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefundResponse {
    pub id: i64,
    pub payment_id: i64,
    /// Minor units.
    pub amount: i64,
    pub reason: String,
    /// `requested` (Paystack not answered yet), `pending`, `processing`,
    /// `processed` or `failed`; only ever forward, the last two final.
    pub state: String,
    /// Paystack's own word for it.
    pub paystack_status: Option<String>,
    pub paystack_refund_id: Option<i64>,
    /// The admin who asked; absent when Gavel gave back money it could not keep.
    pub asked_by: Option<Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub processed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub failed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<Refund> for RefundResponse {
    fn from(r: Refund) -> Self {
        Self {
            id: r.id,
            payment_id: r.payment_id,
            amount: r.amount,
            reason: r.reason,
            state: r.state.as_str().to_owned(),
            paystack_status: r.paystack_status,
            paystack_refund_id: r.paystack_refund_id,
            asked_by: r.asked_by,
            created_at: r.created_at,
            processed_at: r.processed_at,
            failed_at: r.failed_at,
        }
    }
}

impl PaymentResponse {
    fn new(p: Payment, refunds: Vec<RefundResponse>) -> Self {
        Self {
            id: p.id,
            invoice_id: p.invoice_id,
            reference: p.reference,
            amount: p.amount,
            currency: p.currency,
            channel: p.channel,
            state: p.state.as_str().to_owned(),
            pays_invoice: p.pays_invoice,
            refund_reason: p.refund_reason,
            refund_status: p.refund_status,
            refunded_at: p.refunded_at,
            refunded: p.refunded,
            refunds,
            disputed_at: p.disputed_at,
            verified_at: p.verified_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentList {
    pub items: Vec<PaymentResponse>,
}

#[utoipa::path(get, path = "/admin/payments", tag = "admin", operation_id = "list_payments",
    params(PaymentsQuery),
    responses(
        (status = 200, body = PaymentList, description = "newest first, each with its refunds"),
        (status = 403, body = ErrorBody, description = "`forbidden`: admins only"),
        (status = 422, body = ErrorBody, description = "`invalid_state` (lists the states), `invalid_limit`"),
    ),
    security(("bearer" = [])))]
pub async fn payments(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<PaymentsQuery>,
) -> Result<ApiJson<PaymentList>, ApiError> {
    user.require(&[Role::Admin])?;
    let wanted = match query.state.as_deref() {
        None => None,
        Some(word) => Some(word.parse::<PaymentState>().map_err(|_| {
            let words: Vec<&str> = PaymentState::ALL.iter().map(|s| s.as_str()).collect();
            invalid_query(
                "invalid_state",
                &format!("state must be one of {}", words.join(", ")),
            )
        })?),
    };
    let limit = page_limit(query.limit)?;
    let rows = ledger::list(&state.db, wanted, limit).await?;
    let ids: Vec<i64> = rows.iter().map(|p| p.id).collect();
    let mut refunds = refunds::refunds_of(&state.db, &ids).await?;
    let items = rows
        .into_iter()
        .map(|p| {
            let (of, rest) = refunds.drain(..).partition(|r| r.payment_id == p.id);
            refunds = rest;
            PaymentResponse::new(p, of.into_iter().map(RefundResponse::from).collect())
        })
        .collect();
    Ok(ApiJson(PaymentList { items }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StrikesCleared {
    /// How many strikes were cleared (as a bidder and as a seller).
    pub cleared: u64,
}

#[utoipa::path(delete, path = "/admin/users/{id}/strikes", tag = "admin", operation_id = "clear_user_strikes",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = StrikesCleared, description = "the user may bid and list again: strikes as a bidder (unpaid wins) and as a seller (paid lots left unshipped) are cleared"),
        (status = 403, body = ErrorBody, description = "`forbidden`: admins only"),
        (status = 404, body = ErrorBody, description = "`user_not_found`"),
    ),
    security(("bearer" = [])))]
pub async fn clear_strikes(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<ApiJson<StrikesCleared>, ApiError> {
    user.require(&[Role::Admin])?;
    if accounts::find_by_id(&state.db, id).await?.is_none() {
        return Err(ApiError::not_found("user_not_found", "no such user"));
    }
    let cleared = accounts::clear_strikes(&state.db, id, user.id).await?;
    tracing::info!(user_id = %id, admin_id = %user.id, cleared, "strikes cleared");
    Ok(ApiJson(StrikesCleared { cleared }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetRoleRequest {
    /// `bidder`, `seller` or `admin`.
    #[schema(example = "seller")]
    pub role: String,
}

#[utoipa::path(put, path = "/admin/users/{id}/role", tag = "admin", operation_id = "set_user_role",
    params(("id" = Uuid, Path)),
    request_body = SetRoleRequest,
    responses(
        (status = 200, body = User, description = "changed: the user's older tokens stop working (within 30 s on other replicas); they sign in again"),
        (status = 403, body = ErrorBody, description = "`forbidden`: admins only"),
        (status = 404, body = ErrorBody, description = "`user_not_found`"),
        (status = 422, body = ErrorBody, description = "`invalid_role`"),
    ),
    security(("bearer" = [])))]
pub async fn set_role(
    State(state): State<AppState>,
    admin: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<SetRoleRequest>,
) -> Result<ApiJson<User>, ApiError> {
    admin.require(&[Role::Admin])?;
    let role = Role::parse(&body.role).ok_or_else(|| {
        ApiError::unprocessable("invalid_role", "role must be `bidder`, `seller` or `admin`")
    })?;
    let mut tx = state.db.begin().await?;
    let user = accounts::set_role(&mut tx, id, role)
        .await?
        .ok_or_else(|| ApiError::not_found("user_not_found", "no such user"))?;
    state.token_versions.bump_and_commit(tx, id).await?;
    tracing::info!(user_id = %id, admin_id = %admin.id, role = role.as_str(), "role changed; older tokens revoked");
    Ok(ApiJson(user))
}
