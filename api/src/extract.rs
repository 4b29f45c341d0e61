//! Extractors whose rejections are [`ApiError`]s, so malformed JSON, a wrong
//! content type, an oversized body or a bad path segment get the same error
//! shape as every other 4xx.

use axum::{
    extract::{
        FromRef, FromRequest, FromRequestParts, Multipart, Request,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::{error::ApiError, state::AppState};

/// `axum::Json` with Gavel's error shape on rejection.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Whether serde_json's complaint is about the text, not the JSON around it.
fn unreadable_text(complaint: &str) -> bool {
    // serde_json says "invalid unicode code point" for bytes that are not
    // UTF-8, and "lone leading surrogate in hex escape" or "unexpected end
    // of hex escape" for a surrogate without its pair.
    ["unicode code point", "surrogate", "hex escape"]
        .iter()
        .any(|sign| complaint.to_lowercase().contains(sign))
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match &rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a request with `Content-Type: application/json`",
            ),
            // A lone surrogate (`"\ud800"`) or bytes that are not UTF-8 are
            // text no one can read: the same refusal as a control character.
            JsonRejection::JsonSyntaxError(err) if unreadable_text(&err.body_text()) => {
                ApiError::unprocessable(
                    "invalid_text",
                    "the request holds text that is not valid Unicode (a lone surrogate or bytes that are not UTF-8)",
                )
            }
            JsonRejection::JsonSyntaxError(_) => {
                ApiError::bad_request("malformed_json", "the request body is not valid JSON")
            }
            JsonRejection::JsonDataError(err) => {
                ApiError::unprocessable("invalid_body", err.body_text())
            }
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is too large",
            ),
            _ => ApiError::bad_request("invalid_body", "the request body could not be read"),
        }
    }
}

/// `axum::extract::Path` with Gavel's error shape on rejection.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request("invalid_path", rejection.body_text())
    }
}

/// `axum::extract::Query` with Gavel's error shape on rejection.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", rejection.body_text())
    }
}

/// `axum::extract::Multipart` with Gavel's error shape on rejection (a body
/// that is not `multipart/form-data`, or has no boundary), its body watched
/// by [`crate::web::upload_body`].
pub struct ApiMultipart(pub Multipart);

/// Longest multipart boundary accepted (RFC 2046, section 5.1.1).
const MAX_BOUNDARY: usize = 70;

impl<S> FromRequest<S> for ApiMultipart
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        // Every chunk is searched for the boundary (by multer and by the
        // watch): a boundary as long as the headers allow would make each
        // byte cost kilobytes of work. RFC 2046 allows at most 70.
        let boundary_len = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| multer::parse_boundary(value).ok())
            .map_or(0, |boundary| boundary.len());
        if boundary_len > MAX_BOUNDARY {
            return Err(ApiError::bad_request(
                "invalid_boundary",
                format!("a multipart boundary is at most {MAX_BOUNDARY} characters"),
            ));
        }
        // Its headers are bounded before multer buffers them.
        let uploads = &AppState::from_ref(state).uploads;
        Multipart::from_request(crate::web::upload_body::watched(request, uploads), state)
            .await
            .map(ApiMultipart)
            .map_err(|rejection| {
                ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!(
                        "expected `multipart/form-data` with a boundary: {}",
                        rejection.body_text()
                    ),
                )
            })
    }
}
