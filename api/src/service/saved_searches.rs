//! Saved searches: the listing's query and filters an account keeps (at
//! most [`MAX_SAVED_SEARCHES`]), checked exactly as the listing checks
//! them ([`ListingFilters::parse`], which `GET /auctions` uses too). The
//! daily digest of new matches is the worker's (`SavedSearchDigestWorkflow`).

use chrono::{DateTime, Utc};
use gavel_store::{
    StoreError,
    saved_searches::{self as store, NewSearch, Saved, SavedSearch},
};
use gavel_workflows::contract::view::AuctionStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::state::AppState;

/// Most searches one account keeps.
pub const MAX_SAVED_SEARCHES: i64 = 25;
/// Longest `q`, in characters (the listing's own limit).
pub const MAX_QUERY_CHARS: usize = 100;

/// The listing's filters, checked: `status`, `seller_id` and `q` (trimmed;
/// empty means any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListingFilters {
    pub status: Option<AuctionStatus>,
    pub seller_id: Option<Uuid>,
    pub text: Option<String>,
}

/// Which filter the listing refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("status is not one of the listing's statuses")]
    Status,
    #[error("seller_id must be a UUID")]
    SellerId,
    #[error("q must be at most 100 characters")]
    Query,
}

impl ListingFilters {
    pub fn parse(
        status: Option<&str>,
        seller_id: Option<&str>,
        q: Option<&str>,
    ) -> Result<Self, FilterError> {
        let status = status
            .map(|s| AuctionStatus::parse(s).ok_or(FilterError::Status))
            .transpose()?;
        let seller_id = seller_id
            .map(|s| s.parse::<Uuid>().map_err(|_| FilterError::SellerId))
            .transpose()?;
        let text = q.map(str::trim).filter(|q| !q.is_empty());
        if text.is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS) {
            return Err(FilterError::Query);
        }
        Ok(Self {
            status,
            seller_id,
            text: text.map(str::to_owned),
        })
    }
}

/// Why a search was not saved or removed.
#[derive(Debug, thiserror::Error)]
pub enum SavedSearchError {
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error("you have saved a search with these filters already")]
    Exists,
    #[error("you have {MAX_SAVED_SEARCHES} saved searches: delete one first")]
    TooMany,
    #[error("no saved search of yours has this id")]
    NotFound,
    /// A digest names only lots that can still be bid on: a search for
    /// lots in another status would never find one.
    #[error("a saved search finds lots to bid on: its status must be open or scheduled")]
    StatusNeverNew,
    #[error(transparent)]
    Database(#[from] StoreError),
}

/// Whether a search filtered on `status` may be saved: its digest lists
/// new lots that can still be bid on (scheduled or open), so any other
/// status would find nothing, ever.
pub fn can_save(status: Option<AuctionStatus>) -> bool {
    status.is_none_or(AuctionStatus::is_live)
}

/// Saves `filters` for `user`; new lots matching them are emailed daily.
pub async fn save(
    state: &AppState,
    user: Uuid,
    filters: ListingFilters,
) -> Result<SavedSearch, SavedSearchError> {
    if !can_save(filters.status) {
        return Err(SavedSearchError::StatusNeverNew);
    }
    let search = NewSearch {
        query: filters.text,
        status: filters.status,
        seller_id: filters.seller_id,
    };
    match store::create(&state.db, user, &search, MAX_SAVED_SEARCHES).await? {
        Saved::Created(saved) => Ok(saved),
        Saved::Exists => Err(SavedSearchError::Exists),
        Saved::TooMany => Err(SavedSearchError::TooMany),
    }
}

/// `user`'s saved searches, oldest first.
pub async fn list(state: &AppState, user: Uuid) -> Result<Vec<SavedSearch>, StoreError> {
    store::list(&state.db, user).await
}

/// Removes `user`'s search `id` (its digest stops with it).
pub async fn delete(state: &AppState, user: Uuid, id: Uuid) -> Result<(), SavedSearchError> {
    if store::delete(&state.db, user, id).await? {
        Ok(())
    } else {
        Err(SavedSearchError::NotFound)
    }
}

/// The listing page showing `search`'s lots (`/?q=…&status=…`).
pub fn listing_path(search: &SavedSearch) -> String {
    let mut params = Vec::new();
    if let Some(q) = &search.query {
        params.push(format!("q={}", urlencode(q)));
    }
    if let Some(status) = search.status {
        params.push(format!("status={}", status.as_str()));
    }
    if let Some(seller) = search.seller_id {
        params.push(format!("seller_id={seller}"));
    }
    if params.is_empty() {
        "/".to_owned()
    } else {
        format!("/?{}", params.join("&"))
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A saved search.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SavedSearchResponse {
    pub id: Uuid,
    pub q: Option<String>,
    pub status: Option<String>,
    pub seller_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// The listing page with these filters.
    pub listing_path: String,
}

impl SavedSearchResponse {
    pub fn of(search: &SavedSearch) -> Self {
        Self {
            id: search.id,
            q: search.query.clone(),
            status: search.status.map(|s| s.as_str().to_owned()),
            seller_id: search.seller_id,
            created_at: search.created_at,
            listing_path: listing_path(search),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_checked_as_the_listing_checks_them() {
        let ok = ListingFilters::parse(Some("open"), None, Some("  lamp  ")).unwrap();
        assert_eq!(ok.text.as_deref(), Some("lamp"));
        assert_eq!(ok.status, Some(AuctionStatus::Open));
        assert_eq!(
            ListingFilters::parse(None, None, Some("   ")).unwrap(),
            ListingFilters::default()
        );
        assert_eq!(
            ListingFilters::parse(Some("sold"), None, None),
            Err(FilterError::Status)
        );
        assert_eq!(
            ListingFilters::parse(None, Some("x"), None),
            Err(FilterError::SellerId)
        );
        let long = "a".repeat(101);
        assert_eq!(
            ListingFilters::parse(None, None, Some(&long)),
            Err(FilterError::Query)
        );
    }
}
