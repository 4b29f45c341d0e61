//! `/auctions`: create, list, detail, cancel (bids: [`super::bids`]; the live
//! stream: [`super::events`]).

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use gavel_store::auctions::{self as store, AuctionRow, ListFilter};
use gavel_workflows::contract::{
    auction::{CancelRefusal, CancelRequest},
    view::AuctionStatus,
};
use serde::Deserialize;
use sqlx::PgPool;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::{
    auctions::{
        gateway::{self, CallError},
        input::{CancelAuctionRequest, CreateAuctionRequest},
        view::{AuctionPage, AuctionResponse},
    },
    auth::{AuthUser, Role},
    error::{ApiError, ErrorBody},
    extract::{ApiJson, ApiPath, ApiQuery},
    service::{
        lots,
        saved_searches::{FilterError, ListingFilters},
        selling::{self, CreateError, NewAuction},
    },
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auctions", post(create).get(list))
        .route("/auctions/{id}", get(detail))
        .route("/auctions/{id}/cancel", post(cancel))
}

pub(super) fn auction_closed() -> ApiError {
    ApiError::conflict("auction_closed", "the auction is closed")
}

pub(super) async fn find_auction(db: &PgPool, id: Uuid) -> Result<AuctionRow, ApiError> {
    store::find(db, id)
        .await?
        .ok_or_else(ApiError::auction_not_found)
}

/// The row overlaid with the live view when the workflow answers.
pub(crate) async fn present(
    state: &AppState,
    row: &AuctionRow,
) -> Result<AuctionResponse, ApiError> {
    Ok(lots::present(state, row).await?)
}

/// 403 `email_unverified`: bidding and selling wait for the link emailed at
/// sign-up (`POST /auth/verify-email`; another with `/auth/verify-email/resend`).
pub fn email_unverified() -> ApiError {
    ApiError::forbidden(
        "email_unverified",
        "confirm your email address first: follow the link emailed to you (or ask for another)",
    )
}

impl From<FilterError> for ApiError {
    fn from(err: FilterError) -> Self {
        match err {
            FilterError::Status => {
                let words: Vec<&str> = AuctionStatus::ALL.iter().map(|s| s.as_str()).collect();
                invalid_query(
                    "invalid_status",
                    &format!("status must be one of {}", words.join(", ")),
                )
            }
            FilterError::SellerId => invalid_query("invalid_seller_id", "seller_id must be a UUID"),
            FilterError::Query => {
                invalid_query("invalid_query", "q must be at most 100 characters")
            }
        }
    }
}

impl From<CreateError> for ApiError {
    fn from(err: CreateError) -> Self {
        match err {
            CreateError::Invalid(err) => err.into(),
            CreateError::Forbidden(err) => err.into(),
            CreateError::Suspended => ApiError::forbidden(
                "selling_suspended",
                "selling is suspended: paid lots were left unshipped; an admin can clear the strikes",
            ),
            CreateError::EmailUnverified => email_unverified(),
            CreateError::KeyReused => ApiError::conflict(
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different auction",
            ),
            CreateError::NotFound => ApiError::auction_not_found(),
            CreateError::Unavailable(err) => ApiError::unavailable("Temporal", err),
            CreateError::Database(err) => err.into(),
        }
    }
}

