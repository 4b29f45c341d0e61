//! `/auctions/{id}/images`: a lot's photos. Anyone lists them; its seller (or
//! an admin) adds them (multipart, field `images`), reorders them, and
//! removes them until the first bid. Checked and re-encoded by
//! [`crate::web::images`], stored and served (`/images/…`) by
//! [`crate::web::photos`].

use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    http::StatusCode,
    routing::{delete, get},
};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::auctions::find_auction;
use crate::{
    auth::AuthUser,
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiMultipart, ApiPath},
    service::photos::{self as service, PhotoError},
    state::AppState,
    web::{
        images::{MAX_IMAGES, MAX_UPLOAD_BYTES},
        photos::{self, Photos},
        upload_reader,
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/auctions/{id}/images",
            get(list)
                .put(reorder)
                .post(upload)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route("/auctions/{id}/images/{image}", delete(remove))
}

/// The multipart form: `images`, repeated.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImageUpload {
    /// JPEG, PNG or WebP files of at most 5 MB each; at most 8 per lot.
    #[schema(value_type = Vec<String>, format = Binary)]
    images: Vec<Vec<u8>>,
}

/// The lot's photos in a new order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhotoOrder {
    /// Every one of the lot's photo ids, once each; the first is the cover.
    pub order: Vec<Uuid>,
}

impl From<PhotoError> for ApiError {
    fn from(err: PhotoError) -> Self {
        match err {
            PhotoError::Forbidden(err) => err.into(),
            PhotoError::Store(err) => err,
            PhotoError::NotFound => ApiError::auction_not_found(),
            PhotoError::NotTheSeller => {
                ApiError::forbidden("forbidden", "only the lot's seller changes its photos")
            }
            PhotoError::HasBids => ApiError::conflict(
                "auction_has_bids",
                "this lot has bids: its photos can be added and reordered, not removed",
            ),
            PhotoError::Unavailable(err) => ApiError::unavailable("Temporal", err),
            PhotoError::Database(err) => err.into(),
        }
    }
}

#[utoipa::path(get, path = "/auctions/{id}/images", tag = "auctions", operation_id = "list_auction_images",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Photos, description = "the lot's photos, the cover first"),
        (status = 404, body = ErrorBody, description = "`auction_not_found`"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<ApiJson<Photos>, ApiError> {
    find_auction(&state.db, id).await?;
    let images = photos::of_auction(&state.db, id).await?;
    Ok(ApiJson(Photos { images }))
}

#[utoipa::path(post, path = "/auctions/{id}/images", tag = "auctions", operation_id = "upload_auction_images",
    params(("id" = Uuid, Path)),
    request_body(content = ImageUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = Photos, description = "stored, re-encoded as JPEG at two sizes; all the lot's photos after"),
        (status = 403, body = ErrorBody, description = "`forbidden`: only the lot's seller (or an admin)"),
        (status = 404, body = ErrorBody, description = "`auction_not_found`"),
        (status = 413, body = ErrorBody, description = "`payload_too_large`: more than the lot's room in photos of 5 MB, or over 16 KiB of part headers (and what precedes the first part), refused as the bytes arrive"),
        (status = 415, body = ErrorBody, description = "`unsupported_media_type`: not `multipart/form-data`"),
        (status = 422, body = ErrorBody, description = "`invalid_image` (not a JPEG, PNG or WebP by its content, over 5 MB, over 40 megapixels or 256 MiB to decode, or unreadable), `too_many_images` (8 per lot), `no_images`"),
        (status = 503, body = ErrorBody, description = "`busy`: too many photos being uploaded or decoded at once; retry after `Retry-After`"),
    ),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiMultipart(mut form): ApiMultipart,
) -> Result<(StatusCode, ApiJson<Photos>), ApiError> {
    service::seller_of(&state, &user, id.into()).await?;
    // Checked again when they are stored; this only spares reading files
    // that could not be.
    let room = MAX_IMAGES.saturating_sub(photos::of_auction(&state.db, id).await?.len());
    if room == 0 {
        return Err(photos::too_many_images(MAX_IMAGES));
    }
    let upload = upload_reader::read_upload(&state.uploads, &mut form, |_| false, room, |_| Ok(()))
        .await
        .map_err(|(_, err)| err)?;
    if upload.photos.is_empty() {
        return Err(ApiError::unprocessable(
            "no_images",
            "send one or more files in the `images` field",
        ));
    }
    let images = photos::add(&state.db, id, upload.photos).await?;
    Ok((StatusCode::CREATED, ApiJson(Photos { images })))
}

#[utoipa::path(put, path = "/auctions/{id}/images", tag = "auctions", operation_id = "reorder_auction_images",
    params(("id" = Uuid, Path)),
    request_body = PhotoOrder,
    responses(
        (status = 200, body = Photos, description = "the lot's photos in the new order"),
        (status = 403, body = ErrorBody, description = "`forbidden`: only the lot's seller (or an admin)"),
        (status = 404, body = ErrorBody, description = "`auction_not_found`"),
        (status = 422, body = ErrorBody, description = "`invalid_photo_order`: not each of the lot's photos once"),
    ),
    security(("bearer" = [])))]
pub async fn reorder(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PhotoOrder>,
) -> Result<ApiJson<Photos>, ApiError> {
    let images = service::reorder(&state, &user, id.into(), &body.order).await?;
    Ok(ApiJson(Photos { images }))
}

#[utoipa::path(delete, path = "/auctions/{id}/images/{image}", tag = "auctions", operation_id = "delete_auction_image",
    params(("id" = Uuid, Path), ("image" = Uuid, Path, description = "the photo's id")),
    responses(
        (status = 200, body = Photos, description = "removed; the lot's photos after"),
        (status = 403, body = ErrorBody, description = "`forbidden`: only the lot's seller (or an admin)"),
        (status = 404, body = ErrorBody, description = "`auction_not_found`, `image_not_found`"),
        (status = 409, body = ErrorBody, description = "`auction_has_bids`: bidders bid on what they saw, so photos stay once a bid is in (decided by the auction's workflow, in the order it takes bids)"),
        (status = 503, body = ErrorBody, description = "`service_unavailable`: Temporal did not answer; nothing was removed"),
    ),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((id, image)): ApiPath<(Uuid, Uuid)>,
) -> Result<ApiJson<Photos>, ApiError> {
    let images = service::remove(&state, &user, id.into(), image).await?;
    Ok(ApiJson(Photos { images }))
}
