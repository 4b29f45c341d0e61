//! `POST /admin/payments/{id}/refunds`: an admin gives back part (or the
//! rest) of a payment. The refund is recorded here, checked against what is
//! left of the payment with it locked, and asked of Paystack by a workflow
//! (`refund-{payment reference}.{refund id}`); the API never calls Paystack
//! itself. The
//! `Idempotency-Key` makes a retried request find its first refund, so it
//! refunds once.

use axum::{Router, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use gavel_store::{
    ledger,
    refunds::{self, RefundAsked},
};
use gavel_workflows::{
    followup::{FollowUp, followup_id},
    text::Lines,
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::admin::RefundResponse;
use crate::{
    auctions::{gateway, input::idempotency_key},
    auth::{AuthUser, Role},
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath},
    state::AppState,
    text,
};

/// The longest reason kept with a refund.
const REASON_MAX: usize = 500;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/payments/{id}/refunds", post(create))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefundRequest {
    /// Minor units, at least 1 and at most what is left of the payment.
    #[schema(example = 50_000)]
    pub amount: i64,
    /// Why (kept with the refund; 1 to 500 characters).
    #[schema(example = "the frame arrived chipped")]
    pub reason: String,
}

#[utoipa::path(post, path = "/admin/payments/{id}/refunds", tag = "admin",
    operation_id = "create_payment_refund",
    params(("id" = i64, Path, description = "the payment"),
           ("idempotency-key" = String, Header, description = "1 to 200 visible ASCII characters; sent again unchanged when retrying")),
    request_body = RefundRequest,
    responses(
        (status = 202, body = RefundResponse, description = "recorded (or already recorded under this key); a workflow asks Paystack, and the refund's state follows Paystack's answer and webhooks"),
        (status = 403, body = ErrorBody, description = "`forbidden`: admins only"),
        (status = 404, body = ErrorBody, description = "`payment_not_found`"),
        (status = 409, body = ErrorBody, description = "`refund_exceeds_payment` (says what is left), `not_refundable` (offline, or given back whole already), `idempotency_key_reused` (the key was used for another refund)"),
        (status = 422, body = ErrorBody, description = "`idempotency_key_required`, `invalid_idempotency_key`, `invalid_amount`, `invalid_reason` (empty or too long), `invalid_text` (a hidden or reordering character in the reason)"),
        (status = 503, body = ErrorBody, description = "Temporal or the database unavailable: retry with the same key"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    admin: AuthUser,
    ApiPath(payment_id): ApiPath<i64>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RefundRequest>,
) -> Result<(StatusCode, ApiJson<RefundResponse>), ApiError> {
    admin.require(&[Role::Admin])?;
    let Some(key) = idempotency_key(&headers)? else {
        return Err(ApiError::unprocessable(
            "idempotency_key_required",
            "a refund needs an Idempotency-Key header: any unique string, sent again \
             unchanged when you retry the same refund",
        ));
    };
    if body.amount < 1 {
        return Err(ApiError::unprocessable(
            "invalid_amount",
            "amount is in minor units and at least 1",
        ));
    }
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > REASON_MAX {
        return Err(ApiError::unprocessable(
            "invalid_reason",
            format!("reason is 1 to {REASON_MAX} characters"),
        ));
    }
    // Admins and the payer read it: no hidden or reordering characters.
    text::check("reason", reason, Lines::Many)?;
    let refund =
        match refunds::ask_refund(&state.db, payment_id, body.amount, reason, admin.id, &key)
            .await?
        {
            RefundAsked::Recorded(refund) | RefundAsked::Again(refund) => refund,
            RefundAsked::NoPayment => {
                return Err(ApiError::not_found("payment_not_found", "no such payment"));
            }
            RefundAsked::KeyReused => {
                return Err(ApiError::conflict(
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for another refund of this payment",
                ));
            }
            RefundAsked::TooMuch { left } => {
                return Err(ApiError::conflict(
                    "refund_exceeds_payment",
                    format!("at most {left} of this payment is left to refund"),
                ));
            }
            RefundAsked::NotRefundable(why) => {
                return Err(ApiError::conflict("not_refundable", why));
            }
        };
    let refund_id = u64::try_from(refund.id).unwrap_or_default();
    let payment = ledger::find(&state.db, payment_id)
        .await?
        .ok_or_else(|| ApiError::not_found("payment_not_found", "no such payment"))?;
    // Started again on a retry (it joins the first): a request whose start
    // was lost still gets its refund asked for. Named by the payment's
    // reference too, which no other database's refund shares.
    gateway::follow_up(
        &state.temporal,
        &state.config.task_queue,
        followup_id("refund", &format!("{}.{}", payment.reference, refund.id)),
        FollowUp::Refund { refund_id },
    )
    .await
    .map_err(|err| ApiError::unavailable("Temporal", err))?;
    tracing::info!(payment_id, refund = refund.id, amount = refund.amount,
        admin_id = %admin.id, "refund asked for");
    Ok((StatusCode::ACCEPTED, ApiJson(RefundResponse::from(refund))))
}
