//! Your data: everything Gavel keeps about an account, for its owner
//! (`GET /me/export`), and deleting the account (`DELETE /me`): refused
//! while something is under way that names it (an invoice to pay, a win,
//! a lead, a lot or a sale in flight); otherwise the row is pseudonymised
//! (bids and invoices stay for the books), every session and token is
//! revoked and the address can sign up again. The export's JSON document
//! ([`ExportResponse`]) and its file are made here, once, for the JSON route
//! and the page's download link alike.

use std::net::IpAddr;

use gavel_store::{
    StoreError, preferences,
    preferences::Preferences,
    saved_searches::{self, SavedSearch},
    watchlist,
    your_data::{self, AccountData, BidData, Blocker, InvoiceData},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{
    accounts,
    auth::{AuthUser, Email, LimitError, password},
    error::ApiError,
    // The export embeds the API's own shapes of a watched lot and a saved
    // search, so the download reads as `GET /me/watchlist` and
    // `GET /me/saved-searches` do.
    service::{saved_searches::SavedSearchResponse, watchlist::WatchedLotResponse},
    state::AppState,
};

pub use gavel_store::watchlist::WatchedLot;

/// Everything kept about an account, for its owner: no password hash,
/// token, card code or payment reference.
#[derive(Debug, Clone)]
pub struct YourData {
    pub account: AccountData,
    pub bids: Vec<BidData>,
    pub invoices: Vec<InvoiceData>,
    pub watchlist: Vec<WatchedLot>,
    pub saved_searches: Vec<SavedSearch>,
    pub preferences: Preferences,
}

/// Everything Gavel keeps about my account: no password hash, token, card
/// code or payment reference.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExportResponse {
    /// id, email, name, handle, role, created_at, email_verified_at.
    #[schema(value_type = Object)]
    pub account: Value,
    /// Every bid, newest first, with its maximum.
    #[schema(value_type = Vec<Object>)]
    pub bids: Vec<Value>,
    /// Every invoice, as buyer or seller (`side`), newest first.
    #[schema(value_type = Vec<Object>)]
    pub invoices: Vec<Value>,
    /// Lots on my watchlist, with their prices now.
    pub watchlist: Vec<WatchedLotResponse>,
    pub saved_searches: Vec<SavedSearchResponse>,
    /// Which optional notices I want.
    #[schema(value_type = Object)]
    pub preferences: Value,
}

impl ExportResponse {
    pub fn of(data: &YourData) -> Result<Self, serde_json::Error> {
        Ok(Self {
            account: serde_json::to_value(&data.account)?,
            bids: data
                .bids
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()?,
            invoices: data
                .invoices
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()?,
            watchlist: data
                .watchlist
                .iter()
                .cloned()
                .map(WatchedLotResponse::from)
                .collect(),
            saved_searches: data
                .saved_searches
                .iter()
                .map(SavedSearchResponse::of)
                .collect(),
            preferences: serde_json::to_value(data.preferences)?,
        })
    }
}

/// The name the export is saved under.
pub const EXPORT_FILE_NAME: &str = "gavel-my-data.json";

/// The export as a file: its JSON bytes and the name it is saved under.
/// The JSON route and the page answer it as a download.
#[derive(Debug, Clone)]
pub struct ExportFile {
    pub json: Vec<u8>,
    pub name: &'static str,
}

/// `data` as the file both `GET /api/v1/me/export` and the page's link
/// (`GET /me/export`, signed in by the session cookie) download.
pub fn export_file(data: &YourData) -> Result<ExportFile, YourDataError> {
    let json = serde_json::to_vec(&ExportResponse::of(data)?)?;
    Ok(ExportFile {
        json,
        name: EXPORT_FILE_NAME,
    })
}

