//! What the auction workflow asks of the settlement activities (invoice,
//! payment, confirmation, closing an invoice, email) and what it hears back.
//! Only ids and amounts cross here: emails and names stay in the database.
//!
//! Activity names and these shapes are recorded in history.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use temporalio_macros::activity_definitions;
use temporalio_sdk::activities::ActivityError;
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
    /// When payment is due; for an offer, when it lapses unanswered.
    pub due_at: DateTime<Utc>,
    /// A second-chance offer: the invoice is `offered` (nothing to pay)
    /// until its buyer accepts.
    #[serde(default)]
    pub offer: bool,
}

/// The invoice as the workflow refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRef {
    pub invoice_id: Uuid,
    pub number: String,
    pub total: i64,
}

/// `begin_payment`: start the one live way to pay an open invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeginPayment {
    pub invoice_id: Uuid,
    /// Try the buyer's stored card first (the first start of an invoice).
    /// A pay link asked for later never charges a card.
    pub stored_card: bool,
}

/// The live way to pay an invoice, as `begin_payment` left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum PaymentOpened {
    /// A stored card was charged and the charge verified: paid.
    Charged,
    /// A Paystack checkout for `reference` (a new one, or the one already made).
    PayLink {
        authorization_url: String,
        reference: String,
    },
    /// A stored card charge Paystack has not finished; its `charge.success`
    /// (or a later verify) decides. No second way to pay meanwhile.
    CardPending { reference: String },
    /// No online payment configured (no Paystack key): offline only.
    OfflineOnly,
}

/// Who says an invoice was paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum PaymentSource {
    /// A Paystack `charge.success` (to be verified with Paystack).
    Paystack { reference: String },
    /// An admin recorded a bank transfer or cash (their role is checked).
    Offline { admin_id: Uuid },
}

/// The `payment_received` signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentNotice {
    pub invoice_id: Uuid,
    pub source: PaymentSource,
}

/// What `confirm_payment` concluded about a notice. Every verified payment
/// ends as exactly one of: paying its invoice, or refunded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Confirmation {
    /// The invoice is paid (now, or by this same payment before).
    Paid { invoice_id: Uuid },
    /// No money arrived (yet): `status` is Paystack's, when it has one.
    NotPaid {
        reason: String,
        #[serde(default)]
        status: Option<String>,
    },
    /// Money arrived that cannot pay the invoice (void, superseded, already
    /// paid, another amount): it is recorded and refunded in full.
    Refunded {
        invoice_id: Uuid,
        /// The invoice's buyer, who is told about the refund.
        payer_id: Uuid,
        /// The payment's own id: one refund email per payment.
        payment_id: u64,
        amount: i64,
        reason: String,
    },
    /// The notice itself is not acceptable (an offline payment recorded by
    /// someone who is not an admin): nothing changed.
    Refused { reason: String },
}

/// Why an invoice is closed without payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The payment window passed: void, and the buyer gets a strike.
    Unpaid,
    /// The buyer declined a second-chance offer: no strike.
    Declined,
    /// A second-chance offer lapsed unanswered: no strike.
    Expired,
}

/// `close_invoice`'s input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseInvoice {
    pub invoice_id: Uuid,
    pub reason: CloseReason,
}

/// What closing found: void-or-paid is decided atomically, so an invoice
/// paid a moment before its deadline is settled, never voided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceClosed {
    Closed,
    AlreadyPaid,
}

/// `accept_offer`'s input: the offer becomes an open invoice due at `due_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptOffer {
    pub invoice_id: Uuid,
    pub due_at: DateTime<Utc>,
}

/// Every email of the lifecycle (stored in `emails.kind`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "snake_case"))]
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
    /// A second-chance offer was accepted: how to pay.
    OfferAccepted,
    /// A stored-card charge failed: a pay link instead.
    PayLink,
    /// Money that could not pay an invoice was refunded.
    Refund,
    /// The auction was cancelled before it ended.
    AuctionCancelled,
    /// To admins: a buyer disputed a charge.
    Dispute,
    /// To the seller: paid for; ship it by the deadline.
    ShipBy,
    /// To the buyer: the seller shipped the lot.
    LotShipped,
    /// To the seller: the buyer has the lot (or receipt was assumed).
    LotReceived,
    /// To the buyer and the seller: never shipped, refunded in full.
    NotShipped,
    /// To the seller: the buyer opened a claim.
    ClaimOpened,
    /// To the buyer: the seller answered the claim, or an admin decided it.
    ClaimAnswered,
    /// To admins: a claim contested or unanswered waits for a decision.
    ClaimToDecide,
    /// To the seller: the payout was sent.
    PayoutSent,
    /// To the seller: the payout waits for a payout account.
    PayoutHeld,
    /// To admins: a payout needs a person (failed, OTP, short balance).
    PayoutProblem,
    /// To a watcher, or a bidder who is not leading: the lot ends soon.
    EndingSoon,
}

