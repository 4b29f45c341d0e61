//! The `auction_images` table: a lot's photos, added, listed, reordered and
//! removed under a lock on the lot's row (so two changes to one lot take
//! turns and positions never collide), and read back by id. `position`
//! (1..n, no gaps) only orders a lot's photos, the first being its cover.

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::StoreError;

/// One stored photo of a lot (its bytes are read by [`bytes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoRow {
    pub id: Uuid,
    /// The display size's width and height in pixels.
    pub width: i32,
    pub height: i32,
}

/// A photo to store: its two sizes, already encoded.
#[derive(Debug, Clone, Copy)]
pub struct NewPhoto<'a> {
    pub thumb: &'a [u8],
    pub display: &'a [u8],
    pub width: u32,
    pub height: u32,
}

/// Why a change to a lot's photos was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    #[error("no such auction")]
    AuctionNotFound,
    /// Adding would take the lot past the most it may have; it has `have`.
    #[error("the lot has {have} photos already")]
    TooMany { have: usize },
    /// The order asked for is not each of the lot's `have` photos once.
    #[error("the order does not list each of the lot's {have} photos once")]
    BadOrder { have: usize },
    #[error("the lot has no such photo")]
    PhotoNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for PhotoError {
    fn from(err: sqlx::Error) -> Self {
        Self::Store(err.into())
    }
}

/// Holds the lot's row for the rest of `tx`.
async fn lock_lot(tx: &mut Transaction<'_, Postgres>, auction_id: Uuid) -> Result<(), PhotoError> {
    sqlx::query!(
        "SELECT id FROM auctions WHERE id = $1 FOR UPDATE",
        auction_id
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(PhotoError::AuctionNotFound)?;
    Ok(())
}

async fn list_in(
    executor: impl sqlx::PgExecutor<'_>,
    auction_id: Uuid,
) -> sqlx::Result<Vec<PhotoRow>> {
    sqlx::query_as!(
        PhotoRow,
        "SELECT id, width, height FROM auction_images WHERE auction_id = $1 ORDER BY position",
        auction_id
    )
    .fetch_all(executor)
    .await
}

/// The lot's photos, the cover first.
pub async fn of_auction(db: &PgPool, auction_id: Uuid) -> crate::Result<Vec<PhotoRow>> {
    Ok(list_in(db, auction_id).await?)
}

/// Stores `photos` after the lot's existing ones, refused beyond `max`.
/// All the lot's photos after.
pub async fn add(
    db: &PgPool,
    auction_id: Uuid,
    photos: &[NewPhoto<'_>],
    max: usize,
) -> Result<Vec<PhotoRow>, PhotoError> {
    let mut tx = db.begin().await?;
    lock_lot(&mut tx, auction_id).await?;
    let have = sqlx::query_scalar!(
        r#"SELECT count(*) AS "have!" FROM auction_images WHERE auction_id = $1"#,
        auction_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let have = crate::fits::<usize, _>(have)?;
    if have + photos.len() > max {
        return Err(PhotoError::TooMany { have });
    }
    for (i, photo) in photos.iter().enumerate() {
        let position = crate::fits::<i16, _>(have + i + 1)?;
        sqlx::query!(
            "INSERT INTO auction_images (auction_id, position, thumb, display, width, height)
             VALUES ($1, $2, $3, $4, $5, $6)",
            auction_id,
            position,
            photo.thumb,
            photo.display,
            crate::fits::<i32, _>(photo.width)?,
            crate::fits::<i32, _>(photo.height)?,
        )
        .execute(&mut *tx)
        .await?;
    }
    let all = list_in(&mut *tx, auction_id).await?;
    tx.commit().await?;
    Ok(all)
}

/// Puts the lot's photos in `order` (every one of its photos, once each);
/// otherwise refused. All the lot's photos after.
pub async fn reorder(
    db: &PgPool,
    auction_id: Uuid,
    order: &[Uuid],
) -> Result<Vec<PhotoRow>, PhotoError> {
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
        return Err(PhotoError::BadOrder { have: have.len() });
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
/// go. `allowed` is asked with the removal made and not yet committed (the
/// lot's row held), so its answer and the removal are one decision:
/// refused, nothing changes. The lot's photos after.
pub async fn remove<E, F, Fut>(
    db: &PgPool,
    auction_id: Uuid,
    photo: Uuid,
    allowed: F,
) -> Result<Vec<PhotoRow>, E>
where
    E: From<PhotoError>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let mut tx = db.begin().await.map_err(PhotoError::from)?;
    lock_lot(&mut tx, auction_id).await?;
    let removed = sqlx::query!(
        "DELETE FROM auction_images WHERE auction_id = $1 AND id = $2",
        auction_id,
        photo
    )
    .execute(&mut *tx)
    .await
    .map_err(PhotoError::from)?;
    if removed.rows_affected() == 0 {
        return Err(PhotoError::PhotoNotFound.into());
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
    .await
    .map_err(PhotoError::from)?;
    let all = list_in(&mut *tx, auction_id)
        .await
        .map_err(PhotoError::from)?;
    tx.commit().await.map_err(PhotoError::from)?;
    Ok(all)
}

/// The cover (first photo) of each of `auctions` that has one.
pub async fn covers(db: &PgPool, auctions: &[Uuid]) -> crate::Result<Vec<(Uuid, Uuid)>> {
    let rows = sqlx::query!(
        "SELECT auction_id, id FROM auction_images WHERE auction_id = ANY($1) AND position = 1",
        auctions
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.auction_id, r.id)).collect())
}

/// The bytes of photo `id` in one size (`thumb` or the display size).
pub async fn bytes(db: &PgPool, id: Uuid, thumb: bool) -> crate::Result<Option<Vec<u8>>> {
    let bytes = sqlx::query_scalar!(
        r#"SELECT CASE WHEN $2 THEN thumb ELSE display END AS "bytes!"
           FROM auction_images WHERE id = $1"#,
        id,
        thumb
    )
    .fetch_optional(db)
    .await?;
    Ok(bytes)
}
