//! Getting an invoice paid through Paystack, with every naira accounted for:
//! start the one live way to pay (a stored card, or a pay link), confirm a
//! payment notice (verify with Paystack, then the ledger keeps or refunds
//! the money), close an unpaid invoice (checking Paystack first, so money
//! that just arrived is never voided), and refund.
//!
//! References: an invoice starts with `gavel-<id>`; a new one (`….2`, `….3`)
//! is made only after Paystack reports the transaction on the current one
//! failed or abandoned. Every reference used stays linked to its invoice.

use gavel_workflows::contract::settlement::{
    BeginPayment, CloseInvoice, CloseReason, Confirmation, InvoiceClosed, PaymentNotice,
    PaymentOpened, PaymentSource,
};
use serde_json::json;
use sqlx::PgPool;
use temporalio_sdk::activities::ActivityError;
use uuid::Uuid;

use gavel_paystack::{
    Authorization, ChargeRequest, InitializeRequest, PaymentCheck, Paystack, PaystackError,
    Transaction, TransactionState, provider::ProviderError,
};
use gavel_store::{
    cards::{self, CardToKeep, StoredCard},
    invoices::{self, Invoice, InvoiceStatus, OfferEnd},
    ledger::{self, Accounted, Verified},
    refunds, users,
};
use gavel_workflows::ids::UserId;

use super::{database, failure, provider_failure};

async fn invoice(db: &PgPool, id: Uuid) -> Result<Invoice, ActivityError> {
    invoices::find(db, id)
        .await
        .map_err(database)?
        .ok_or_else(|| failure("UnknownInvoice", format!("no invoice {id}"), true))
}

async fn buyer_email(db: &PgPool, user_id: Uuid) -> Result<String, ActivityError> {
    users::mail_address(db, user_id)
        .await
        .map_err(database)?
        .map(|address| address.email)
        .ok_or_else(|| failure("UnknownRecipient", format!("no user {user_id}"), true))
}

async fn stored_card(db: &PgPool, user_id: Uuid) -> Result<Option<StoredCard>, ActivityError> {
    cards::to_charge(db, UserId(user_id))
        .await
        .map_err(database)
}

/// Keeps the card that paid `invoice` for its buyer's later wins, only when
/// the buyer asked to when paying (a friend's card is not theirs to keep).
async fn keep_card(
    db: &PgPool,
    invoice: &Invoice,
    card: &Authorization,
    email: &str,
) -> Result<(), ActivityError> {
    let (Some(code), Some(signature)) = (card.reusable_code(), card.signature.as_deref()) else {
        return Ok(());
    };
    let asked = invoices::save_card(db, invoice.id)
        .await
        .map_err(database)?;
    if !asked {
        return Ok(());
    }
    let user_id = invoice.buyer_id;
    cards::keep(
        db,
        UserId(user_id),
        CardToKeep {
            signature,
            authorization_code: code,
            email,
            last4: card.last4.as_deref(),
            brand: card.brand.as_deref(),
        },
    )
    .await
    .map_err(database)?;
    Ok(())
}

