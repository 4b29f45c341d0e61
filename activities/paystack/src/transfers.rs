//! Paystack Transfers: paying a seller from the Paystack balance. A transfer
//! is keyed by our reference only (Paystack has no idempotency header), so a
//! retry of one attempt sends the same reference and a duplicate is read as
//! "it exists: verify it", never as a failure.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Paystack, PaystackError, amount};

/// A transfer's status (`data.status`). The HTTP status only says whether
/// the call worked; this says where the money is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferStatus {
    Pending,
    Success,
    Failed,
    Reversed,
    Otp,
    Abandoned,
    Blocked,
    Rejected,
    Received,
    /// A word Paystack may add later: not conclusive, verify again.
    Unknown(String),
}

impl TransferStatus {
    pub fn of(word: &str) -> Self {
        match word {
            "pending" => Self::Pending,
            "success" => Self::Success,
            "failed" => Self::Failed,
            "reversed" => Self::Reversed,
            "otp" => Self::Otp,
            "abandoned" => Self::Abandoned,
            "blocked" => Self::Blocked,
            "rejected" => Self::Rejected,
            "received" => Self::Received,
            other => Self::Unknown(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "pending",
            Self::Success => "success",
            Self::Failed => "failed",
            Self::Reversed => "reversed",
            Self::Otp => "otp",
            Self::Abandoned => "abandoned",
            Self::Blocked => "blocked",
            Self::Rejected => "rejected",
            Self::Received => "received",
            Self::Unknown(word) => word,
        }
    }

    /// Conclusively not paid: a new attempt (with a new reference) may follow.
    pub fn is_dead(&self) -> bool {
        matches!(
            self,
            Self::Failed | Self::Reversed | Self::Abandoned | Self::Blocked | Self::Rejected
        )
    }
}

/// A transfer as Paystack answers it (initiate, verify, finalize, webhooks).
/// `recipient` and `integration` are an id in some answers and an object in
/// others, so they are kept as values.
#[derive(Debug, Clone, Deserialize)]
pub struct Transfer {
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub transfer_code: Option<String>,
    #[serde(default, deserialize_with = "amount")]
    pub amount: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    pub recipient: Option<Value>,
    #[serde(default, deserialize_with = "amount")]
    pub fee_charged: Option<i64>,
}

impl Transfer {
    pub fn status(&self) -> TransferStatus {
        TransferStatus::of(self.status.as_deref().unwrap_or("unknown"))
    }

    /// The recipient's code, when the answer carries the recipient object.
    pub fn recipient_code(&self) -> Option<&str> {
        self.recipient
            .as_ref()
            .and_then(|r| r.get("recipient_code"))
            .and_then(Value::as_str)
    }
}

/// `POST /transfer`'s body.
#[derive(Debug, Clone, Serialize)]
pub struct TransferRequest<'a> {
    pub source: &'static str,
    pub amount: i64,
    pub recipient: &'a str,
    pub reference: &'a str,
    pub reason: &'a str,
    pub currency: &'a str,
}

/// How a transfer request ended that did not create a transfer.
#[derive(Debug)]
pub enum TransferRefusal {
    /// The balance cannot cover amount + fee: same reference, later.
    InsufficientBalance,
    /// The reference exists already: verify it.
    DuplicateReference,
    /// Anything else Paystack refused (bad recipient, starter business…).
    Refused(String),
}

/// What `initiate_transfer` came to.
#[derive(Debug)]
pub enum Initiated {
    Created(Transfer),
    NotCreated(TransferRefusal),
}

impl Paystack {
    /// `POST /transfer` from the balance with our `reference`.
    pub async fn initiate_transfer(
        &self,
        request: &TransferRequest<'_>,
    ) -> Result<Initiated, PaystackError> {
        match self
            .call::<_, Transfer>(Method::POST, "/transfer", Some(request))
            .await
        {
            Ok(transfer) => Ok(Initiated::Created(transfer)),
            Err(PaystackError::DuplicateReference) => {
                Ok(Initiated::NotCreated(TransferRefusal::DuplicateReference))
            }
            Err(PaystackError::Invalid { code, message }) => {
                let lower = message.to_lowercase();
                let refusal = if code.as_deref() == Some("duplicate_transfer_reference")
                    || lower.contains("reference already exists")
                {
                    TransferRefusal::DuplicateReference
                } else if lower.contains("balance is not enough")
                    || code.as_deref() == Some("insufficient_balance")
                {
                    TransferRefusal::InsufficientBalance
                } else {
                    TransferRefusal::Refused(message)
                };
                Ok(Initiated::NotCreated(refusal))
            }
            Err(err) => Err(err),
        }
    }

    /// `GET /transfer/verify/{reference}`; `None` when Paystack has no
    /// transfer with it (404 "Transfer not found").
    pub async fn verify_transfer(
        &self,
        reference: &str,
    ) -> Result<Option<Transfer>, PaystackError> {
        let path = format!("/transfer/verify/{reference}");
        match self.call::<(), Transfer>(Method::GET, &path, None).await {
            Ok(transfer) => Ok(Some(transfer)),
            Err(PaystackError::Invalid { message, .. })
                if message.to_lowercase().contains("not found") =>
            {
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// `POST /transfer/finalize_transfer`: an admin's OTP for a transfer
    /// waiting in `otp`. A wrong OTP is Paystack's refusal (`Invalid`).
    pub async fn finalize_transfer(
        &self,
        transfer_code: &str,
        otp: &str,
    ) -> Result<Transfer, PaystackError> {
        #[derive(Serialize)]
        struct Body<'a> {
            transfer_code: &'a str,
            otp: &'a str,
        }
        self.call(
            Method::POST,
            "/transfer/finalize_transfer",
            Some(&Body { transfer_code, otp }),
        )
        .await
    }

    /// `GET /balance`: the balance in `currency`, minor units (0 if absent).
    pub async fn balance(&self, currency: &str) -> Result<i64, PaystackError> {
        #[derive(Deserialize)]
        struct Balance {
            currency: String,
            #[serde(deserialize_with = "amount")]
            balance: Option<i64>,
        }
        let balances: Vec<Balance> = self.call::<(), _>(Method::GET, "/balance", None).await?;
        Ok(balances
            .into_iter()
            .find(|b| b.currency.eq_ignore_ascii_case(currency))
            .and_then(|b| b.balance)
            .unwrap_or(0))
    }
}
