//! Which optional notices an account gets: its choices read and replaced
//! whole (signed in), and one kind stopped by an email's unsubscribe link
//! (no sign-in: the link's signed token names the account and the kind;
//! see [`gavel_activities::mailer::unsubscribe`]).

use gavel_activities::mailer::unsubscribe;
use gavel_store::preferences::{self, LEAD_MAX_SECS, LEAD_MIN_SECS, NoticeKind, Preferences};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    auth::AuthUser,
    input_error::{InputError, InputKind},
    state::AppState,
};

/// Which optional notices I get. Mail a buyer or seller must get (won,
/// invoice, receipt, refund, payout, account emails) has no switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NoticePreferences {
    /// "You have been outbid" on a lot I bid on.
    pub outbid: bool,
    /// "Ending soon" on a lot I bid on and am not leading.
    pub ending_soon: bool,
    /// "Ending soon" on a lot on my watchlist.
    pub watched_lots: bool,
    /// The daily digest of new lots matching my saved searches.
    pub saved_search_digest: bool,
    /// How long before a lot's end its "ending soon" email goes, in seconds:
    /// 60 (a minute) to 604800 (7 days).
    #[schema(minimum = 60, maximum = 604800, example = 3600)]
    pub ending_soon_lead_secs: i32,
}

impl From<Preferences> for NoticePreferences {
    fn from(p: Preferences) -> Self {
        Self {
            outbid: p.outbid,
            ending_soon: p.ending_soon,
            watched_lots: p.watched_lots,
            saved_search_digest: p.saved_search_digest,
            ending_soon_lead_secs: p.ending_soon_lead_secs,
        }
    }
}

impl From<NoticePreferences> for Preferences {
    fn from(p: NoticePreferences) -> Self {
        Self {
            outbid: p.outbid,
            ending_soon: p.ending_soon,
            watched_lots: p.watched_lots,
            saved_search_digest: p.saved_search_digest,
            ending_soon_lead_secs: p.ending_soon_lead_secs,
        }
    }
}

/// Why choices were not read or kept.
#[derive(Debug, thiserror::Error)]
pub enum PreferencesError {
    #[error(transparent)]
    Invalid(#[from] InputError),
    #[error(transparent)]
    Database(#[from] gavel_store::StoreError),
}

/// Why an unsubscribe link did nothing.
#[derive(Debug, thiserror::Error)]
pub enum UnsubscribeError {
    /// Not a link we signed: altered, cut short, or made up.
    #[error("this unsubscribe link is not valid; change your email choices on your account page")]
    InvalidLink,
    #[error(transparent)]
    Database(#[from] gavel_store::StoreError),
}

/// My choices (the defaults until I make some).
pub async fn get(state: &AppState, user: &AuthUser) -> Result<NoticePreferences, PreferencesError> {
    Ok(preferences::get(&state.db, user.id).await?.into())
}

/// Replaces my choices whole; nothing changes when the lead is out of range.
pub async fn put(
    state: &AppState,
    user: &AuthUser,
    choices: NoticePreferences,
) -> Result<NoticePreferences, PreferencesError> {
    if !(LEAD_MIN_SECS..=LEAD_MAX_SECS).contains(&choices.ending_soon_lead_secs) {
        return Err(InputError::of(
            InputKind::InvalidEndingSoonLead,
            "ending_soon_lead_secs",
            format!(
                "the ending-soon lead is {LEAD_MIN_SECS} s (a minute) to {LEAD_MAX_SECS} s (7 days)"
            ),
        )
        .into());
    }
    let before = preferences::get(&state.db, user.id).await?;
    let after: Preferences = choices.into();
    preferences::put(&state.db, user.id, &after).await?;
    // A longer lead, or alerts switched back on, may bring an alert before
    // the check a running lot has planned: tell those lots' workflows.
    let sooner = after.ending_soon_lead_secs > before.ending_soon_lead_secs
        || (after.ending_soon && !before.ending_soon)
        || (after.watched_lots && !before.watched_lots);
    if sooner {
        crate::service::watchlist::tell_workflows_if_sooner(state, user.id).await?;
    }
    Ok(choices)
}

/// The kind an unsubscribe link stops, checked and nothing changed (the
/// link's page, which mail scanners open too).
pub async fn check_link(state: &AppState, token: &str) -> Result<NoticeKind, UnsubscribeError> {
    let (_, kind) = unsubscribe::verify(&state.db, token)
        .await?
        .ok_or(UnsubscribeError::InvalidLink)?;
    Ok(kind)
}

/// Stops the kind of notice the link names for the account it names; the
/// next send of that kind reads it. Following it again changes nothing more.
pub async fn unsubscribe(state: &AppState, token: &str) -> Result<NoticeKind, UnsubscribeError> {
    let (user, kind) = unsubscribe::verify(&state.db, token)
        .await?
        .ok_or(UnsubscribeError::InvalidLink)?;
    preferences::stop(&state.db, user, kind).await?;
    tracing::info!(user_id = %user, kind = kind.as_str(), "unsubscribed");
    Ok(kind)
}
