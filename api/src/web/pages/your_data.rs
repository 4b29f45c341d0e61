//! `/me`'s "Your data": the download (`GET /me/export`, the same JSON as
//! `GET /api/v1/me/export`, signed in by the session cookie) and deleting
//! the account (`POST /me/delete`, the password asked again).

use axum::{
    Form,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::{
    me::me_form_user,
    shared::{message, sentence, signed_in},
};
use crate::{
    error::ApiError,
    limits::ClientIp,
    service::your_data::{self, YourDataError},
    state::AppState,
    web::session::{self, Visitor},
};

/// `GET /me/export`: "Download your data".
pub async fn export(State(state): State<AppState>, visitor: Visitor) -> Result<Response, ApiError> {
    let user = match signed_in(&visitor, "/me") {
        Ok(user) => user,
        Err(to) => return Ok(to.into_response()),
    };
    let data = your_data::export(&state, &user).await?;
    Ok(your_data::export_file(&data)?.into_response())
}

#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub password: String,
}

/// `POST /me/delete`: deletes the account once its password is given and
/// nothing under way names it; the browser's session cookie goes with it.
pub async fn delete_account(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    visitor: Visitor,
    Form(form): Form<DeleteForm>,
) -> Result<Response, ApiError> {
    let user = match me_form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return Ok(*answer),
    };
    let refusal = match your_data::delete_account(&state, ip, &user, form.password).await {
        Ok(()) => {
            let mut answer = message(
                &visitor,
                StatusCode::OK,
                "Account deleted",
                "Your account is deleted and you are signed out everywhere. Bids and invoices \
                 stay in the books under a pseudonym; your address may sign up again.",
                "/",
            );
            answer
                .headers_mut()
                .append(header::SET_COOKIE, session::ended_session(&state));
            return Ok(answer);
        }
        Err(err) => err,
    };
    let text = match &refusal {
        YourDataError::WrongPassword => {
            "That is not your password: the account is not deleted.".to_owned()
        }
        YourDataError::Blocked(blockers) => {
            format!("{}.", capitalised(&your_data::blocked_sentence(blockers)))
        }
        YourDataError::TooManyAttempts { retry_after_secs } => format!(
            "Too many wrong passwords: try again in {} minutes.",
            retry_after_secs.div_ceil(60)
        ),
        YourDataError::AccountGone => "This account no longer exists.".to_owned(),
        YourDataError::Auth(err) => sentence(err),
        YourDataError::Database(_) | YourDataError::Export(_) => {
            return Err(ApiError::from(refusal));
        }
    };
    let status = ApiError::from(refusal).status;
    Ok(message(
        &visitor,
        status,
        "Delete your account",
        &text,
        "/me",
    ))
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}
