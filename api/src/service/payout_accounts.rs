//! A seller's payout account: the banks Paystack pays into (cached per
//! currency), an account looked up by number and bank and kept `pending`
//! with the name its bank holds, confirmed by the seller into a Paystack
//! transfer recipient (and the sales held for want of one nudged), shown,
//! and removed.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use gavel_paystack::{Bank, NewRecipient, Paystack, PaystackError};
use gavel_store::payout_accounts::{self as store, NewAccount, PayoutAccount};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use utoipa::ToSchema;

use crate::{
    auctions::gateway,
    auth::{AuthUser, Role, RoleError},
    state::AppState,
};

/// How long a currency's bank list is kept: banks join and leave rarely.
const BANKS_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The currencies sellers can be paid in (Paystack's NUBAN transfers).
pub const PAYOUT_CURRENCIES: &[&str] = &["NGN"];

/// Why a payout account was not listed, looked up, confirmed or removed.
#[derive(Debug, thiserror::Error)]
pub enum PayoutAccountError {
    /// Only sellers (and admins) are paid out.
    #[error(transparent)]
    Forbidden(#[from] RoleError),
    /// No Paystack key is configured: there are no payouts.
    /// The seller's email address is not verified yet: no money is routed
    /// to an account that may not be theirs.
    #[error("confirm your email address before adding a payout account")]
    EmailUnverified,
    #[error("payouts are not available: no Paystack key is configured")]
    PayoutsUnavailable,
    #[error("payouts are made in NGN only")]
    UnsupportedCurrency,
    #[error("an NGN account number is 10 digits")]
    InvalidAccountNumber,
    #[error("no bank we pay into has this code")]
    UnknownBank,
    /// Paystack could not find the account at that bank.
    #[error("the bank does not know this account number")]
    AccountNotResolved,
    /// Paystack's cap on account look-ups was reached.
    #[error("too many account look-ups; try again later")]
    LookupsLimited { retry_after: Option<Duration> },
    #[error("there is no looked-up account to confirm")]
    NoPendingAccount,
    /// Paystack is unreachable, failing, or refused our key.
    #[error("Paystack: {0}")]
    Paystack(PaystackError),
    #[error(transparent)]
    Database(#[from] gavel_store::StoreError),
}

impl From<PaystackError> for PayoutAccountError {
    fn from(err: PaystackError) -> Self {
        match err {
            PaystackError::RateLimited { retry_after } => Self::LookupsLimited { retry_after },
            other => Self::Paystack(other),
        }
    }
}

/// A bank a seller may be paid into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BankOption {
    /// Paystack's bank code, a string (leading zeros matter).
    #[schema(example = "058")]
    pub code: String,
    #[schema(example = "Guaranty Trust Bank")]
    pub name: String,
}

/// A payout account as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PayoutAccountView {
    /// `pending` (looked up, waiting for its owner's confirmation) or
    /// `confirmed` (payouts go here).
    #[schema(example = "pending")]
    pub state: String,
    #[schema(example = "NGN")]
    pub currency: String,
    #[schema(example = "058")]
    pub bank_code: String,
    #[schema(example = "Guaranty Trust Bank")]
    pub bank_name: String,
    /// In full while pending; only its last 4 digits once confirmed.
    #[schema(example = "0001234567")]
    pub account_number: String,
    /// The name the bank holds for the account.
    #[schema(example = "Doe Jane Loren")]
    pub account_name: String,
    pub updated_at: DateTime<Utc>,
}

/// A seller's accounts: the one paid into, and one waiting to replace it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PayoutAccounts {
    pub confirmed: Option<PayoutAccountView>,
    pub pending: Option<PayoutAccountView>,
}

/// An account to look up.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AccountToLookUp {
    #[schema(example = "NGN")]
    pub currency: String,
    /// From `GET /banks`.
    #[schema(example = "058")]
    pub bank_code: String,
    /// 10 digits (a NUBAN).
    #[schema(example = "0001234567")]
    pub account_number: String,
}

/// A currency's banks and when they were fetched.
type Fetched = (Instant, Arc<Vec<BankOption>>);