/// What a verified, successful transaction comes to for `invoice`: kept
/// (and its card remembered) or refunded.
async fn account_for(
    db: &PgPool,
    paystack: &Paystack,
    invoice: &Invoice,
    reference: &str,
    transaction: &Transaction,
) -> Result<Confirmation, ActivityError> {
    let (Some(amount), Some(currency)) = (transaction.amount, transaction.currency.as_deref())
    else {
        return Err(failure(
            "PaystackMalformedResponse",
            "a successful transaction without amount or currency".into(),
            false,
        ));
    };
    let paid = Verified {
        reference,
        paystack_id: transaction.id,
        amount,
        currency,
    };
    match ledger::account(db, invoice.id, &paid)
        .await
        .map_err(database)?
    {
        Accounted::Kept => {
            if let Some(card) = &transaction.authorization {
                let email = match transaction.customer.as_ref().and_then(|c| c.email.clone()) {
                    Some(email) => email,
                    None => buyer_email(db, invoice.buyer_id).await?,
                };
                keep_card(db, invoice, card, &email).await?;
            }
            Ok(Confirmation::Paid {
                invoice_id: invoice.id,
            })
        }
        Accounted::Refund {
            payment_id,
            amount,
            reason,
        } => {
            refund(db, paystack, payment_id).await?;
            tracing::warn!(invoice = %invoice.number, %reference, %reason, "payment refunded");
            Ok(Confirmation::Refunded {
                invoice_id: invoice.id,
                payer_id: invoice.buyer_id,
                payment_id: u64::try_from(payment_id).map_err(|_| {
                    failure(
                        "BadData",
                        format!("payment id {payment_id} is negative"),
                        true,
                    )
                })?,
                amount,
                reason,
            })
        }
    }
}

/// Starts the one live way to pay an open invoice, or returns the one
/// already started: a stored card (only when `stored_card` and the invoice
/// has not moved past its first reference), else a pay link.
pub async fn begin(
    db: &PgPool,
    paystack: Option<&Paystack>,
    request: &BeginPayment,
) -> Result<PaymentOpened, ActivityError> {
    let Some(paystack) = paystack else {
        return Ok(PaymentOpened::OfflineOnly);
    };
    let mut invoice = invoice(db, request.invoice_id).await?;
    match invoice.status {
        InvoiceStatus::Paid => return Ok(PaymentOpened::Charged),
        InvoiceStatus::Open => {}
        other => {
            return Err(failure(
                "InvoiceNotOpen",
                format!("the invoice is {}", other.as_str()),
                true,
            ));
        }
    }
    if let Some(url) = &invoice.authorization_url {
        return Ok(PaymentOpened::PayLink {
            authorization_url: url.clone(),
            reference: invoice.reference.clone(),
        });
    }
    let email = buyer_email(db, invoice.buyer_id).await?;
    let first_attempt = invoice.reference == invoices::first_reference(invoice.id);
    if request.stored_card
        && first_attempt
        && let Some(card) = stored_card(db, invoice.buyer_id).await?
    {
        match charge(db, paystack, &invoice, &card).await? {
            Charge::Paid => return Ok(PaymentOpened::Charged),
            // Not final yet: Paystack's charge.success (or a later verify)
            // decides. A pay link now could take the money twice.
            Charge::Pending => {
                return Ok(PaymentOpened::CardPending {
                    reference: invoice.reference,
                });
            }
            // The bank wants the buyer (2FA): Paystack's resume link pays
            // this same transaction.
            Charge::Paused { url } => {
                invoices::set_pay_link(db, invoice.id, &url)
                    .await
                    .map_err(database)?;
                return Ok(PaymentOpened::PayLink {
                    authorization_url: url,
                    reference: invoice.reference,
                });
            }
            Charge::Failed => {
                invoice.reference = fresh_reference(db, &invoice).await?;
            }
        }
    }
    pay_link(db, paystack, &invoice, &email).await
}

/// Moves the invoice to its next reference (the current transaction
/// failed or was abandoned); the old one still finds the invoice.
async fn fresh_reference(db: &PgPool, invoice: &Invoice) -> Result<String, ActivityError> {
    let used = invoices::references_used(db, invoice.id)
        .await
        .map_err(database)?;
    let fresh = format!("{}.{}", invoices::first_reference(invoice.id), used + 1);
    invoices::use_reference(db, invoice.id, &fresh)
        .await
        .map_err(database)?;
    Ok(fresh)
}

/// What charging a stored card came to.
enum Charge {
    /// Paid, amount and currency verified and recorded.
    Paid,
    /// Accepted but not final (`pending`, `processing`, `queued`, `ongoing`).
    Pending,
    /// The bank wants the customer: pay at `url` (the same transaction).
    Paused { url: String },
    /// Declined or refused: this reference will never pay.
    Failed,
}

