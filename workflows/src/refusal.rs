//! How a refusal crosses the workflow boundary: as a Temporal application
//! failure whose type is the refusal's stable code (`bid_too_low`,
//! `payment_pending`, …) and whose details are its data (`{"minimum": …}`),
//! so callers read it back typed and operators see the code in the UI.
//!
//! The SDK wraps whatever an update handler or validator returns in a failure
//! of its own; the typed failure travels as its cause ([`typed`] nests it so),
//! and [`read`] finds it in the chain.

use std::{error::Error, fmt::Display};

use serde::{Serialize, de::DeserializeOwned};
use temporalio_common::protos::temporal::api::failure::v1::{Failure, failure::FailureInfo};
use temporalio_sdk::ApplicationFailure;

/// What a handler or validator returns to refuse.
pub type HandlerError = Box<dyn Error + Send + Sync>;

/// `refusal` as a typed, non-retryable failure with code `code`.
pub fn typed<R>(code: &str, refusal: &R) -> HandlerError
where
    R: Serialize + Display + Clone + Send + Sync + 'static,
{
    let failure = ApplicationFailure::builder(refusal.to_string())
        .type_name(code.to_owned())
        .non_retryable(true)
        .details(refusal.clone())
        .build();
    // The SDK's own wrapper encodes the source of what it wraps as its cause:
    // one more layer makes that cause this typed failure.
    Box::new(ApplicationFailure::new(failure))
}

/// The typed refusal in a failure chain: its code and its data as `R`.
pub fn read<R: DeserializeOwned>(failure: &Failure) -> Option<(String, R)> {
    let mut next = Some(failure);
    while let Some(failure) = next {
        if let Some(FailureInfo::ApplicationFailureInfo(info)) = &failure.failure_info
            && !info.r#type.is_empty()
        {
            let payload = info.details.as_ref()?.payloads.first()?;
            let data = serde_json::from_slice(&payload.data).ok()?;
            return Some((info.r#type.clone(), data));
        }
        next = failure.cause.as_deref();
    }
    None
}
