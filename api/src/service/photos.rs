//! A lot's photos as its seller (or an admin) manages them: who may, the new
//! order, and a removal the auction's workflow agrees to (none once a bid
//! is in). Reading and re-encoding uploads is [`crate::web::images`].

use gavel_store::auctions::{self as store, AuctionRow};
use gavel_workflows::ids::AuctionId;
use uuid::Uuid;

use crate::{
    auctions::gateway::{self, CallError},
    auth::{AuthUser, Role, RoleError},
    error::ApiError,
    state::AppState,
    web::photos::{self, Photo},
};

/// Why a photo change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// Only sellers and admins manage photos.
    #[error(transparent)]
    Forbidden(#[from] RoleError),
    /// Refused by the photo store (`image_not_found`, `invalid_photo_order`,
    /// …): it lives in the web layer and still answers as the API does.
    #[error(transparent)]
    Store(#[from] ApiError),
    #[error("no such auction")]
    NotFound,
    #[error("only the lot's seller changes its photos")]
    NotTheSeller,
    /// Bidders bid on what they saw: photos stay once a bid is in.
    #[error("this lot has bids")]
    HasBids,
    #[error("Temporal is unavailable: {0}")]
    Unavailable(anyhow::Error),
    #[error(transparent)]
    Database(#[from] gavel_store::StoreError),
}

/// The lot, to its seller or an admin (sellers and admins only).
pub async fn seller_of(
    state: &AppState,
    user: &AuthUser,
    id: AuctionId,
) -> Result<AuctionRow, PhotoError> {
    user.require(&[Role::Seller, Role::Admin])?;
    let row = store::find(&state.db, id.uuid())
        .await?
        .ok_or(PhotoError::NotFound)?;
    if user.role != Role::Admin && row.seller_id != user.id {
        return Err(PhotoError::NotTheSeller);
    }
    Ok(row)
}

/// The lot's photos in `order` (each of them once; the first is the cover).
pub async fn reorder(
    state: &AppState,
    user: &AuthUser,
    id: AuctionId,
    order: &[Uuid],
) -> Result<Vec<Photo>, PhotoError> {
    seller_of(state, user, id).await?;
    Ok(photos::reorder(&state.db, id.uuid(), order).await?)
}

/// Removes `photo` of lot `id` unless a bid is in; the lot's photos after.
pub async fn remove(
    state: &AppState,
    user: &AuthUser,
    id: AuctionId,
    photo: Uuid,
) -> Result<Vec<Photo>, PhotoError> {
    let row = seller_of(state, user, id).await?;
    let mut refused = None;
    let slot = &mut refused;
    let removed = photos::remove(&state.db, id.uuid(), photo, move || async move {
        match may_remove(state, row, photo).await {
            Ok(()) => Ok(()),
            Err(err) => {
                // The store only needs to know it is refused; the reason
                // is kept typed for the caller.
                let said = ApiError::conflict("photo_kept", err.to_string());
                *slot = Some(err);
                Err(said)
            }
        }
    })
    .await;
    match (removed, refused) {
        (Ok(images), _) => Ok(images),
        (Err(_), Some(reason)) => Err(reason),
        (Err(err), None) => Err(err.into()),
    }
}

/// Whether a photo of lot `row` may go: asked of its workflow, which orders
/// bids, so no bid can fall between this answer and the removal (held
/// uncommitted meanwhile). Checking the bid count and deleting afterwards
/// let a first bid land in between. Once the workflow has finished, no bid
/// can come, and the read model's count is the last word.
async fn may_remove(state: &AppState, row: AuctionRow, photo: Uuid) -> Result<(), PhotoError> {
    let finished = |row: &AuctionRow| {
        if row.bid_count > 0 {
            Err(PhotoError::HasBids)
        } else {
            Ok(())
        }
    };
    if !row.status.is_live() {
        return finished(&row);
    }
    match gateway::remove_photo(&state.temporal, row.id, photo).await {
        Ok(_) => Ok(()),
        Err(CallError::Refused(_)) => Err(PhotoError::HasBids),
        Err(CallError::Gone) => {
            let now = store::find(&state.db, row.id)
                .await?
                .ok_or(PhotoError::NotFound)?;
            finished(&now)
        }
        Err(CallError::Unavailable(err)) => Err(PhotoError::Unavailable(err)),
    }
}
