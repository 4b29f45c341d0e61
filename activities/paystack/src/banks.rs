//! Sellers' payout accounts at Paystack: the banks it pays into (`GET
//! /bank`), the name on an account (`GET /bank/resolve`), and the transfer
//! recipient a payout is sent to (`POST` and `DELETE /transferrecipient`).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Paystack, PaystackError};

/// Pages of banks followed at most: Paystack lists a few hundred, 100 a page.
const MAX_BANK_PAGES: usize = 20;

/// A bank as `GET /bank` lists it (the fields Gavel reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bank {
    pub name: String,
    /// A string: leading zeros matter (`"058"`).
    pub code: String,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub active: bool,
    /// Sometimes `null`: not deleted.
    #[serde(default)]
    pub is_deleted: Option<bool>,
    #[serde(default)]
    pub currency: Option<String>,
    /// `nuban`, `mobile_money`, …
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

impl Bank {
    /// Whether a seller may be paid into this bank in `currency`: active,
    /// not deleted, and for NGN a NUBAN bank (the only accounts a transfer
    /// recipient of type `nuban` takes).
    pub fn offered_for(&self, currency: &str) -> bool {
        self.active
            && self.is_deleted != Some(true)
            && (currency != "NGN" || self.kind.as_deref() == Some("nuban"))
    }
}

/// The name the bank holds for an account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResolvedAccount {
    pub account_name: String,
}

/// A transfer recipient to create (always `nuban`).
#[derive(Debug, Clone, Serialize)]
pub struct NewRecipient {
    pub name: String,
    pub account_number: String,
    pub bank_code: String,
    pub currency: String,
}

/// The recipient Paystack made (or already had for this account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// `RCP_…`: what a transfer names.
    pub recipient_code: String,
    pub id: Option<u64>,
    pub bank_name: Option<String>,
}

#[derive(Deserialize)]
struct BankPage {
    #[serde(default)]
    data: Vec<Bank>,
    #[serde(default)]
    meta: Option<Meta>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct RecipientData {
    recipient_code: String,
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    details: Option<RecipientDetails>,
}

#[derive(Deserialize)]
struct RecipientDetails {
    #[serde(default)]
    bank_name: Option<String>,
}

impl Paystack {
    /// Every bank Paystack lists for `currency` (all pages, inactive ones
    /// too: see [`Bank::offered_for`]).
    pub async fn list_banks(&self, currency: &str) -> Result<Vec<Bank>, PaystackError> {
        let mut banks = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_BANK_PAGES {
            let mut path = format!(
                "/bank?currency={}&use_cursor=true&perPage=100",
                query_value(currency)
            );
            if let Some(cursor) = &next {
                path.push_str(&format!("&next={}", query_value(cursor)));
            }
            let page: BankPage = self.call_whole::<(), _>(Method::GET, &path, None).await?;
            banks.extend(page.data);
            next = page
                .meta
                .and_then(|meta| meta.next)
                .filter(|n| !n.is_empty());
            if next.is_none() {
                return Ok(banks);
            }
        }
        Err(PaystackError::Malformed(format!(
            "more than {MAX_BANK_PAGES} pages of banks"
        )))
    }

    /// The name on `account_number` at `bank_code`; `None` when Paystack
    /// cannot resolve it (a wrong number or bank). Test mode's daily cap on
    /// resolving real banks is [`PaystackError::RateLimited`], never `None`.
    pub async fn resolve_account(
        &self,
        account_number: &str,
        bank_code: &str,
    ) -> Result<Option<ResolvedAccount>, PaystackError> {
        let path = format!(
            "/bank/resolve?account_number={}&bank_code={}",
            query_value(account_number),
            query_value(bank_code)
        );
        match self
            .call::<(), ResolvedAccount>(Method::GET, &path, None)
            .await
        {
            Ok(account) => Ok(Some(account)),
            Err(PaystackError::Invalid { message, .. }) if is_daily_cap(&message) => {
                Err(PaystackError::RateLimited { retry_after: None })
            }
            Err(PaystackError::Invalid { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `POST /transferrecipient`: Paystack answers the existing recipient
    /// for an account it knows, so a retry creates nothing twice.
    pub async fn create_recipient(
        &self,
        recipient: &NewRecipient,
    ) -> Result<Recipient, PaystackError> {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            #[serde(flatten)]
            recipient: &'a NewRecipient,
        }
        let data: RecipientData = self
            .call(
                Method::POST,
                "/transferrecipient",
                Some(&Body {
                    kind: "nuban",
                    recipient,
                }),
            )
            .await?;
        Ok(Recipient {
            recipient_code: data.recipient_code,
            id: data.id,
            bank_name: data.details.and_then(|d| d.bank_name),
        })
    }

    /// `DELETE /transferrecipient/{code}`: Paystack sets it inactive. One it
    /// does not know (404) is as good as gone.
    pub async fn deactivate_recipient(&self, recipient_code: &str) -> Result<(), PaystackError> {
        let path = format!("/transferrecipient/{}", query_value(recipient_code));
        match self
            .call_whole::<(), Value>(Method::DELETE, &path, None)
            .await
        {
            Ok(_) => Ok(()),
            Err(PaystackError::Invalid { message, .. })
                if message.to_lowercase().contains("not found") =>
            {
                Ok(())
            }
            Err(err) => Err(err),
        }
    }
}

/// Whether a refusal is test mode's daily cap on resolving real banks
/// (sent as a 400, not a 429).
fn is_daily_cap(message: &str) -> bool {
    let message = message.to_lowercase();
    message.contains("daily limit") || message.contains("limit of")
}

/// `value` percent-encoded for a query or path segment (codes and numbers
/// are plain, but nothing sent may change the request's shape).
fn query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
