//! The settlement contract: what the auction workflow asks of the settlement
//! activities (invoice, charge, verify, void, email) and what it hears back.
//! Only ids and amounts cross here: emails and names stay in the database.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use temporalio_macros::activity_definitions;
use temporalio_sdk::activities::ActivityError;
use temporalio_workflow::RetryPolicy;
use uuid::Uuid;

use crate::rules::Currency;

/// An invoice to create for one offer round (idempotent per auction and round).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRequest {
    pub auction_id: Uuid,
    pub round: u32,
    pub buyer_id: Uuid,
    pub seller_id: Uuid,
    pub currency: Currency,
    pub amount: i64,
    pub title: String,
    pub due_at: DateTime<Utc>,
}

/// The invoice as the workflow refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRef {
    pub invoice_id: Uuid,
    pub number: String,
    pub total: i64,
}

/// How the buyer is to pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum PaymentStart {
    /// A stored card was charged and the charge verified.
    Charged,
    /// A Paystack checkout link to email.
    PayLink { authorization_url: String },
    /// No online payment configured (no Paystack key): offline only.
    OfflineOnly,
    /// A stored card was charged and Paystack has not finished: wait for its
    /// `charge.success` rather than offer a link that could take the money twice.
    CardPending,
}

/// Who says an invoice was paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum PaymentSource {
    /// A Paystack `charge.success` (to be verified with Paystack).
    Paystack { reference: String },
    /// An admin recorded a bank transfer or cash.
    Offline { admin_id: Uuid },
}

/// The `payment_received` signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentNotice {
    pub invoice_id: Uuid,
    pub source: PaymentSource,
}

/// What verification concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Verification {
    Paid,
    NotPaid { reason: String },
}

/// Every email of the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    Outbid,
    Won,
    SecondChance,
    Sold,
    AuctionLost,
    PaymentReminder,
    Receipt,
    SaleCompleted,
    NoSale,
    Unsold,
}

impl EmailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailKind::Outbid => "outbid",
            EmailKind::Won => "won",
            EmailKind::SecondChance => "second_chance",
            EmailKind::Sold => "sold",
            EmailKind::AuctionLost => "auction_lost",
            EmailKind::PaymentReminder => "payment_reminder",
            EmailKind::Receipt => "receipt",
            EmailKind::SaleCompleted => "sale_completed",
            EmailKind::NoSale => "no_sale",
            EmailKind::Unsold => "unsold",
        }
    }
}

/// One email to send (or record). `occasion` makes the idempotency key
/// unique per event: the offer round, or the bid number for outbid notices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailJob {
    pub kind: EmailKind,
    pub auction_id: Uuid,
    pub recipient_id: Uuid,
    pub occasion: u64,
    pub invoice_id: Option<Uuid>,
    /// The pay link, for `won` and `second_chance`.
    pub pay_link: Option<String>,
    pub amount: Option<i64>,
    /// The buyer's saved card is being charged (no pay link needed).
    #[serde(default)]
    pub card_pending: bool,
}

impl EmailJob {
    /// (auction, kind, recipient, occasion): the same email is sent once.
    pub fn idempotency_key(&self) -> String {
        format!(
            "{}-{}-{}-{}",
            self.auction_id,
            self.kind.as_str(),
            self.recipient_id,
            self.occasion
        )
    }
}

/// Activities of settlement, implemented in `gavel-activities`.
pub struct SettlementActivities;

#[activity_definitions]
impl SettlementActivities {
    #[activity(name = "create_invoice")]
    pub fn create_invoice(request: InvoiceRequest) -> Result<InvoiceRef, ActivityError> {
        unimplemented!()
    }

    /// Charges a stored card, or creates a pay link.
    #[activity(name = "start_payment")]
    pub fn start_payment(invoice_id: Uuid) -> Result<PaymentStart, ActivityError> {
        unimplemented!()
    }

    /// Verifies a notice (Paystack verify, amount and currency checked) and
    /// on success marks the invoice paid and keeps a reusable card.
    #[activity(name = "verify_payment")]
    pub fn verify_payment(notice: PaymentNotice) -> Result<Verification, ActivityError> {
        unimplemented!()
    }

    /// Voids an unpaid invoice and gives its buyer a strike.
    #[activity(name = "void_invoice")]
    pub fn void_invoice(invoice_id: Uuid) -> Result<(), ActivityError> {
        unimplemented!()
    }

    #[activity(name = "send_email")]
    pub fn send_email(job: EmailJob) -> Result<(), ActivityError> {
        unimplemented!()
    }
}

pub use settlement_activities::{
    CreateInvoice as CreateInvoiceDefinition, SendEmail as SendEmailDefinition,
    StartPayment as StartPaymentDefinition, VerifyPayment as VerifyPaymentDefinition,
    VoidInvoice as VoidInvoiceDefinition,
};

/// Failure types that no retry will fix (the activities name them).
pub const PERMANENT_FAILURES: [&str; 4] = [
    "PaystackBadKey",
    "PaystackInvalidRequest",
    "BrevoBadKey",
    "BrevoRejected",
];

/// Retries for calls to Paystack and Brevo: quick at first, then patient;
/// permanent failures stop at once.
pub fn external_retry_policy() -> RetryPolicy {
    RetryPolicy::builder()
        .initial_interval(Duration::from_secs(1))
        .backoff_coefficient(2.0)
        .maximum_interval(Duration::from_secs(60))
        .maximum_attempts(20)
        .non_retryable_error_types(PERMANENT_FAILURES)
        .build()
}