/// The banks offered per currency, fetched from Paystack at most once a day
/// (each process keeps its own copy).
#[derive(Default)]
pub struct BankCache {
    lists: Mutex<HashMap<String, Fetched>>,
}

impl BankCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The banks offered in `currency`, from the cache while it is fresh.
    /// The lock is held while Paystack is asked, so a cold cache is filled
    /// by one call, not one per waiting request.
    async fn get(
        &self,
        paystack: &Paystack,
        currency: &str,
    ) -> Result<Arc<Vec<BankOption>>, PaystackError> {
        let mut lists = self.lists.lock().await;
        if let Some((at, banks)) = lists.get(currency)
            && at.elapsed() < BANKS_TTL
        {
            return Ok(banks.clone());
        }
        let mut banks: Vec<BankOption> = paystack
            .list_banks(currency)
            .await?
            .into_iter()
            .filter(|bank| bank.offered_for(currency))
            .map(|Bank { code, name, .. }| BankOption { code, name })
            .collect();
        banks.sort_by(|a, b| a.name.cmp(&b.name));
        banks.dedup_by(|a, b| a.code == b.code);
        let banks = Arc::new(banks);
        lists.insert(currency.to_owned(), (Instant::now(), banks.clone()));
        Ok(banks)
    }
}

impl std::fmt::Debug for BankCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BankCache")
    }
}

fn paystack(state: &AppState) -> Result<&Paystack, PayoutAccountError> {
    state
        .config
        .paystack
        .as_ref()
        .ok_or(PayoutAccountError::PayoutsUnavailable)
}

fn payout_currency(currency: &str) -> Result<&'static str, PayoutAccountError> {
    PAYOUT_CURRENCIES
        .iter()
        .find(|c| **c == currency)
        .copied()
        .ok_or(PayoutAccountError::UnsupportedCurrency)
}

/// Only sellers and admins have payout accounts.
fn payee(user: &AuthUser) -> Result<(), PayoutAccountError> {
    Ok(user.require(&[Role::Seller, Role::Admin])?)
}

/// Only a verified seller (or admin) sets up where money is paid: an
/// unverified address may not be the seller's, and the refusal comes before
/// Paystack is asked anything.
async fn verified_payee(state: &AppState, user: &AuthUser) -> Result<(), PayoutAccountError> {
    payee(user)?;
    if !super::account_email::may_trade(state, user.id).await? {
        return Err(PayoutAccountError::EmailUnverified);
    }
    Ok(())
}

/// The banks a seller may be paid into in `currency`, by name.
pub async fn banks(
    state: &AppState,
    currency: &str,
) -> Result<Arc<Vec<BankOption>>, PayoutAccountError> {
    let currency = payout_currency(currency)?;
    let paystack = paystack(state)?;
    Ok(state.banks.get(paystack, currency).await?)
}

/// `number` with all but its last 4 digits hidden.
pub fn masked(number: &str) -> String {
    let shown = number.len().saturating_sub(4);
    number
        .char_indices()
        .map(|(i, c)| if i < shown { '•' } else { c })
        .collect()
}

fn view(account: PayoutAccount, confirmed: bool) -> PayoutAccountView {
    PayoutAccountView {
        state: if confirmed { "confirmed" } else { "pending" }.to_owned(),
        account_number: if confirmed {
            masked(&account.account_number)
        } else {
            account.account_number
        },
        currency: account.currency,
        bank_code: account.bank_code,
        bank_name: account.bank_name,
        account_name: account.account_name,
        updated_at: account.updated_at,
    }
}

/// `user`'s accounts (the confirmed one's number masked).
pub async fn accounts(
    state: &AppState,
    user: &AuthUser,
) -> Result<PayoutAccounts, PayoutAccountError> {
    payee(user)?;
    let accounts = store::of_user(&state.db, user.id).await?;
    Ok(PayoutAccounts {
        confirmed: accounts.confirmed.map(|a| view(a, true)),
        pending: accounts.pending.map(|a| view(a, false)),
    })
}

