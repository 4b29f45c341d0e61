//! `GET /`: the listing, soonest end first, with search, a status filter
//! and paging; `POST /saved-searches`: its "Save this search" button, and
//! the saved searches `/me` lists and deletes.

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use chrono::Utc;
use gavel_store::auctions::{self as store, ListFilter};
use gavel_workflows::contract::view::AuctionStatus;
use serde::Deserialize;
use uuid::Uuid;

use super::said::{ListingSaid, MeSaid};
use super::shared::{
    Chrome, CsrfForm, encode, message, page, sentence, signed_in, status_words, time_left,
};
use crate::{
    error::ApiError,
    service::{
        lots::{decode_cursor, encode_cursor},
        saved_searches::{self, FilterError, ListingFilters, MAX_SAVED_SEARCHES, SavedSearchError},
    },
    state::AppState,
    web::{money, photos, session::Visitor},
};

pub struct Card {
    pub id: Uuid,
    pub title: String,
    pub price: String,
    pub bids: String,
    pub ends_at: String,
    pub ends_text: String,
    pub image: Option<String>,
}

#[derive(Template)]
#[template(path = "web/index.html")]
struct IndexPage {
    chrome: Chrome,
    heading: String,
    q: String,
    status: String,
    /// The status is one a saved search may have (its button is shown).
    can_save: bool,
    statuses: Vec<(&'static str, &'static str)>,
    cards: Vec<Card>,
    next_page: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct IndexQuery {
    pub q: Option<String>,
    pub status: Option<String>,
    pub after: Option<String>,
    /// After the "Save this search" button.
    #[serde(default, deserialize_with = "super::said::known_word")]
    pub said: Option<ListingSaid>,
}

const PAGE_SIZE: i64 = 24;

/// `GET /`: auctions, soonest end first, with search, a status filter and paging.
pub async fn index(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<IndexQuery>,
) -> Result<Response, ApiError> {
    let status_word = query.status.clone().unwrap_or_else(|| "open".to_owned());
    let status = AuctionStatus::parse(&status_word).unwrap_or(AuctionStatus::Open);
    let q: String = query
        .q
        .clone()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(100)
        .collect();
    let after = query.after.as_deref().and_then(decode_cursor);
    let filter = ListFilter {
        status: Some(status),
        text: (!q.is_empty()).then(|| q.clone()),
        after,
        limit: PAGE_SIZE + 1,
        ending_first: true,
        ..ListFilter::default()
    };
    let mut rows = store::list(&state.db, &filter).await?;
    let more = rows.len() > PAGE_SIZE as usize;
    rows.truncate(PAGE_SIZE as usize);
    let now = Utc::now();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let covers = photos::covers(&state.db, &ids).await?;
    let cards = rows
        .iter()
        .map(|row| {
            let shown = row.current_price.unwrap_or(row.starting_price);
            Card {
                id: row.id,
                title: row.title.clone(),
                price: money::format(shown, &row.currency),
                bids: match row.bid_count {
                    0 => "no bids yet".to_owned(),
                    1 => "1 bid".to_owned(),
                    n => format!("{n} bids"),
                },
                ends_at: row.ends_at.to_rfc3339(),
                ends_text: time_left(row.ends_at, now),
                image: covers
                    .iter()
                    .find(|(id, _)| *id == row.id)
                    .map(|(_, src)| src.clone()),
            }
        })
        .collect();
    let next_page = more.then(|| {
        let last = rows.last().map(|r| (r.ends_at, r.id));
        let cursor = last.map_or_else(String::new, |(at, id)| encode_cursor(at, id));
        format!(
            "/?status={}&q={}&after={cursor}",
            status.as_str(),
            encode(&q)
        )
    });
    let heading = match status {
        AuctionStatus::Open => "On sale now".to_owned(),
        other => status_words(Some(other)).to_owned(),
    };
    let chrome = match query.said {
        Some(ListingSaid::SearchSaved) => Chrome::of(&visitor).saying(
            "Search saved: new lots that match it are emailed to you once a day.",
            "good",
        ),
        None => Chrome::of(&visitor),
    };
    Ok(page(&IndexPage {
        chrome,
        heading,
        q,
        status: status.as_str().to_owned(),
        can_save: saved_searches::can_save(Some(status)),
        statuses: vec![
            ("open", "Open"),
            ("scheduled", "Opening soon"),
            ("awaiting_payment", "Sold, awaiting payment"),
            ("settled", "Sold"),
            ("no_sale", "No sale"),
            ("unsold", "Unsold"),
            ("cancelled", "Cancelled"),
        ],
        cards,
        next_page,
    }))
}

/// The "Save this search" form: the listing's own filters.
#[derive(Debug, Deserialize)]
pub struct SaveSearchForm {
    #[serde(default)]
    pub csrf: String,
    pub q: Option<String>,
    pub status: Option<String>,
}

/// `POST /saved-searches`: saves the listing's search and filter, then shows
/// the listing again, saying so.
pub async fn save_search(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<SaveSearchForm>,
) -> Result<Response, ApiError> {
    let back = format!(
        "/?status={}&q={}",
        encode(form.status.as_deref().unwrap_or("open")),
        encode(form.q.as_deref().unwrap_or_default())
    );
    let user = match signed_in(&visitor, &back) {
        Ok(user) => user,
        Err(to) => return Ok(to.into_response()),
    };
    if let Err(err) = visitor.check_csrf(&form.csrf) {
        return Ok(message(
            &visitor,
            StatusCode::FORBIDDEN,
            "Try again",
            &sentence(&err),
            &back,
        ));
    }
    let saved = match ListingFilters::parse(form.status.as_deref(), None, form.q.as_deref()) {
        Ok(filters) => saved_searches::save(&state, user.id, filters).await,
        Err(err) => Err(err.into()),
    };
    let (status, text) = match saved {
        Ok(_) => {
            let to = format!("{back}&said={}", ListingSaid::SearchSaved.word());
            return Ok(Redirect::to(&to).into_response());
        }
        Err(SavedSearchError::Exists) => (
            StatusCode::CONFLICT,
            "You have saved this search already: its new lots come in your daily digest."
                .to_owned(),
        ),
        Err(SavedSearchError::TooMany) => (
            StatusCode::CONFLICT,
            format!(
                "You have {MAX_SAVED_SEARCHES} saved searches, the most one account keeps: \
                 delete one on your account page first."
            ),
        ),
        Err(SavedSearchError::Filter(FilterError::Query)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "A search is at most 100 characters.".to_owned(),
        ),
        Err(SavedSearchError::Filter(FilterError::Status | FilterError::SellerId)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose one of the listing's filters.".to_owned(),
        ),
        Err(SavedSearchError::NotFound) => (
            StatusCode::NOT_FOUND,
            "That saved search is gone.".to_owned(),
        ),
        Err(SavedSearchError::StatusNeverNew) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Only a search for open or upcoming lots can be saved: the daily email names new lots you can still bid on."
                .to_owned(),
        ),
        Err(SavedSearchError::Database(err)) => return Err(err.into()),
    };
    Ok(message(&visitor, status, "Saved searches", &text, &back))
}

