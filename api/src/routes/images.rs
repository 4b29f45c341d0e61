//! `/auctions/{id}/images`: a seller adds photos to their lot (multipart,
//! field `images`, one or more files). Checked, re-encoded and stored by
//! [`crate::web::images`]; served under `/images/…`.

use axum::{
    Router,
    extract::{DefaultBodyLimit, Multipart, State},
    http::StatusCode,
    routing::post,
};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auctions::find_auction;
use crate::{
    auth::{AuthUser, Role},
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiMultipart, ApiPath},
    state::AppState,
    web::images::{self, ImagesAdded, MAX_UPLOAD_BYTES, Processed},
};

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/auctions/{id}/images",
        post(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
    )
}

/// The multipart form: `images`, repeated.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImageUpload {
    /// JPEG, PNG or WebP files of at most 5 MB each; at most 8 per lot.
    #[schema(value_type = Vec<String>, format = Binary)]
    images: Vec<Vec<u8>>,
}

/// Reads every `images` file of `form` and processes it (two at a time).
pub async fn read_images(form: &mut Multipart) -> Result<Vec<Processed>, ApiError> {
    let mut photos = Vec::new();
    let bad = |err: axum::extract::multipart::MultipartError| {
        ApiError::unprocessable(
            "invalid_image",
            format!("the upload could not be read: {err}"),
        )
    };
    while let Some(field) = form.next_field().await.map_err(bad)? {
        if field.name() != Some("images") {
            continue;
        }
        let name = field.file_name().unwrap_or("a file").to_owned();
        let bytes = field.bytes().await.map_err(bad)?;
        if bytes.is_empty() {
            continue;
        }
        if photos.len() == images::MAX_IMAGES {
            return Err(ApiError::unprocessable(
                "too_many_images",
                format!("a lot has at most {} photos", images::MAX_IMAGES),
            ));
        }
        photos.push(images::process_async(name, bytes.to_vec()).await?);
    }
    Ok(photos)
}

#[utoipa::path(post, path = "/auctions/{id}/images", tag = "auctions",
    params(("id" = Uuid, Path)),
    request_body(content = ImageUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = ImagesAdded, description = "stored, re-encoded as JPEG at two sizes"),
        (status = 403, body = ErrorBody, description = "`forbidden`: only the lot's seller (or an admin)"),
        (status = 404, body = ErrorBody, description = "`auction_not_found`"),
        (status = 415, body = ErrorBody, description = "`unsupported_media_type`: not `multipart/form-data`"),
        (status = 422, body = ErrorBody, description = "`invalid_image` (not a JPEG, PNG or WebP by its content, over 5 MB, or unreadable), `too_many_images` (8 per lot), `no_images`"),
    ),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiMultipart(mut form): ApiMultipart,
) -> Result<(StatusCode, ApiJson<ImagesAdded>), ApiError> {
    user.require(&[Role::Seller, Role::Admin])?;
    let row = find_auction(&state.db, id).await?;
    if user.role != Role::Admin && row.seller_id != user.id {
        return Err(ApiError::forbidden(
            "forbidden",
            "only the lot's seller adds its photos",
        ));
    }
    let photos = read_images(&mut form).await?;
    if photos.is_empty() {
        return Err(ApiError::unprocessable(
            "no_images",
            "send one or more files in the `images` field",
        ));
    }
    let urls = images::add(&state.db, id, photos).await?;
    Ok((StatusCode::CREATED, ApiJson(ImagesAdded { images: urls })))
}
