//! `POST /admin/payouts/{id}/finalize`: an admin gives Paystack the OTP a
//! payout's transfer waits for (admins only). The work is
//! [`crate::service::payouts`]; this module maps its errors to answers.

use axum::{Router, extract::State, http::StatusCode, routing::post};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    auth::{AuthUser, Role},
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath},
    service::payouts::{self as service, PayoutError},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/payouts/{id}/finalize", post(finalize))
}

impl From<PayoutError> for ApiError {
    fn from(err: PayoutError) -> Self {
        match err {
            PayoutError::NotFound => ApiError::not_found("payout_not_found", "no such payout"),
            PayoutError::NotAwaitingOtp => ApiError::conflict(
                "not_awaiting_otp",
                "this payout's latest transfer is not waiting for an OTP",
            ),
            PayoutError::InvalidOtp => {
                ApiError::unprocessable("invalid_otp", "the OTP is 4 to 8 digits")
            }
            PayoutError::OtpRefused(message) => ApiError::unprocessable(
                "otp_refused",
                format!("Paystack refused the OTP: {message}"),
            ),
            PayoutError::NotConfigured => ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "payments_not_configured",
                "PAYSTACK_SECRET_KEY is not set on this server",
            ),
            PayoutError::Paystack(err) => ApiError::unavailable("Paystack", err),
            PayoutError::Unavailable(err) => ApiError::unavailable("Temporal", err),
            PayoutError::Database(err) => err.into(),
        }
    }
}

/// The OTP Paystack sent to the business's phone or email.
#[derive(Deserialize, ToSchema)]
pub struct FinalizeRequest {
    /// 4 to 8 digits.
    #[schema(example = "123456")]
    pub otp: String,
}

// The OTP never reaches a log, even through `Debug`.
impl std::fmt::Debug for FinalizeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FinalizeRequest")
            .field("otp", &"[redacted]")
            .finish()
    }
}

/// A payout and its latest transfer after the OTP.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PayoutTransferResponse {
    pub payout_id: i64,
    pub invoice_id: Uuid,
    /// `held`, `scheduled`, `sending`, `otp`, `paid`, `failed` or `cancelled`.
    pub payout_state: String,
    /// The transfer's reference (ours, sent to Paystack).
    pub reference: String,
    /// Paystack's word on it (`pending`, `success`, `failed`, …).
    pub transfer_status: String,
    pub amount: i64,
    pub currency: String,
}

#[utoipa::path(post, path = "/admin/payouts/{id}/finalize", tag = "admin",
    operation_id = "finalize_payout_transfer",
    params(("id" = i64, Path, description = "the payout's number (`payout_id`)")),
    request_body = FinalizeRequest,
    responses(
        (status = 200, body = PayoutTransferResponse, description = "Paystack took the OTP; the transfer is as Paystack has it now (usually `pending`, then a webhook moves it)"),
        (status = 403, body = ErrorBody, description = "`forbidden`: admins only"),
        (status = 404, body = ErrorBody, description = "`payout_not_found`"),
        (status = 409, body = ErrorBody, description = "`not_awaiting_otp`: the payout's latest transfer is not in `otp`"),
        (status = 422, body = ErrorBody, description = "`invalid_otp` (4 to 8 digits), `otp_refused` (Paystack refused it; the transfer is recorded as Paystack has it after, usually `failed`, and the payout tries again)"),
        (status = 501, body = ErrorBody, description = "`payments_not_configured`"),
        (status = 503, body = ErrorBody, description = "Paystack, Temporal or the database unavailable"),
    ),
    security(("bearer" = [])))]
pub async fn finalize(
    State(state): State<AppState>,
    admin: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<FinalizeRequest>,
) -> Result<ApiJson<PayoutTransferResponse>, ApiError> {
    admin.require(&[Role::Admin])?;
    let done = service::finalize(&state, id, body.otp.trim()).await?;
    tracing::info!(payout_id = id, admin_id = %admin.id, "payout OTP given");
    Ok(ApiJson(PayoutTransferResponse {
        payout_id: done.payout_id,
        invoice_id: done.invoice_id,
        payout_state: done.payout_state,
        reference: done.transfer.reference,
        transfer_status: done.transfer.status,
        amount: done.transfer.amount,
        currency: done.transfer.currency,
    }))
}