/// Looks `request` up at Paystack and keeps it as `user`'s pending account,
/// with the name the bank holds, for them to confirm. Nothing is kept when
/// it is refused.
pub async fn look_up(
    state: &AppState,
    user: &AuthUser,
    request: &AccountToLookUp,
) -> Result<PayoutAccountView, PayoutAccountError> {
    verified_payee(state, user).await?;
    let currency = payout_currency(request.currency.trim())?;
    let number = request.account_number.trim();
    if number.len() != 10 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PayoutAccountError::InvalidAccountNumber);
    }
    let paystack = paystack(state)?;
    let code = request.bank_code.trim();
    let banks = state.banks.get(paystack, currency).await?;
    let bank = banks
        .iter()
        .find(|bank| bank.code == code)
        .ok_or(PayoutAccountError::UnknownBank)?;
    let resolved = paystack
        .resolve_account(number, &bank.code)
        .await?
        .ok_or(PayoutAccountError::AccountNotResolved)?;
    let account_name = resolved.account_name.trim();
    if account_name.is_empty() {
        return Err(PayoutAccountError::AccountNotResolved);
    }
    store::save_pending(
        &state.db,
        user.id,
        NewAccount {
            currency,
            bank_code: &bank.code,
            bank_name: &bank.name,
            account_number: number,
            account_name,
        },
    )
    .await?;
    tracing::info!(user_id = %user.id, bank = %bank.code, "payout account looked up");
    let saved = store::of_user(&state.db, user.id).await?;
    saved
        .pending
        .map(|a| view(a, false))
        .ok_or(PayoutAccountError::NoPendingAccount)
}

/// `user` confirms the name on their pending account: Paystack makes it a
/// transfer recipient (the same one again for an account it knows), it
/// becomes the account paid into, and the sales held for want of one are
/// nudged to pay out.
pub async fn confirm(
    state: &AppState,
    user: &AuthUser,
) -> Result<PayoutAccountView, PayoutAccountError> {
    verified_payee(state, user).await?;
    let paystack = paystack(state)?;
    let pending = store::of_user(&state.db, user.id)
        .await?
        .pending
        .ok_or(PayoutAccountError::NoPendingAccount)?;
    let recipient = paystack
        .create_recipient(&NewRecipient {
            name: pending.account_name.clone(),
            account_number: pending.account_number.clone(),
            bank_code: pending.bank_code.clone(),
            currency: pending.currency.clone(),
        })
        .await?;
    let bank_name = recipient
        .bank_name
        .as_deref()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or(&pending.bank_name);
    // The old recipient stays active at Paystack: a payout to it may still
    // be retried under its reference.
    let confirmed = store::confirm(
        &state.db,
        user.id,
        &pending,
        &recipient.recipient_code,
        bank_name,
    )
    .await?
    // Another look-up replaced the pending account meanwhile.
    .ok_or(PayoutAccountError::NoPendingAccount)?;
    tracing::info!(user_id = %user.id, "payout account confirmed");
    // The workflows re-check every 10 minutes anyway: a failed nudge only
    // delays a payout.
    for invoice_id in store::held_sales(&state.db, user.id).await? {
        if let Err(err) =
            gateway::nudge_sale(&state.temporal, invoice_id, "payout account added").await
        {
            tracing::warn!(%invoice_id, error = format!("{err:#}"), "could not nudge a held sale");
        }
    }
    Ok(view(confirmed, true))
}

/// Forgets `user`'s pending account (the confirmed one stays).
pub async fn cancel_pending(state: &AppState, user: &AuthUser) -> Result<(), PayoutAccountError> {
    payee(user)?;
    store::delete_pending(&state.db, user.id).await?;
    Ok(())
}

/// Forgets both of `user`'s accounts, after Paystack set the recipient
/// inactive (so nothing more is sent to it). Payouts then wait for a new
/// account.
pub async fn remove(state: &AppState, user: &AuthUser) -> Result<(), PayoutAccountError> {
    payee(user)?;
    let accounts = store::of_user(&state.db, user.id).await?;
    if let Some(code) = accounts.confirmed.and_then(|a| a.recipient_code) {
        paystack(state)?.deactivate_recipient(&code).await?;
    }
    store::delete_all(&state.db, user.id).await?;
    tracing::info!(user_id = %user.id, "payout account removed");
    Ok(())
}