impl EmailKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Emails of the open phase carry a bid number as their occasion; the
    /// others belong to an offer round.
    pub fn belongs_to_a_round(self) -> bool {
        !matches!(
            self,
            EmailKind::Outbid | EmailKind::AuctionCancelled | EmailKind::EndingSoon
        )
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

/// `email_bidders`: one email of `kind` to everyone who bid on the auction
/// (but `except`), however many they are, from one activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidderEmail {
    pub auction_id: Uuid,
    pub kind: EmailKind,
    pub occasion: u64,
    pub except: Vec<Uuid>,
}

/// Activities of settlement, implemented in `gavel-activities`.
pub struct SettlementActivities;

#[activity_definitions]
impl SettlementActivities {
    #[activity(name = "create_invoice")]
    pub fn create_invoice(request: InvoiceRequest) -> Result<InvoiceRef, ActivityError> {
        unimplemented!()
    }

    #[activity(name = "send_email")]
    pub fn send_email(job: EmailJob) -> Result<(), ActivityError> {
        unimplemented!()
    }

    /// Starts the one live way to pay an open invoice (stored card or pay
    /// link), or returns the one already started.
    #[activity(name = "begin_payment")]
    pub fn begin_payment(request: BeginPayment) -> Result<PaymentOpened, ActivityError> {
        unimplemented!()
    }

    /// Verifies a notice and accounts for any money it finds: pays the
    /// invoice, or records and refunds it.
    #[activity(name = "confirm_payment")]
    pub fn confirm_payment(notice: PaymentNotice) -> Result<Confirmation, ActivityError> {
        unimplemented!()
    }

    /// Closes an unpaid invoice or an unanswered offer; finds it paid instead
    /// when the money came first.
    #[activity(name = "close_invoice")]
    pub fn close_invoice(request: CloseInvoice) -> Result<InvoiceClosed, ActivityError> {
        unimplemented!()
    }

    /// Turns an accepted offer into an open invoice.
    #[activity(name = "accept_offer")]
    pub fn accept_offer(request: AcceptOffer) -> Result<(), ActivityError> {
        unimplemented!()
    }

    /// Sends (or records) several emails in one activity.
    #[activity(name = "send_emails")]
    pub fn send_emails(jobs: Vec<EmailJob>) -> Result<(), ActivityError> {
        unimplemented!()
    }

    /// Emails every bidder of an auction; returns how many were written to.
    #[activity(name = "email_bidders")]
    pub fn email_bidders(request: BidderEmail) -> Result<u64, ActivityError> {
        unimplemented!()
    }

    /// Emails every admin (e.g. about a dispute); returns how many.
    #[activity(name = "email_admins")]
    pub fn email_admins(job: EmailJob) -> Result<u64, ActivityError> {
        unimplemented!()
    }

    /// Asks Paystack for one refund of the ledger (by its id), once; returns
    /// the refund's state after Paystack's answer.
    #[activity(name = "refund_payment")]
    pub fn refund_payment(refund_id: u64) -> Result<String, ActivityError> {
        unimplemented!()
    }
}

pub use settlement_activities::{
    AcceptOffer as AcceptOfferDefinition, BeginPayment as BeginPaymentDefinition,
    CloseInvoice as CloseInvoiceDefinition, ConfirmPayment as ConfirmPaymentDefinition,
    CreateInvoice as CreateInvoiceDefinition, EmailAdmins as EmailAdminsDefinition,
    EmailBidders as EmailBiddersDefinition, RefundPayment as RefundPaymentDefinition,
    SendEmail as SendEmailDefinition, SendEmails as SendEmailsDefinition,
};

/// Failure types that no retry will fix (the activities name them).
pub const PERMANENT_FAILURES: [&str; 4] = [
    "PaystackBadKey",
    "PaystackInvalidRequest",
    "BrevoBadKey",
    "BrevoRejected",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_kinds_have_one_word_each() {
        for &kind in <EmailKind as strum::VariantArray>::VARIANTS {
            assert_eq!(kind.as_str().parse::<EmailKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
    }
}