/// A saved search as `/me` lists it.
pub struct SearchLine {
    pub id: Uuid,
    /// "“lamp”, open" and the like.
    pub words: String,
    /// The listing with its filters.
    pub path: String,
}

/// `user`'s saved searches for `/me`.
pub async fn search_lines(
    state: &AppState,
    user: Uuid,
) -> Result<Vec<SearchLine>, gavel_store::StoreError> {
    Ok(saved_searches::list(state, user)
        .await?
        .iter()
        .map(|search| {
            let mut words = vec![match &search.query {
                Some(q) => format!("“{q}”"),
                None => "every lot".to_owned(),
            }];
            words.extend(search.status.map(|s| status_words(Some(s)).to_owned()));
            if search.seller_id.is_some() {
                words.push("one seller's".to_owned());
            }
            SearchLine {
                id: search.id,
                words: words.join(", "),
                path: saved_searches::listing_path(search),
            }
        })
        .collect())
}

/// `POST /me/saved-searches/{id}/delete`: deletes a saved search (its
/// digest stops with it).
pub async fn delete_search(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    let user = match super::me::me_form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return Ok(*answer),
    };
    let text = match saved_searches::delete(&state, user.id, id).await {
        Ok(()) => return Ok(Redirect::to(&MeSaid::SearchDeleted.link()).into_response()),
        Err(SavedSearchError::NotFound) => {
            "No saved search of yours has this number: it may be deleted already."
        }
        Err(
            SavedSearchError::Exists
            | SavedSearchError::TooMany
            | SavedSearchError::Filter(_)
            | SavedSearchError::StatusNeverNew,
        ) => "That saved search could not be deleted.",
        Err(SavedSearchError::Database(err)) => return Err(err.into()),
    };
    Ok(message(
        &visitor,
        StatusCode::NOT_FOUND,
        "Saved searches",
        text,
        "/me",
    ))
}