async fn charge(
    db: &PgPool,
    paystack: &Paystack,
    invoice: &Invoice,
    card: &StoredCard,
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
        Ok(transaction) => transaction,
        // An earlier attempt landed: its outcome is what verify says.
        Err(PaystackError::DuplicateReference) => match paystack
            .verify(&invoice.reference)
            .await
            .map_err(provider_failure)?
        {
            Some(transaction) => transaction,
            None => {
                return Err(failure(
                    "PaystackUnknownReference",
                    "Paystack reports the reference used but cannot find it".into(),
                    false,
                ));
            }
        },
        Err(err) if err.is_retryable() => return Err(provider_failure(err)),
        Err(err) => {
            tracing::warn!(invoice = %invoice.number, "stored card refused: {err}; sending a pay link");
            return Ok(Charge::Failed);
        }
    };
    if transaction.paused == Some(true)
        && let Some(url) = transaction.authorization_url.clone()
    {
        return Ok(Charge::Paused { url });
    }
    match transaction.state() {
        TransactionState::Success => {
            match account_for(db, paystack, invoice, &invoice.reference, &transaction).await? {
                Confirmation::Paid { .. } => Ok(Charge::Paid),
                // Charged another amount: refunded; the buyer pays by link.
                _ => Ok(Charge::Failed),
            }
        }
        TransactionState::InFlight => Ok(Charge::Pending),
        TransactionState::Dead | TransactionState::Unknown => Ok(Charge::Failed),
    }
}