#[utoipa::path(post, path = "/auctions", tag = "auctions", operation_id = "create_auction",
    request_body = CreateAuctionRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "a retried create with the same key returns the same auction")),
    responses(
        (status = 201, body = AuctionResponse, description = "auction created; its workflow runs"),
        (status = 403, body = ErrorBody, description = "`forbidden`: only sellers create auctions; `selling_suspended`: the seller left as many paid lots unshipped (seller strikes) as suspend bidding, until an admin clears them; `email_unverified`: the account has not confirmed its email address yet (`POST /auth/verify-email`)"),
        (status = 409, body = ErrorBody, description = "`idempotency_key_reused` with a different body"),
        (status = 422, body = ErrorBody, description = "`invalid_title`, `invalid_description`, `invalid_currency`, `invalid_amount`, `invalid_reserve_price`, `invalid_buy_now_price`, `invalid_min_increment`, `invalid_ends_at`, `invalid_anti_sniping`, `invalid_hard_close_at`, `invalid_idempotency_key`"),
        (status = 503, body = ErrorBody, description = "`service_unavailable`: Temporal or the database is unavailable; retry after `Retry-After` with the same key"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateAuctionRequest>,
) -> Result<(StatusCode, ApiJson<AuctionResponse>), ApiError> {
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let new = NewAuction { key, request: body };
    let created = selling::create_auction(&state, &user, new).await?;
    Ok((StatusCode::CREATED, ApiJson(created)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// One status (`open`, `closed`, …).
    pub status: Option<String>,
    pub seller_id: Option<String>,
    /// Words in the title or description.
    pub q: Option<String>,
    /// 1 to 100; 20 by default.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub(super) fn invalid_query(code: &'static str, message: &str) -> ApiError {
    ApiError::unprocessable(code, message)
}

pub(super) fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(20),
        Some(l) if (1..=100).contains(&l) => Ok(l),
        Some(_) => Err(invalid_query("invalid_limit", "limit must be 1 to 100")),
    }
}

#[utoipa::path(get, path = "/auctions", tag = "auctions", operation_id = "list_auctions", params(ListQuery),
    responses(
        (status = 200, body = AuctionPage, description = "newest first"),
        (status = 422, body = ErrorBody, description = "`invalid_status`, `invalid_seller_id`, `invalid_limit`, `invalid_cursor`, `invalid_query`"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<ApiJson<AuctionPage>, ApiError> {
    let ListingFilters {
        status,
        seller_id,
        text,
    } = ListingFilters::parse(
        query.status.as_deref(),
        query.seller_id.as_deref(),
        query.q.as_deref(),
    )?;
    let limit = page_limit(query.limit)?;
    let after = query
        .cursor
        .as_deref()
        .map(|c| {
            lots::decode_cursor(c)
                .ok_or_else(|| invalid_query("invalid_cursor", "cursor is not one we gave out"))
        })
        .transpose()?;
    let filter = ListFilter {
        status,
        seller_id,
        text,
        after,
        limit: limit + 1,
        ending_first: false,
        listed_within: None,
    };
    let mut rows = store::list(&state.db, &filter).await?;
    let page = usize::try_from(limit).map_err(ApiError::internal)?;
    let next_cursor = if rows.len() > page {
        rows.truncate(page);
        rows.last().map(|r| lots::encode_cursor(r.created_at, r.id))
    } else {
        None
    };
    Ok(ApiJson(AuctionPage {
        items: rows.iter().map(AuctionResponse::from_row).collect(),
        next_cursor,
    }))
}

#[utoipa::path(get, path = "/auctions/{id}", tag = "auctions", operation_id = "get_auction",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = AuctionResponse, description = "live from the workflow while open; from the read model after"),
        (status = 404, body = ErrorBody, description = "`auction_not_found`"),
    ))]
pub async fn detail(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<ApiJson<AuctionResponse>, ApiError> {
    let row = find_auction(&state.db, id).await?;
    Ok(ApiJson(present(&state, &row).await?))
}

#[utoipa::path(post, path = "/auctions/{id}/cancel", tag = "auctions", operation_id = "cancel_auction",
    params(("id" = Uuid, Path)),
    request_body = CancelAuctionRequest,
    responses(
        (status = 200, body = AuctionResponse, description = "cancelled"),
        (status = 403, body = ErrorBody, description = "`forbidden`, `cancel_not_allowed`"),
        (status = 404, body = ErrorBody, description = "`auction_not_found`"),
        (status = 409, body = ErrorBody, description = "`auction_has_bids` (sellers cancel only before the first bid), `auction_closed`"),
        (status = 503, body = ErrorBody, description = "`service_unavailable`: Temporal or the database is unavailable; retry after `Retry-After`"),
    ),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CancelAuctionRequest>,
) -> Result<ApiJson<AuctionResponse>, ApiError> {
    user.require(&[Role::Seller, Role::Admin])?;
    let reason = body.validate()?;
    let row = find_auction(&state.db, id).await?;
    let as_admin = user.role == Role::Admin;
    let not_allowed = || {
        ApiError::forbidden(
            "cancel_not_allowed",
            "only the seller or an admin may cancel this auction",
        )
    };
    if !as_admin && row.seller_id != user.id {
        return Err(not_allowed());
    }
    if !row.status.is_live() {
        return Err(auction_closed());
    }
    let request = CancelRequest {
        requested_by: user.id,
        as_admin,
        reason,
    };
    match gateway::cancel(&state.temporal, id, request).await {
        Ok(view) => Ok(ApiJson(lots::present_view(&state, &row, &view).await?)),
        Err(CallError::Refused(CancelRefusal::NotAllowed)) => Err(not_allowed()),
        Err(CallError::Refused(refusal @ CancelRefusal::InvalidText)) => {
            Err(ApiError::unprocessable(refusal.code(), refusal.to_string()))
        }
        Err(CallError::Refused(refusal)) => {
            Err(ApiError::conflict(refusal.code(), refusal.to_string()))
        }
        Err(CallError::Gone) => Err(auction_closed()),
        Err(CallError::Unavailable(err)) => Err(ApiError::unavailable("Temporal", err)),
    }
}
