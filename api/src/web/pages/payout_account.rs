//! The "Payout account" section of `/me` (sellers and admins): the account
//! paid into, a looked-up one to confirm or cancel, and the form that looks
//! one up; each form through the payout accounts service.

use axum::{
    Form,
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{
    me::me_form_user,
    shared::{CsrfForm, FORBIDDEN, database_sentence, message},
};
use crate::{
    auth::AuthUser,
    error::ApiError,
    service::payout_accounts::{
        self as service, AccountToLookUp, BankOption, PAYOUT_CURRENCIES, PayoutAccountError,
        PayoutAccountView,
    },
    state::AppState,
    web::session::Visitor,
};

/// What the section shows.
pub struct PayoutSection {
    /// Whether payouts are possible at all (a Paystack key is configured).
    pub available: bool,
    pub confirmed: Option<PayoutAccountView>,
    pub pending: Option<PayoutAccountView>,
    /// The banks to choose from (empty when they could not be read).
    pub banks: Vec<BankOption>,
    /// Why the banks could not be read, in words.
    pub banks_problem: Option<String>,
}

/// The section for `user`; `None` for a role that is not paid out.
pub async fn section(state: &AppState, user: &AuthUser) -> Result<Option<PayoutSection>, ApiError> {
    let accounts = match service::accounts(state, user).await {
        Ok(accounts) => accounts,
        Err(PayoutAccountError::Forbidden(_)) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let (banks, banks_problem) = match service::banks(state, PAYOUT_CURRENCIES[0]).await {
        Ok(banks) => (banks.as_ref().clone(), None),
        Err(err) => (Vec::new(), Some(payout_sentence(&err))),
    };
    Ok(Some(PayoutSection {
        available: state.config.paystack.is_some(),
        confirmed: accounts.confirmed,
        pending: accounts.pending,
        banks,
        banks_problem,
    }))
}

/// The sentence a seller reads for a payout account form refused.
pub fn payout_sentence(error: &PayoutAccountError) -> String {
    match error {
        PayoutAccountError::Forbidden(_) => FORBIDDEN.to_owned(),
        PayoutAccountError::EmailUnverified => {
            "Confirm your email address before you add a payout account: follow the link we \
             emailed you (this page can send another).".to_owned()
        }
        PayoutAccountError::PayoutsUnavailable => {
            "This auction house makes no payouts (no Paystack key is configured): the house pays sellers as agreed.".to_owned()
        }
        PayoutAccountError::UnsupportedCurrency => "Payouts are made in naira (NGN) only.".to_owned(),
        PayoutAccountError::InvalidAccountNumber => {
            "Enter the 10-digit account number (NUBAN).".to_owned()
        }
        PayoutAccountError::UnknownBank => "Choose your bank from the list.".to_owned(),
        PayoutAccountError::AccountNotResolved => {
            "Your bank does not know this account number: check the number and the bank.".to_owned()
        }
        PayoutAccountError::LookupsLimited { .. } => {
            "Too many account look-ups just now; try again later.".to_owned()
        }
        PayoutAccountError::NoPendingAccount => {
            "There is no looked-up account to confirm: look yours up again.".to_owned()
        }
        PayoutAccountError::Paystack(_) => {
            "Our payment provider is not answering; try again in a moment.".to_owned()
        }
        PayoutAccountError::Database(err) => database_sentence(err),
    }
}

/// The section's answer to a form: back to `/me` when done, else what went
/// wrong with the API's status.
fn answered(visitor: &Visitor, result: Result<(), PayoutAccountError>) -> Response {
    match result {
        Ok(()) => Redirect::to("/me#payout-account").into_response(),
        Err(err) => {
            let text = payout_sentence(&err);
            let status = ApiError::from(err).status;
            message(
                visitor,
                status,
                "Payout account",
                &text,
                "/me#payout-account",
            )
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct LookUpForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub bank_code: String,
    #[serde(default)]
    pub account_number: String,
}

/// `POST /me/payout-account`: looks the account up; the section then shows
/// the name the bank holds, to confirm.
pub async fn look_up(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<LookUpForm>,
) -> Result<Response, ApiError> {
    let user = match me_form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return Ok(*answer),
    };
    let request = AccountToLookUp {
        currency: PAYOUT_CURRENCIES[0].to_owned(),
        bank_code: form.bank_code,
        account_number: form.account_number,
    };
    let result = service::look_up(&state, &user, &request).await.map(|_| ());
    Ok(answered(&visitor, result))
}

/// `POST /me/payout-account/confirm`: the looked-up account becomes the one
/// paid into.
pub async fn confirm(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    let user = match me_form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return Ok(*answer),
    };
    let result = service::confirm(&state, &user).await.map(|_| ());
    Ok(answered(&visitor, result))
}

/// `POST /me/payout-account/cancel`: forgets the looked-up account.
pub async fn cancel(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    let user = match me_form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return Ok(*answer),
    };
    Ok(answered(
        &visitor,
        service::cancel_pending(&state, &user).await,
    ))
}

/// `POST /me/payout-account/remove`: forgets the account paid into.
pub async fn remove(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    let user = match me_form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return Ok(*answer),
    };
    Ok(answered(&visitor, service::remove(&state, &user).await))
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn every_refusal_has_words_of_its_own() {
        let limited = PayoutAccountError::LookupsLimited { retry_after: None };
        assert!(payout_sentence(&limited).contains("look-ups"));
        assert_eq!(
            ApiError::from(PayoutAccountError::AccountNotResolved).status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}
