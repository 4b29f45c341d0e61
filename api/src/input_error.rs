//! Refusals of what a request sent, as a type: which check failed
//! ([`InputKind`], whose name is the API's stable code), the field it
//! concerns, and the words. The HTTP answer is built once, in `From`.

use serde_json::json;

use crate::error::ApiError;

/// Which check refused the input; its snake_case name is the API's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum InputKind {
    InvalidText,
    InvalidTitle,
    InvalidDescription,
    InvalidCurrency,
    InvalidAmount,
    InvalidReservePrice,
    InvalidBuyNowPrice,
    InvalidMinIncrement,
    InvalidEndsAt,
    InvalidAntiSniping,
    InvalidHardCloseAt,
    InvalidReason,
    InvalidIdempotencyKey,
    IdempotencyKeyRequired,
    InvalidEmail,
    WeakPassword,
    InvalidName,
    InvalidShipping,
    InvalidEndingSoonLead,
}

impl InputKind {
    pub fn code(self) -> &'static str {
        self.into()
    }
}

/// A field (or header) the checks refuse: always a 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    pub kind: InputKind,
    /// The request field it concerns, when the answer names one.
    pub field: Option<String>,
    pub message: String,
}

impl InputError {
    /// A refusal that names no field.
    pub fn new(kind: InputKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            field: None,
            message: message.into(),
        }
    }

    /// A refusal of the request's `field`.
    pub fn of(kind: InputKind, field: &str, message: impl Into<String>) -> Self {
        Self {
            kind,
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

impl From<InputError> for ApiError {
    fn from(err: InputError) -> Self {
        let api = ApiError::unprocessable(err.kind.code(), err.message);
        match err.field {
            Some(field) => api.with_details(json!({ "field": field })),
            None => api,
        }
    }
}

#[cfg(test)]
mod tests {
    use strum::VariantArray;

    use super::*;

    #[test]
    fn codes_are_the_apis() {
        let codes: Vec<&str> = InputKind::VARIANTS.iter().map(|k| k.code()).collect();
        assert_eq!(
            codes,
            [
                "invalid_text",
                "invalid_title",
                "invalid_description",
                "invalid_currency",
                "invalid_amount",
                "invalid_reserve_price",
                "invalid_buy_now_price",
                "invalid_min_increment",
                "invalid_ends_at",
                "invalid_anti_sniping",
                "invalid_hard_close_at",
                "invalid_reason",
                "invalid_idempotency_key",
                "idempotency_key_required",
                "invalid_email",
                "weak_password",
                "invalid_name",
                "invalid_shipping",
                "invalid_ending_soon_lead",
            ]
        );
    }

    #[test]
    fn the_answer_is_a_422_naming_the_field_when_set() {
        let api = ApiError::from(InputError::of(InputKind::InvalidAmount, "amount", "no"));
        assert_eq!(api.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(api.code, "invalid_amount");
        assert_eq!(api.message, "no");
        assert_eq!(api.details, Some(json!({ "field": "amount" })));
        let api = ApiError::from(InputError::new(InputKind::InvalidEmail, "no"));
        assert_eq!(api.details, None);
    }
}
