//! A lot's photos as the API shows them (stored by `gavel_store::photos`):
//! adding, listing, reordering and removing them, and serving each under its
//! own id. A photo's bytes never change once stored, so its URL is cached
//! for a year; the first of a lot's photos is its cover.

use axum::{
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use gavel_store::photos::{self as store, NewPhoto, PhotoError, PhotoRow};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::images::{MAX_IMAGES, Processed};
use crate::{error::ApiError, state::AppState};

/// One photo of a lot.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Photo {
    pub id: Uuid,
    /// The display size (at most 1600×1600).
    #[schema(example = "/images/0b5e8f9e-2f6c-4d4c-9a57-3c1f3f0f6a11/display.jpg")]
    pub display: String,
    /// The thumbnail (at most 480×360).
    #[schema(example = "/images/0b5e8f9e-2f6c-4d4c-9a57-3c1f3f0f6a11/thumb.jpg")]
    pub thumb: String,
    /// The display size's width and height in pixels.
    pub width: i32,
    pub height: i32,
}

/// A lot's photos, the cover first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Photos {
    pub images: Vec<Photo>,
}

fn url(photo: Uuid, size: &str) -> String {
    format!("/images/{photo}/{size}.jpg")
}

fn image_not_found() -> ApiError {
    ApiError::not_found("image_not_found", "this lot has no such photo")
}

/// 422 `too_many_images` for a lot that has `have` photos.
pub fn too_many_images(have: usize) -> ApiError {
    ApiError::unprocessable(
        "too_many_images",
        format!("a lot has at most {MAX_IMAGES} photos; this one has {have}"),
    )
}

impl From<PhotoError> for ApiError {
    fn from(err: PhotoError) -> Self {
        match err {
            PhotoError::AuctionNotFound => ApiError::auction_not_found(),
            PhotoError::TooMany { have } => too_many_images(have),
            PhotoError::BadOrder { have } => ApiError::unprocessable(
                "invalid_photo_order",
                format!("list each of the lot's {have} photos once, by id, in the order wanted"),
            ),
            PhotoError::PhotoNotFound => image_not_found(),
            PhotoError::Store(err) => err.into(),
        }
    }
}

fn shown(rows: Vec<PhotoRow>) -> Vec<Photo> {
    rows.into_iter()
        .map(|r| Photo {
            id: r.id,
            display: url(r.id, "display"),
            thumb: url(r.id, "thumb"),
            width: r.width,
            height: r.height,
        })
        .collect()
}

/// The lot's photos, the cover first.
pub async fn of_auction(db: &PgPool, auction_id: Uuid) -> Result<Vec<Photo>, ApiError> {
    Ok(shown(store::of_auction(db, auction_id).await?))
}

/// Stores `photos` after the lot's existing ones; 422 `too_many_images`
/// beyond [`MAX_IMAGES`]. All the lot's photos after.
pub async fn add(
    db: &PgPool,
    auction_id: Uuid,
    photos: Vec<Processed>,
) -> Result<Vec<Photo>, ApiError> {
    let new: Vec<NewPhoto<'_>> = photos
        .iter()
        .map(|p| NewPhoto {
            thumb: &p.thumb,
            display: &p.display,
            width: p.width,
            height: p.height,
        })
        .collect();
    Ok(shown(store::add(db, auction_id, &new, MAX_IMAGES).await?))
}

/// Puts the lot's photos in `order` (every one of its photos, once each);
/// 422 `invalid_photo_order` otherwise, and nothing changes.
pub async fn reorder(
    db: &PgPool,
    auction_id: Uuid,
    order: &[Uuid],
) -> Result<Vec<Photo>, ApiError> {
    Ok(shown(store::reorder(db, auction_id, order).await?))
}

/// Removes one photo and closes the gap it leaves, if `allowed` says it may
/// go; 404 `image_not_found` when the lot has no such photo. `allowed` is
/// asked with the removal made and not yet committed (the lot's row held),
/// so its answer and the removal are one decision: refused, nothing
/// changes. The lot's photos after.
pub async fn remove<F, Fut>(
    db: &PgPool,
    auction_id: Uuid,
    photo: Uuid,
    allowed: F,
) -> Result<Vec<Photo>, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), ApiError>>,
{
    Ok(shown(store::remove(db, auction_id, photo, allowed).await?))
}

/// The cover's thumbnail of each of `auctions` that has a photo.
pub async fn covers(db: &PgPool, auctions: &[Uuid]) -> Result<Vec<(Uuid, String)>, ApiError> {
    let covers = store::covers(db, auctions).await?;
    Ok(covers
        .into_iter()
        .map(|(auction, photo)| (auction, url(photo, "thumb")))
        .collect())
}

/// `GET /images/{photo}/{size}.jpg`, cached for a year (a stored photo never
/// changes; a removed one is gone: 404).
pub async fn serve(
    State(state): State<AppState>,
    Path((photo, file)): Path<(Uuid, String)>,
) -> Result<Response, ApiError> {
    let thumb = match file.as_str() {
        "thumb.jpg" => true,
        "display.jpg" => false,
        _ => return Err(image_not_found()),
    };
    let bytes = store::bytes(&state.db, photo, thumb).await?;
    let bytes = bytes.ok_or_else(image_not_found)?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        bytes,
    )
        .into_response())
}
