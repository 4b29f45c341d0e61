//! The seller's photo forms on a lot's page: add photos, make one the cover,
//! remove one. Each goes through the photos service the JSON API calls (the
//! same refusals, in words) and back to the lot's page.

use std::collections::HashMap;

use axum::{
    Form,
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
};
use uuid::Uuid;

use super::{
    images,
    pages::shared::{BUSY, CsrfForm, FORBIDDEN, database_sentence, message, sentence, signed_in},
    photos,
    session::Visitor,
    upload_reader,
};
use crate::{
    auth::AuthUser,
    error::ApiError,
    extract::ApiMultipart,
    service::photos::{self as photo_service, PhotoError},
    state::AppState,
};

fn lot_page(id: Uuid) -> String {
    format!("/auctions/{id}")
}

/// The answer when a photo form is refused: why, in words, and a way back.
fn refused(visitor: &Visitor, id: Uuid, err: &ApiError) -> Response {
    message(visitor, err.status, "Photos", &sentence(err), &lot_page(id))
}

/// The sentence a seller reads for a photo change refused.
fn photo_sentence(error: &PhotoError) -> String {
    match error {
        PhotoError::Forbidden(_) => FORBIDDEN.to_owned(),
        PhotoError::Store(err) => sentence(err),
        PhotoError::NotFound => "no such auction".to_owned(),
        // The role check and this one share the `forbidden` code, and words.
        PhotoError::NotTheSeller => FORBIDDEN.to_owned(),
        PhotoError::HasBids => {
            "this lot has bids: its photos can be added and reordered, not removed".to_owned()
        }
        PhotoError::Unavailable(_) => BUSY.to_owned(),
        PhotoError::Database(err) => database_sentence(err),
    }
}

/// The answer when the photos service refuses: why, in words, and a way back.
fn refused_by(visitor: &Visitor, id: Uuid, err: PhotoError) -> Response {
    let text = photo_sentence(&err);
    let status = ApiError::from(err).status;
    message(visitor, status, "Photos", &text, &lot_page(id))
}

/// The signed-in seller behind a photo form on lot `id`, or the answer to
/// give instead (sign in; not theirs).
async fn seller(state: &AppState, visitor: &Visitor, id: Uuid) -> Result<AuthUser, Response> {
    let user = signed_in(visitor, &lot_page(id)).map_err(IntoResponse::into_response)?;
    match photo_service::seller_of(state, &user, id.into()).await {
        Ok(_) => Ok(user),
        Err(err) => Err(refused_by(visitor, id, err)),
    }
}

/// The seller behind a photo form whose CSRF token is `csrf`, or the answer
/// to give instead.
async fn seller_form(
    state: &AppState,
    visitor: &Visitor,
    id: Uuid,
    csrf: &str,
) -> Result<AuthUser, Response> {
    let user = seller(state, visitor, id).await?;
    visitor
        .check_csrf(csrf)
        .map_err(|err| refused(visitor, id, &err))?;
    Ok(user)
}

/// Back to the lot's page when `done`, else why not.
fn back<T>(visitor: &Visitor, id: Uuid, done: Result<T, PhotoError>) -> Response {
    match done {
        Ok(_) => Redirect::to(&lot_page(id)).into_response(),
        Err(err) => refused_by(visitor, id, err),
    }
}

/// `POST /auctions/{id}/photos` (multipart: `csrf`, `images`).
pub async fn add(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    ApiMultipart(mut form): ApiMultipart,
) -> Result<Response, ApiError> {
    if let Err(answer) = seller(&state, &visitor, id).await {
        return Ok(answer);
    }
    let room = images::MAX_IMAGES.saturating_sub(photos::of_auction(&state.db, id).await?.len());
    // The token is judged before any file is read (the form puts it first).
    let csrf_first = |fields: &HashMap<String, String>| {
        visitor.check_csrf(fields.get("csrf").map_or("", String::as_str))
    };
    let upload = match upload_reader::read_upload(
        &state.uploads,
        &mut form,
        |name| name == "csrf",
        room,
        csrf_first,
    )
    .await
    {
        Ok(upload) => upload,
        Err((_, err)) => return Ok(refused(&visitor, id, &err)),
    };
    let csrf = upload.fields.get("csrf").map_or("", String::as_str);
    if let Err(err) = visitor.check_csrf(csrf) {
        return Ok(refused(&visitor, id, &err));
    }
    if upload.photos.is_empty() {
        let err = ApiError::unprocessable("no_images", "Choose one or more photos to add.");
        return Ok(refused(&visitor, id, &err));
    }
    let added = photos::add(&state.db, id, upload.photos).await;
    Ok(back(&visitor, id, added.map_err(PhotoError::from)))
}

/// `POST /auctions/{id}/photos/{photo}/cover`: that photo first, the rest
/// in their order.
pub async fn cover(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((id, photo)): Path<(Uuid, Uuid)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    let user = match seller_form(&state, &visitor, id, &form.csrf).await {
        Ok(user) => user,
        Err(answer) => return Ok(answer),
    };
    let rest = photos::of_auction(&state.db, id)
        .await?
        .into_iter()
        .map(|p| p.id)
        .filter(|p| *p != photo);
    let order: Vec<Uuid> = std::iter::once(photo).chain(rest).collect();
    let done = photo_service::reorder(&state, &user, id.into(), &order).await;
    Ok(back(&visitor, id, done))
}

/// `POST /auctions/{id}/photos/{photo}/remove`.
pub async fn remove(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((id, photo)): Path<(Uuid, Uuid)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    let user = match seller_form(&state, &visitor, id, &form.csrf).await {
        Ok(user) => user,
        Err(answer) => return Ok(answer),
    };
    let done = photo_service::remove(&state, &user, id.into(), photo).await;
    Ok(back(&visitor, id, done))
}
