//! Getting an invoice paid through Paystack: charge a stored card or make a
//! pay link; verify a payment (amount, currency, status) and keep the card.
//! Shared by the settlement activities and the API's `POST /invoices/{id}/pay`.

use gavel_workflows::settlement::{PaymentNotice, PaymentSource, PaymentStart, Verification};
use serde_json::json;
use sqlx::PgPool;
use temporalio_sdk::activities::ActivityError;
use uuid::Uuid;

use super::{
    database, failure,
    invoices::{self, Invoice, PaymentRecord},
    provider_failure,
};
use crate::{
    paystack::{
        Authorization, ChargeRequest, InitializeRequest, PaymentCheck, Paystack, PaystackError,
        Transaction,
    },
    provider::ProviderError,
};

async fn invoice(db: &PgPool, id: Uuid) -> Result<Invoice, ActivityError> {
    invoices::find(db, id)
        .await
        .map_err(database)?
        .ok_or_else(|| failure("UnknownInvoice", format!("no invoice {id}"), true))
}

async fn buyer_email(db: &PgPool, user_id: Uuid) -> Result<String, ActivityError> {
    let row: Option<(String,)> = sqlx::query_as("SELECT email FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(db)
        .await
        .map_err(database)?;
    row.map(|(email,)| email)
        .ok_or_else(|| failure("UnknownRecipient", format!("no user {user_id}"), true))
}

/// A reusable card of `user_id`, newest first.
struct StoredCard {
    authorization_code: String,
    email: String,
}

async fn stored_card(db: &PgPool, user_id: Uuid) -> Result<Option<StoredCard>, ActivityError> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT authorization_code, email FROM payment_authorizations
         WHERE user_id = $1 ORDER BY updated_at DESC LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(db)
    .await
    .map_err(database)?;
    Ok(row.map(|(authorization_code, email)| StoredCard {
        authorization_code,
        email,
    }))
}

async fn keep_card(
    db: &PgPool,
    user_id: Uuid,
    card: &Authorization,
    email: &str,
) -> Result<(), ActivityError> {
    let (Some(code), Some(signature)) = (card.reusable_code(), card.signature.as_deref()) else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO payment_authorizations (user_id, signature, authorization_code, email, last4, brand)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (user_id, signature) DO UPDATE SET authorization_code = EXCLUDED.authorization_code,
             email = EXCLUDED.email, updated_at = now()",
    )
    .bind(user_id)
    .bind(signature)
    .bind(code)
    .bind(email)
    .bind(card.last4.as_deref())
    .bind(card.brand.as_deref())
    .execute(db)
    .await
    .map_err(database)?;
    Ok(())
}

/// Records a verified Paystack transaction against `invoice`; `false` if
/// the invoice was void by then.
async fn record_paid(
    db: &PgPool,
    invoice: &Invoice,
    transaction: &Transaction,
    fallback_email: &str,
) -> Result<bool, ActivityError> {
    let paid = invoices::mark_paid(
        db,
        invoice.id,
        &PaymentRecord {
            reference: transaction
                .reference
                .as_deref()
                .unwrap_or(&invoice.reference),
            paystack_id: transaction.id,
            amount: invoice.total,
            currency: &invoice.currency,
            channel: "paystack",
        },
    )
    .await
    .map_err(database)?;
    if let Some(card) = &transaction.authorization {
        let email = transaction
            .customer
            .as_ref()
            .and_then(|c| c.email.as_deref())
            .unwrap_or(fallback_email);
        keep_card(db, invoice.buyer_id, card, email).await?;
    }
    Ok(paid)
}

/// Charges the buyer's stored card, else makes (or reuses) a pay link.
pub async fn start(
    db: &PgPool,
    paystack: &Paystack,
    invoice_id: Uuid,
) -> Result<PaymentStart, ActivityError> {
    let mut invoice = invoice(db, invoice_id).await?;
    match invoice.status.as_str() {
        "paid" => return Ok(PaymentStart::Charged),
        "void" => return Err(failure("InvoiceVoid", "the invoice is void".into(), true)),
        _ => {}
    }
    let email = buyer_email(db, invoice.buyer_id).await?;
    if invoice.authorization_url.is_none()
        && let Some(card) = stored_card(db, invoice.buyer_id).await?
    {
        match charge(db, paystack, &invoice, &card, &email).await? {
            Charge::Paid => return Ok(PaymentStart::Charged),
            // Not final yet: Paystack's charge.success (or a verify) decides.
            // A pay link now could take the money twice.
            Charge::Pending => return Ok(PaymentStart::CardPending),
            Charge::Refused => {}
        }
        // The charge used the reference; the pay link needs a fresh one.
        let fresh = format!("{}.link", invoice.reference);
        invoices::use_reference(db, invoice.id, &fresh)
            .await
            .map_err(database)?;
        invoice.reference = fresh;
    }
    pay_link(db, paystack, &invoice, &email).await
}

/// What charging a stored card came to.
enum Charge {
    /// Paid, amount and currency verified.
    Paid,
    /// Accepted but not final (`pending`, `processing`, `queued`, `ongoing`).
    Pending,
    /// Declined, paused for 2FA, or refused: fall back to a pay link.
    Refused,
}

const NOT_FINAL: [&str; 4] = ["pending", "processing", "queued", "ongoing"];

