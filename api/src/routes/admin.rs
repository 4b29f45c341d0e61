//! Admin views of the money: the payment ledger (kept and refunded), clearing
//! a bidder's strikes, and changing a user's role. Admins only.

use axum::{
    Router,
    extract::State,
    routing::{delete, get, put},
};
use gavel_activities::settlement::ledger::{self, Payment, PaymentState};
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
pub struct PaymentsQuery {
    /// `kept` (it paid its invoice), `refunding`, `refunded`, `refund_failed`.
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
    pub state: String,
    /// Why the money could not pay its invoice.
    pub refund_reason: Option<String>,
    /// Paystack's refund status (`pending`, `processed`, `failed`, …).
    pub refund_status: Option<String>,
    pub refunded_at: Option<chrono::DateTime<chrono::Utc>>,
    pub disputed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub verified_at: chrono::DateTime<chrono::Utc>,
}

impl From<Payment> for PaymentResponse {
    fn from(p: Payment) -> Self {
        Self {
            id: p.id,
            invoice_id: p.invoice_id,
            reference: p.reference,
            amount: p.amount,
            currency: p.currency,
            channel: p.channel,
            state: p.state.as_str().to_owned(),
            refund_reason: p.refund_reason,
            refund_status: p.refund_status,
            refunded_at: p.refunded_at,
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
    params(("state" = Option<String>, Query, description = "`kept` (it paid its invoice), `refunding`, `refunded`, `refund_failed`"),
        ("limit" = Option<i64>, Query, description = "1 to 100; 20 by default")),
    responses(
        (status = 200, body = PaymentList, description = "newest first"),
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
    Ok(ApiJson(PaymentList {
        items: rows.into_iter().map(PaymentResponse::from).collect(),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StrikesCleared {
    /// How many strikes were cleared.
    pub cleared: u64,
}

#[utoipa::path(delete, path = "/admin/users/{id}/strikes", tag = "admin", operation_id = "clear_user_strikes",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = StrikesCleared, description = "the user may bid again"),
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