/// The invoice's pay link: a new Paystack checkout for its reference. If
/// Paystack already has a transaction there (an attempt whose answer was
/// lost), its status decides: paid, still live (wait), or dead (next
/// reference).
async fn pay_link(
    db: &PgPool,
    paystack: &Paystack,
    invoice: &Invoice,
    email: &str,
) -> Result<PaymentOpened, ActivityError> {
    let mut reference = invoice.reference.clone();
    for _ in 0..3 {
        let request = InitializeRequest {
            email,
            amount: invoice.total,
            currency: &invoice.currency,
            reference: &reference,
            callback_url: paystack.callback_url(),
            metadata: json!({ "invoice_id": invoice.id, "auction_id": invoice.auction_id,
                              "invoice_number": invoice.number }),
        };
        match paystack.initialize(&request).await {
            Ok(checkout) => {
                invoices::set_pay_link(db, invoice.id, &checkout.authorization_url)
                    .await
                    .map_err(database)?;
                return Ok(PaymentOpened::PayLink {
                    authorization_url: checkout.authorization_url,
                    reference,
                });
            }
            Err(PaystackError::DuplicateReference) => {
                let found = paystack
                    .verify(&reference)
                    .await
                    .map_err(provider_failure)?;
                let status = found.as_ref().and_then(|t| t.status.clone());
                let state = found.as_ref().map(Transaction::state);
                match (found, state) {
                    (Some(t), Some(TransactionState::Success)) => {
                        if let Confirmation::Paid { .. } =
                            account_for(db, paystack, invoice, &reference, &t).await?
                        {
                            return Ok(PaymentOpened::Charged);
                        }
                    }
                    (Some(_), Some(TransactionState::InFlight)) => {
                        return Ok(PaymentOpened::CardPending { reference });
                    }
                    (Some(_), Some(TransactionState::Dead)) => {}
                    _ => {
                        return Err(failure(
                            "PaystackUnknownReference",
                            format!(
                                "Paystack reports {reference} used but says {:?}",
                                status.unwrap_or_default()
                            ),
                            false,
                        ));
                    }
                }
                let mut current = invoice.clone();
                current.reference = reference;
                reference = fresh_reference(db, &current).await?;
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

/// Confirms a payment notice. An offline payment counts only from an admin;
/// a Paystack one is verified, and any money it finds either pays the
/// invoice or is recorded and refunded in full.
pub async fn confirm(
    db: &PgPool,
    paystack: Option<&Paystack>,
    notice: &PaymentNotice,
) -> Result<Confirmation, ActivityError> {
    let invoice = invoice(db, notice.invoice_id).await?;
    let not_paid =
        |reason: String, status: Option<String>| Ok(Confirmation::NotPaid { reason, status });
    match &notice.source {
        PaymentSource::Offline { admin_id } => {
            if !users::is_admin(db, *admin_id).await.map_err(database)? {
                tracing::warn!(invoice = %invoice.number, %admin_id,
                    "an offline payment recorded by someone who is not an admin was refused");
                return Ok(Confirmation::Refused {
                    reason: format!("{admin_id} is not an admin"),
                });
            }
            if ledger::pay_offline(db, invoice.id)
                .await
                .map_err(database)?
            {
                Ok(Confirmation::Paid {
                    invoice_id: invoice.id,
                })
            } else {
                Ok(Confirmation::Refused {
                    reason: format!("the invoice is {}", invoice.status.as_str()),
                })
            }
        }
        PaymentSource::Paystack { reference } => {
            let Some(paystack) = paystack else {
                return not_paid("Paystack is not configured".into(), None);
            };
            if !invoices::has_reference(db, invoice.id, reference)
                .await
                .map_err(database)?
            {
                return not_paid("the reference is not this invoice's".into(), None);
            }
            let Some(transaction) = paystack.verify(reference).await.map_err(provider_failure)?
            else {
                return not_paid("Paystack does not know the reference".into(), None);
            };
            match transaction.check(invoice.total, &invoice.currency) {
                PaymentCheck::NotPaid { status } => {
                    not_paid(format!("transaction is {status}"), Some(status))
                }
                PaymentCheck::Paid | PaymentCheck::Mismatch { .. } => {
                    account_for(db, paystack, &invoice, reference, &transaction).await
                }
            }
        }
    }
}

/// Gives back a payment that could not be kept, in full, once.
pub async fn refund(
    db: &PgPool,
    paystack: &Paystack,
    payment_id: i64,
) -> Result<(), ActivityError> {
    let Some(refund_id) = refunds::whole_refund_of(db, payment_id)
        .await
        .map_err(database)?
    else {
        return Err(failure(
            "UnknownRefund",
            format!("payment {payment_id} has no refund to ask for"),
            true,
        ));
    };
    refund_one(db, paystack, refund_id).await.map(|_| ())
}

/// Asks Paystack for one refund of the ledger, once, and applies its answer
/// at once (an immediate `processed` is final). Paystack has no idempotency
/// key for refunds: the request time is written first, and a retry after a
/// lost answer looks for the refund on Paystack before asking again. A
/// refusal no retry will fix fails the refund, which frees its amount.
pub async fn refund_one(
    db: &PgPool,
    paystack: &Paystack,
    refund_id: i64,
) -> Result<refunds::RefundState, ActivityError> {
    let refund = refunds::refund(db, refund_id)
        .await
        .map_err(database)?
        .ok_or_else(|| failure("UnknownRefund", format!("no refund {refund_id}"), true))?;
    // Whether Paystack accepted the request decides, not the state alone:
    // Paystack's id is there once it answered; a final refund is settled;
    // one under way that Gavel never asked for came from Paystack's events.
    // Anything else asked for before is looked for on Paystack first.
    let final_state = refund.state >= refunds::RefundState::Processed;
    let from_paystack =
        refund.state != refunds::RefundState::Requested && refund.requested_at.is_none();
    if refund.paystack_refund_id.is_some() || final_state || from_paystack {
        return Ok(refund.state);
    }
    let payment = ledger::find(db, refund.payment_id)
        .await
        .map_err(database)?
        .ok_or_else(|| {
            failure(
                "UnknownPayment",
                format!("no payment {}", refund.payment_id),
                true,
            )
        })?;
    let transaction_id = payment
        .paystack_id
        .map(u64::try_from)
        .transpose()
        .map_err(|_| {
            failure(
                "BadData",
                format!("payment {}: a negative Paystack id", payment.id),
                true,
            )
        })?;
    let moved = |id: Option<u64>, status: String| async move {
        refunds::refund_moved(db, refund_id, id, &status)
            .await
            .map_err(database)?
            .ok_or_else(|| failure("UnknownRefund", format!("no refund {refund_id}"), true))
    };
    if let Some(asked) = refund.requested_at {
        let known: Vec<u64> = refunds::refunds_of(db, &[payment.id])
            .await
            .map_err(database)?
            .iter()
            .filter_map(|r| r.paystack_refund_id.and_then(|id| u64::try_from(id).ok()))
            .collect();
        if let Some(found) = paystack
            .find_refund(
                &payment.reference,
                transaction_id,
                asked,
                Some(refund.amount),
                &known,
            )
            .await
            .map_err(provider_failure)?
        {
            let status = found.status.unwrap_or_else(|| "pending".into());
            return moved(found.id, status).await;
        }
    }
    refunds::refund_requested(db, refund_id)
        .await
        .map_err(database)?;
    // The whole payment is asked for without an amount (Paystack's default).
    let amount = (refund.amount < payment.amount).then_some(refund.amount);
    match paystack.refund(&payment.reference, amount).await {
        Ok(answer) => {
            let status = answer.status.unwrap_or_else(|| "pending".into());
            moved(answer.id, status).await
        }
        Err(err) if !err.is_retryable() => {
            tracing::warn!(
                refund = refund_id,
                payment = payment.id,
                "Paystack refused the refund: {err}"
            );
            moved(None, "failed".into()).await
        }
        Err(err) => Err(provider_failure(err)),
    }
}

/// Closes an invoice nobody paid. An offer that was declined or lapsed is
/// closed without a strike. An unpaid invoice is voided (with a strike), but
/// first Paystack is asked about its transaction: money that arrived before
/// its webhook pays the invoice instead.
pub async fn close(
    db: &PgPool,
    paystack: Option<&Paystack>,
    request: &CloseInvoice,
) -> Result<InvoiceClosed, ActivityError> {
    let end = match request.reason {
        CloseReason::Declined => OfferEnd::Declined,
        CloseReason::Expired => OfferEnd::Expired,
        CloseReason::Unpaid => return void(db, paystack, request.invoice_id).await,
    };
    invoices::close_offer(db, request.invoice_id, end)
        .await
        .map_err(database)?;
    Ok(InvoiceClosed::Closed)
}

async fn void(
    db: &PgPool,
    paystack: Option<&Paystack>,
    invoice_id: Uuid,
) -> Result<InvoiceClosed, ActivityError> {
    let invoice = invoice(db, invoice_id).await?;
    match invoice.status {
        InvoiceStatus::Paid => return Ok(InvoiceClosed::AlreadyPaid),
        InvoiceStatus::Open => {}
        _ => return Ok(InvoiceClosed::Closed),
    }
    if let Some(paystack) = paystack
        && let Some(transaction) = paystack
            .verify(&invoice.reference)
            .await
            .map_err(provider_failure)?
        && transaction.state() == TransactionState::Success
        && let Confirmation::Paid { .. } =
            account_for(db, paystack, &invoice, &invoice.reference, &transaction).await?
    {
        return Ok(InvoiceClosed::AlreadyPaid);
    }
    match invoices::void(db, invoice_id).await.map_err(database)? {
        invoices::Voided::Paid => Ok(InvoiceClosed::AlreadyPaid),
        invoices::Voided::Voided => Ok(InvoiceClosed::Closed),
    }
}
