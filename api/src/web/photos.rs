//! A lot's photos in PostgreSQL (`auction_images`): adding, listing,
//! reordering and removing them, and serving each under its own id. A
//! photo's bytes never change once stored, so its URL is cached for a year;
//! `position` (1..n, no gaps) only orders a lot's photos, the first being its
//! cover.

use axum::{
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};
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

/// Holds the lot's row for the rest of `tx`, so two changes to one lot's
/// photos take turns and positions never collide.
async fn lock_lot(tx: &mut Transaction<'_, Postgres>, auction_id: Uuid) -> Result<(), ApiError> {
    sqlx::query!(
        "SELECT id FROM auctions WHERE id = $1 FOR UPDATE",
        auction_id
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(crate::routes::auctions::auction_not_found)?;
    Ok(())
}

async fn list_in(
    executor: impl sqlx::PgExecutor<'_>,
    auction_id: Uuid,
) -> Result<Vec<Photo>, ApiError> {
    let rows = sqlx::query!(
        "SELECT id, width, height FROM auction_images WHERE auction_id = $1 ORDER BY position",
        auction_id
    )
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Photo {
            id: r.id,
            display: url(r.id, "display"),
            thumb: url(r.id, "thumb"),
            width: r.width,
            height: r.height,
        })
        .collect())
}

/// The lot's photos, the cover first.
pub async fn of_auction(db: &PgPool, auction_id: Uuid) -> Result<Vec<Photo>, ApiError> {
    list_in(db, auction_id).await
}

/// Stores `photos` after the lot's existing ones; 422 `too_many_images`
/// beyond [`MAX_IMAGES`]. All the lot's photos after.
pub async fn add(
    db: &PgPool,
    auction_id: Uuid,
    photos: Vec<Processed>,
) -> Result<Vec<Photo>, ApiError> {
    let mut tx = db.begin().await?;
    lock_lot(&mut tx, auction_id).await?;
    let have = sqlx::query_scalar!(
        r#"SELECT count(*) AS "have!" FROM auction_images WHERE auction_id = $1"#,
        auction_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let have = usize::try_from(have).unwrap_or(MAX_IMAGES);
    if have + photos.len() > MAX_IMAGES {
        return Err(too_many_images(have));
    }
    for (i, photo) in photos.into_iter().enumerate() {
        let position = i16::try_from(have + i + 1).map_err(ApiError::internal)?;
        sqlx::query!(
            "INSERT INTO auction_images (auction_id, position, thumb, display, width, height)
             VALUES ($1, $2, $3, $4, $5, $6)",
            auction_id,
            position,
            photo.thumb,
            photo.display,
            i32::try_from(photo.width).unwrap_or(i32::MAX),
            i32::try_from(photo.height).unwrap_or(i32::MAX),
        )
        .execute(&mut *tx)
        .await?;
    }
    let all = list_in(&mut *tx, auction_id).await?;
    tx.commit().await?;
    Ok(all)
}

/// Puts the lot's photos in `order` (every one of its photos, once each);
/// 422 `invalid_photo_order` otherwise, and nothing changes.
pub async fn reorder(
    db: &PgPool,
    auction_id: Uuid,
    order: &[Uuid],
) -> Result<Vec<Photo>, ApiError> {
    let mut tx = db.begin().await?;
    lock_lot(&mut tx, auction_id).await?;
    let mut have: Vec<Uuid> = list_in(&mut *tx, auction_id)
        .await?
        .into_iter()
        .map(|p| p.id)
        .collect();
    let mut wanted = order.to_vec();
    have.sort_unstable();
    wanted.sort_unstable();
    if have != wanted {
        return Err(ApiError::unprocessable(
            "invalid_photo_order",
            format!(
                "list each of the lot's {} photos once, by id, in the order wanted",
                have.len()
            ),
        ));
    }
    sqlx::query!(
        "UPDATE auction_images a SET position = o.position
         FROM unnest($2::uuid[]) WITH ORDINALITY AS o(id, position)
         WHERE a.auction_id = $1 AND a.id = o.id",
        auction_id,
        order
    )
    .execute(&mut *tx)
    .await?;
    let all = list_in(&mut *tx, auction_id).await?;
    tx.commit().await?;
    Ok(all)
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
    let mut tx = db.begin().await?;
    lock_lot(&mut tx, auction_id).await?;
    let removed = sqlx::query!(
        "DELETE FROM auction_images WHERE auction_id = $1 AND id = $2",
        auction_id,
        photo
    )
    .execute(&mut *tx)
    .await?;
    if removed.rows_affected() == 0 {
        return Err(image_not_found());
    }
    allowed().await?;
    sqlx::query!(
        "UPDATE auction_images a SET position = r.n
         FROM (SELECT id, row_number() OVER (ORDER BY position) AS n
               FROM auction_images WHERE auction_id = $1) r
         WHERE a.id = r.id AND a.position <> r.n",
        auction_id
    )
    .execute(&mut *tx)
    .await?;
    let all = list_in(&mut *tx, auction_id).await?;
    tx.commit().await?;
    Ok(all)
}

/// The cover's thumbnail of each of `auctions` that has a photo.
pub async fn covers(db: &PgPool, auctions: &[Uuid]) -> Result<Vec<(Uuid, String)>, ApiError> {
    let rows = sqlx::query!(
        "SELECT auction_id, id FROM auction_images WHERE auction_id = ANY($1) AND position = 1",
        auctions
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.auction_id, url(r.id, "thumb")))
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
    let bytes = sqlx::query_scalar!(
        r#"SELECT CASE WHEN $2 THEN thumb ELSE display END AS "bytes!"
           FROM auction_images WHERE id = $1"#,
        photo,
        thumb
    )
    .fetch_optional(&state.db)
    .await?;
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
