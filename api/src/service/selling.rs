//! Putting a lot up: the seller's auction checked, recorded and its workflow
//! started, idempotent by the seller's key.

use chrono::Utc;
use gavel_store::{auctions as read_model, sales};
use gavel_workflows::{
    contract::{
        auction::AuctionInput,
        view::{AuctionStatus, view_of},
    },
    rules::{Book, Phase},
};
use uuid::Uuid;

use super::lots::present;
use crate::{
    auctions::{
        gateway,
        input::{CreateAuctionRequest, check_idempotency_key},
        view::AuctionResponse,
    },
    auth::{AuthUser, Role, RoleError},
    input_error::InputError,
    state::AppState,
};

/// Why an auction was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// A malformed key or a field the checks refuse.
    #[error(transparent)]
    Invalid(#[from] InputError),
    /// Only sellers put lots up.
    #[error(transparent)]
    Forbidden(#[from] RoleError),
    /// The seller left as many paid lots unshipped as suspend a bidder's
    /// bidding (the same limit and lifetime); an admin can clear them.
    #[error("selling is suspended: paid lots were left unshipped")]
    Suspended,
    /// The seller's email address is not verified yet.
    #[error("confirm your email address before selling")]
    EmailUnverified,
    #[error("this key was used for a different auction")]
    KeyReused,
    #[error("the auction vanished after it was recorded")]
    NotFound,
    #[error("Temporal is unavailable: {0}")]
    Unavailable(anyhow::Error),
    #[error(transparent)]
    Database(#[from] gavel_store::StoreError),
}

/// A new auction as its seller sends it, with the key that makes a retried
/// create find the first one (as sent: checked here).
#[derive(Debug, Clone)]
pub struct NewAuction {
    pub key: Option<String>,
    pub request: CreateAuctionRequest,
}

/// Refuses a seller whose live seller strikes (not cleared, younger than
/// the strike lifetime) reach the strike limit; a limit of 0 never does.
async fn check_standing(state: &AppState, user: &AuthUser) -> Result<(), CreateError> {
    let policy = state.config.strikes;
    if policy.limit == 0 {
        return Ok(());
    }
    let strikes = sales::seller_strikes(&state.db, user.id, Utc::now() - policy.ttl).await?;
    if strikes >= i64::from(policy.limit) {
        return Err(CreateError::Suspended);
    }
    Ok(())
}

/// Whether `user` may put lots up at all: a seller whose address is
/// verified. Cheap (no body read), so a form can ask before its upload.
pub async fn may_sell(state: &AppState, user: &AuthUser) -> Result<(), CreateError> {
    user.require(&[Role::Seller])?;
    if !super::account_email::may_trade(state, user.id).await? {
        return Err(CreateError::EmailUnverified);
    }
    Ok(())
}

/// Creates `new` for `user` (sellers only) and starts its workflow.
pub async fn create_auction(
    state: &AppState,
    user: &AuthUser,
    new: NewAuction,
) -> Result<AuctionResponse, CreateError> {
    may_sell(state, user).await?;
    check_standing(state, user).await?;
    let key = new.key.as_deref().map(check_idempotency_key).transpose()?;
    let body = new.request;
    let now = Utc::now();
    let auction = body.validate(user.id, now)?;
    // The same seller and key always name the same auction, so a retried
    // create can only ever find the first one.
    let auction_id = key
        .as_ref()
        .map_or_else(Uuid::new_v4, |k| Uuid::new_v5(&user.id, k.as_bytes()));
    let status = if auction.terms.starts_at > now {
        AuctionStatus::Scheduled
    } else {
        AuctionStatus::Open
    };
    let fingerprint = body.fingerprint();
    let inserted = read_model::create_auction(
        &state.db,
        auction_id,
        &auction.listing,
        &auction.terms,
        status,
        &fingerprint,
        // Fixed now: a later change of the settings never changes this lot.
        state.config.commission.columns(),
    )
    .await?;
    if !inserted {
        let existing = read_model::find(&state.db, auction_id)
            .await?
            .ok_or(CreateError::NotFound)?;
        if existing.create_fingerprint.as_deref() != Some(fingerprint.as_str()) {
            return Err(CreateError::KeyReused);
        }
    }
    let mut book = Book::new(auction.terms);
    if status == AuctionStatus::Open {
        // Open from the first instant: a bid may reach the workflow before
        // its first task has run.
        book.phase = Phase::Open;
    }
    // What the workflow will say the moment it starts.
    let view = view_of(auction_id, &book, None, None, 0);
    let input = AuctionInput {
        auction_id,
        listing: auction.listing,
        book,
        settings: state.config.auction_settings,
        carried: None,
    };
    if let Err(err) = gateway::start(&state.temporal, &state.config.task_queue, input).await {
        if inserted {
            let _ = read_model::delete_unstarted(&state.db, auction_id).await;
        }
        return Err(CreateError::Unavailable(err));
    }
    let row = read_model::find(&state.db, auction_id)
        .await?
        .ok_or(CreateError::NotFound)?;
    Ok(if inserted {
        AuctionResponse::live(&row, &view, |_| None)
    } else {
        present(state, &row).await?
    })
}