/// Why the data could not be read or the account not deleted.
#[derive(Debug, thiserror::Error)]
pub enum YourDataError {
    /// Deleting: the password given is not the account's.
    #[error("the password is wrong")]
    WrongPassword,
    /// Deleting: these must end first.
    #[error("{}", blocked_sentence(.0))]
    Blocked(Vec<Blocker>),
    #[error("too many attempts; retry in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    /// The signed-in account no longer exists (or was deleted).
    #[error("this account no longer exists")]
    AccountGone,
    /// The auth layer's own answers (the password hasher busy).
    #[error(transparent)]
    Auth(#[from] ApiError),
    #[error(transparent)]
    Database(#[from] StoreError),
    /// The export could not be written as JSON.
    #[error("the export could not be written: {0}")]
    Export(#[from] serde_json::Error),
}

impl From<sqlx::Error> for YourDataError {
    fn from(err: sqlx::Error) -> Self {
        YourDataError::Database(err.into())
    }
}

impl From<LimitError> for YourDataError {
    fn from(err: LimitError) -> Self {
        match err {
            LimitError::TooMany { retry_after_secs } => {
                YourDataError::TooManyAttempts { retry_after_secs }
            }
            LimitError::Database(err) => YourDataError::Database(err),
        }
    }
}

/// "the account cannot be deleted yet: invoice GV-1 is unpaid; …", naming
/// each blocker.
pub fn blocked_sentence(blockers: &[Blocker]) -> String {
    let reasons: Vec<String> = blockers
        .iter()
        .map(|b| match b.kind.as_str() {
            "unpaid_invoice" => format!("invoice {} is unpaid", b.name),
            "open_win" => format!("you won \"{}\" and have not paid yet", b.name),
            "leading_bid" => format!("you lead the bidding on \"{}\"", b.name),
            "open_auction" => format!(
                "your lot \"{}\" is still running or awaiting payment",
                b.name
            ),
            "sale_in_flight" => format!("the sale of \"{}\" is not closed yet", b.name),
            other => format!("{other} \"{}\"", b.name),
        })
        .collect();
    format!("the account cannot be deleted yet: {}", reasons.join("; "))
}

/// Everything kept about `auth`'s account.
pub async fn export(state: &AppState, auth: &AuthUser) -> Result<YourData, YourDataError> {
    let db = &state.db;
    let account = your_data::account(db, auth.id)
        .await?
        .ok_or(YourDataError::AccountGone)?;
    Ok(YourData {
        account,
        bids: your_data::bids(db, auth.id).await?,
        invoices: your_data::invoices(db, auth.id).await?,
        watchlist: watchlist::watched(db, auth.id).await?,
        saved_searches: saved_searches::list(db, auth.id).await?,
        preferences: preferences::get(db, auth.id).await?,
    })
}

/// Deletes `auth`'s account once `password` is its own and nothing is under
/// way (guessing it here counts as a sign-in attempt from `from`).
pub async fn delete_account(
    state: &AppState,
    from: IpAddr,
    auth: &AuthUser,
    password: String,
) -> Result<(), YourDataError> {
    let user = accounts::find_by_id(&state.db, auth.id)
        .await?
        .ok_or(YourDataError::AccountGone)?;
    let email = Email::parse(&user.email).map_err(|_| YourDataError::AccountGone)?;
    state.login_limiter.begin(from, Some(&email)).await?;
    let stored = accounts::password_hash(&state.db, auth.id).await?;
    if !password::verify(&state.hashing, password, stored).await? {
        return Err(YourDataError::WrongPassword);
    }
    // The blockers are read under the account's lock, in the transaction
    // that deletes it, after the slow password check: a bid or a win that
    // landed meanwhile is seen. A bid already past its own checks when this
    // commits may still land (its token is refused from then on); an
    // invoice it wins goes unpaid and to the runner-up, as any unpaid one.
    let mut tx = state.db.begin().await?;
    if !your_data::lock_for_deletion(&mut tx, auth.id).await? {
        return Err(YourDataError::AccountGone);
    }
    let blockers = your_data::blockers(&mut *tx, auth.id).await?;
    if !blockers.is_empty() {
        return Err(YourDataError::Blocked(blockers));
    }
    if !your_data::pseudonymise(&mut tx, auth.id).await? {
        return Err(YourDataError::AccountGone);
    }
    // Every token of the account is refused from now on (at once here,
    // within the revocation delay on other replicas; its sessions ended).
    state.token_versions.bump_and_commit(tx, auth.id).await?;
    tracing::info!(user_id = %auth.id, "account deleted by its owner; pseudonymised");
    Ok(())
}
