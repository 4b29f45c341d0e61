//! Photos of a lot: checked by their content (JPEG, PNG or WebP, whatever
//! the file is called), decoded under limits, re-encoded as JPEG at two
//! sizes (a thumbnail for cards, a display size for the lot's page) and kept
//! in PostgreSQL. Re-encoding drops whatever else the file carried (EXIF,
//! location, scripts in odd formats).

use std::{io::Cursor, sync::LazyLock};

use axum::{
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use image::{DynamicImage, ImageFormat, ImageReader, Limits, codecs::jpeg::JpegEncoder};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::sync::Semaphore;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{error::ApiError, state::AppState};

/// Photos per lot.
pub const MAX_IMAGES: usize = 8;
/// Largest file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 5 * 1024 * 1024;
/// The body limit of an upload: every photo at once, and the form around them.
pub const MAX_UPLOAD_BYTES: usize = MAX_IMAGES * MAX_FILE_BYTES + 1024 * 1024;
/// Widest pixel count decoded (a tiny file can claim a huge picture).
const MAX_SIDE: u32 = 12_000;
const THUMB: (u32, u32) = (480, 360);
const DISPLAY: (u32, u32) = (1_600, 1_600);

/// Decoding is CPU and memory heavy: two at a time.
static DECODING: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(2));

/// One uploaded photo, ready to store.
pub struct Processed {
    pub thumb: Vec<u8>,
    pub display: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

fn refused(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_image", message)
}

fn jpeg(image: &DynamicImage) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&image.to_rgb8())
        .map_err(ApiError::internal)?;
    Ok(out)
}

/// Checks and re-encodes one file (`name` only for messages).
pub fn process(name: &str, bytes: &[u8]) -> Result<Processed, ApiError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(refused(format!("{name} is over 5 MB")));
    }
    let format = image::guess_format(bytes)
        .ok()
        .filter(|f| matches!(f, ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP))
        .ok_or_else(|| refused(format!("{name} is not a JPEG, PNG or WebP picture")))?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|err| refused(format!("{name} cannot be read as a picture: {err}")))?;
    let thumb = image.thumbnail(THUMB.0, THUMB.1);
    let display = if image.width() > DISPLAY.0 || image.height() > DISPLAY.1 {
        image.resize(DISPLAY.0, DISPLAY.1, image::imageops::FilterType::Lanczos3)
    } else {
        image
    };
    Ok(Processed {
        thumb: jpeg(&thumb)?,
        width: display.width(),
        height: display.height(),
        display: jpeg(&display)?,
    })
}

/// [`process`] on the blocking pool, two at a time.
pub async fn process_async(name: String, bytes: Vec<u8>) -> Result<Processed, ApiError> {
    let _turn = DECODING.acquire().await.map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(move || process(&name, &bytes))
        .await
        .map_err(ApiError::internal)?
}

/// Stores `photos` after the lot's existing ones; 422 `too_many_images`
/// beyond [`MAX_IMAGES`]. The new photos' URLs.
pub async fn add(
    db: &PgPool,
    auction_id: Uuid,
    photos: Vec<Processed>,
) -> Result<Vec<String>, ApiError> {
    let mut tx = db.begin().await?;
    // One upload at a time per lot, so positions never collide.
    sqlx::query("SELECT 1 FROM auctions WHERE id = $1 FOR UPDATE")
        .bind(auction_id)
        .execute(&mut *tx)
        .await?;
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM auction_images WHERE auction_id = $1")
        .bind(auction_id)
        .fetch_one(&mut *tx)
        .await?;
    let have = usize::try_from(have).unwrap_or(MAX_IMAGES);
    if have + photos.len() > MAX_IMAGES {
        return Err(ApiError::unprocessable(
            "too_many_images",
            format!("a lot has at most {MAX_IMAGES} photos; it has {have}"),
        ));
    }
    let mut urls = Vec::with_capacity(photos.len());
    for (i, photo) in photos.into_iter().enumerate() {
        let position = i16::try_from(have + i + 1).map_err(ApiError::internal)?;
        sqlx::query(
            "INSERT INTO auction_images (auction_id, position, thumb, display, width, height)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(auction_id)
        .bind(position)
        .bind(photo.thumb)
        .bind(photo.display)
        .bind(i32::try_from(photo.width).unwrap_or(i32::MAX))
        .bind(i32::try_from(photo.height).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?;
        urls.push(url(auction_id, position, "display"));
    }
    tx.commit().await?;
    Ok(urls)
}

fn url(auction_id: Uuid, position: i16, size: &str) -> String {
    format!("/images/{auction_id}/{position}/{size}.jpg")
}

/// The display-size photos of a lot, in order.
pub async fn of_auction(db: &PgPool, auction_id: Uuid) -> Result<Vec<String>, ApiError> {
    let positions: Vec<i16> = sqlx::query_scalar(
        "SELECT position FROM auction_images WHERE auction_id = $1 ORDER BY position",
    )
    .bind(auction_id)
    .fetch_all(db)
    .await?;
    Ok(positions
        .into_iter()
        .map(|p| url(auction_id, p, "display"))
        .collect())
}

/// The first photo's thumbnail of each of `auctions` that has one.
pub async fn covers(db: &PgPool, auctions: &[Uuid]) -> Result<Vec<(Uuid, String)>, ApiError> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT auction_id FROM auction_images WHERE auction_id = ANY($1) AND position = 1",
    )
    .bind(auctions)
    .fetch_all(db)
    .await?;
    Ok(ids
        .into_iter()
        .map(|id| (id, url(id, 1, "thumb")))
        .collect())
}

/// `GET /images/{auction}/{position}/{size}.jpg`, cached for a year (a
/// stored photo never changes).
pub async fn serve(
    State(state): State<AppState>,
    Path((auction_id, position, file)): Path<(Uuid, i16, String)>,
) -> Result<Response, ApiError> {
    let column = match file.as_str() {
        "thumb.jpg" => "thumb",
        "display.jpg" => "display",
        _ => return Err(ApiError::not_found("image_not_found", "no such image")),
    };
    let bytes: Option<Vec<u8>> = sqlx::query_scalar(&format!(
        "SELECT {column} FROM auction_images WHERE auction_id = $1 AND position = $2"
    ))
    .bind(auction_id)
    .bind(position)
    .fetch_optional(&state.db)
    .await?;
    let bytes = bytes.ok_or_else(|| ApiError::not_found("image_not_found", "no such image"))?;
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

/// The answer to an upload.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImagesAdded {
    /// The new photos, display size (`…/thumb.jpg` for thumbnails).
    pub images: Vec<String>,
}