async fn charge(
    db: &PgPool,
    paystack: &Paystack,
    invoice: &Invoice,
    card: &StoredCard,
    email: &str,
) -> Result<Charge, ActivityError> {
    let request = ChargeRequest {
        email: &card.email,
        amount: invoice.total,
        currency: &invoice.currency,
        authorization_code: &card.authorization_code,
        reference: &invoice.reference,
        metadata: json!({ "invoice_id": invoice.id, "auction_id": invoice.auction_id }).to_string(),
    };
    let transaction = match paystack.charge_authorization(&request).await {
        Ok(transaction) => Some(transaction),
        // An earlier attempt landed: its outcome is what verify says.
        Err(PaystackError::DuplicateReference) => paystack
            .verify(&invoice.reference)
            .await
            .map_err(provider_failure)?,
        Err(err) if err.is_retryable() => return Err(provider_failure(err)),
        Err(err) => {
            tracing::warn!(invoice = %invoice.number, "stored card refused: {err}; sending a pay link");
            None
        }
    };
    match transaction {
        Some(t) if t.check(invoice.total, &invoice.currency) == PaymentCheck::Paid => {
            if record_paid(db, invoice, &t, email).await? {
                Ok(Charge::Paid)
            } else {
                Ok(Charge::Refused)
            }
        }
        Some(t) if t.status.as_deref().is_some_and(|s| NOT_FINAL.contains(&s)) => {
            Ok(Charge::Pending)
        }
        _ => Ok(Charge::Refused),
    }
}

/// The invoice's pay link: the stored one, or a new Paystack checkout.
pub async fn pay_link(
    db: &PgPool,
    paystack: &Paystack,
    invoice: &Invoice,
    email: &str,
) -> Result<PaymentStart, ActivityError> {
    if let Some(url) = &invoice.authorization_url {
        return Ok(PaymentStart::PayLink {
            authorization_url: url.clone(),
        });
    }
    let mut reference = invoice.reference.clone();
    for _ in 0..2 {
        let request = InitializeRequest {
            email,
            amount: invoice.total,
            currency: &invoice.currency,
            reference: &reference,
            callback_url: None,
            metadata: json!({ "invoice_id": invoice.id, "auction_id": invoice.auction_id,
                              "invoice_number": invoice.number }),
        };
        match paystack.initialize(&request).await {
            Ok(checkout) => {
                invoices::set_pay_link(db, invoice.id, &checkout.authorization_url)
                    .await
                    .map_err(database)?;
                return Ok(PaymentStart::PayLink {
                    authorization_url: checkout.authorization_url,
                });
            }
            Err(PaystackError::DuplicateReference) => {
                // Created by an attempt whose answer was lost: paid already,
                // or a checkout we never saw the link of.
                if let Some(t) = paystack
                    .verify(&reference)
                    .await
                    .map_err(provider_failure)?
                    && t.check(invoice.total, &invoice.currency) == PaymentCheck::Paid
                {
                    record_paid(db, invoice, &t, email).await?;
                    return Ok(PaymentStart::Charged);
                }
                let fresh = format!("{reference}.r");
                invoices::use_reference(db, invoice.id, &fresh)
                    .await
                    .map_err(database)?;
                reference = fresh;
            }
            Err(err) => return Err(provider_failure(err)),
        }
    }
    Err(failure(
        "PaystackDuplicateReference",
        "Paystack keeps reporting the reference as used".into(),
        false,
    ))
}

/// Checks a payment notice; on success the invoice is paid (once).
pub async fn verify(
    db: &PgPool,
    paystack: Option<&Paystack>,
    notice: &PaymentNotice,
) -> Result<Verification, ActivityError> {
    let invoice = invoice(db, notice.invoice_id).await?;
    if invoice.status == "paid" {
        return Ok(Verification::Paid);
    }
    let not_paid = |reason: &str| {
        Ok(Verification::NotPaid {
            reason: reason.to_owned(),
        })
    };
    match &notice.source {
        PaymentSource::Offline { admin_id } => {
            let reference = format!("offline-{admin_id}");
            let paid = invoices::mark_paid(
                db,
                invoice.id,
                &PaymentRecord {
                    reference: &reference,
                    paystack_id: None,
                    amount: invoice.total,
                    currency: &invoice.currency,
                    channel: "offline",
                },
            )
            .await
            .map_err(database)?;
            if paid {
                Ok(Verification::Paid)
            } else {
                not_paid("the invoice is void")
            }
        }
        PaymentSource::Paystack { reference } => {
            let Some(paystack) = paystack else {
                return not_paid("Paystack is not configured");
            };
            if !invoices::has_reference(db, invoice.id, reference)
                .await
                .map_err(database)?
            {
                return not_paid("the reference is not this invoice's");
            }
            let Some(transaction) = paystack.verify(reference).await.map_err(provider_failure)?
            else {
                return not_paid("Paystack does not know the reference");
            };
            match transaction.check(invoice.total, &invoice.currency) {
                PaymentCheck::Paid => {
                    let email = buyer_email(db, invoice.buyer_id).await?;
                    if record_paid(db, &invoice, &transaction, &email).await? {
                        Ok(Verification::Paid)
                    } else {
                        not_paid("the invoice is void")
                    }
                }
                PaymentCheck::NotPaid { status } => not_paid(&format!("transaction is {status}")),
                PaymentCheck::Mismatch { amount, currency } => not_paid(&format!(
                    "paid {amount:?} {currency:?}, invoice is {} {}",
                    invoice.total, invoice.currency
                )),
            }
        }
    }
}
