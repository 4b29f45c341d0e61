//! Payout transfers as Paystack reports them and as admins finish them:
//! a `transfer.*` webhook is confirmed with Paystack (its verified status is
//! what is recorded, and only for the transfer row it matches in amount,
//! currency and recipient), and an admin's OTP finalizes a transfer waiting
//! in `otp`. Each recorded change nudges the sale's workflow, which reads the
//! row again and decides what follows (paid, another attempt, …).

use gavel_paystack::{
    Paystack, PaystackError,
    transfers::{Transfer, TransferStatus},
};
use gavel_store::{
    payout_admin,
    sales::{self, TransferRow},
};
use uuid::Uuid;

use crate::{auctions::gateway, state::AppState};

/// Why a transfer event or an admin's OTP was not applied.
#[derive(Debug, thiserror::Error)]
pub enum PayoutError {
    /// No payout has this number.
    #[error("no such payout")]
    NotFound,
    /// The payout's latest transfer does not wait for an OTP.
    #[error("this payout's transfer is not waiting for an OTP")]
    NotAwaitingOtp,
    /// Not 4 to 8 digits.
    #[error("the OTP is 4 to 8 digits")]
    InvalidOtp,
    /// Paystack refused the OTP (the transfer is recorded as Paystack has
    /// it after, usually `failed`).
    #[error("Paystack refused the OTP: {0}")]
    OtpRefused(String),
    /// No Paystack key on this server.
    #[error("PAYSTACK_SECRET_KEY is not set on this server")]
    NotConfigured,
    #[error("Paystack is unavailable: {0}")]
    Paystack(PaystackError),
    #[error("Temporal is unavailable: {0}")]
    Unavailable(anyhow::Error),
    #[error(transparent)]
    Database(#[from] gavel_store::StoreError),
}

/// What a `transfer.*` event came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferReport {
    /// Recorded with Paystack's verified status (the row as it is after).
    Recorded(TransferRow),
    /// No transfer of ours has this reference: stored only.
    Unknown,
    /// Paystack has no transfer with this reference: not recorded.
    NotOnPaystack,
    /// Paystack's transfer is not the one we asked for (amount, currency
    /// or recipient): not recorded.
    Mismatch,
}

fn paystack(state: &AppState) -> Result<&Paystack, PayoutError> {
    state
        .config
        .paystack
        .as_ref()
        .ok_or(PayoutError::NotConfigured)
}

/// Whether Paystack's transfer is the one the row asked for.
fn matches(row: &TransferRow, transfer: &Transfer) -> bool {
    transfer.amount == Some(row.amount)
        && transfer
            .currency
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(&row.currency))
        && transfer.recipient_code() == Some(row.recipient_code.as_str())
}

/// Asks Paystack for the row's transfer and records its word when it is
/// the row's transfer; then nudges the sale.
async fn confirm(
    state: &AppState,
    paystack: &Paystack,
    row: &TransferRow,
    why: &str,
) -> Result<TransferReport, PayoutError> {
    let Some(verified) = paystack
        .verify_transfer(&row.reference)
        .await
        .map_err(PayoutError::Paystack)?
    else {
        tracing::error!(reference = %row.reference, invoice_id = %row.invoice_id,
            "Paystack has no transfer with our reference; nothing recorded");
        return Ok(TransferReport::NotOnPaystack);
    };
    if !matches(row, &verified) {
        tracing::error!(
            reference = %row.reference, invoice_id = %row.invoice_id,
            expected_amount = row.amount, expected_currency = %row.currency,
            expected_recipient = %row.recipient_code,
            amount = verified.amount, currency = verified.currency.as_deref(),
            recipient = verified.recipient_code(),
            "PAYOUT MISMATCH: Paystack's transfer is not the one Gavel asked for; not recorded"
        );
        metrics::counter!("gavel_payout_transfer_mismatches_total").increment(1);
        return Ok(TransferReport::Mismatch);
    }
    let status = verified.status();
    let recorded = sales::record_transfer(
        &state.db,
        &row.reference,
        status.as_str(),
        verified.transfer_code.as_deref(),
        verified.fee_charged,
    )
    .await?;
    let Some(recorded) = recorded else {
        return Ok(TransferReport::Unknown);
    };
    tracing::info!(reference = %row.reference, invoice_id = %row.invoice_id,
        status = status.as_str(), recorded = %recorded.status, "payout transfer recorded");
    gateway::nudge_sale(
        &state.temporal,
        row.invoice_id,
        &format!("transfer {why} {}", status.as_str()),
    )
    .await
    .map_err(PayoutError::Unavailable)?;
    Ok(TransferReport::Recorded(recorded))
}

/// A `transfer.success|failed|reversed` event about `reference`: confirmed
/// with Paystack (the event's own status is not trusted) and recorded.
pub async fn transfer_reported(
    state: &AppState,
    reference: &str,
) -> Result<TransferReport, PayoutError> {
    let Some(row) = sales::transfer(&state.db, reference).await? else {
        tracing::info!(%reference, "a transfer event for an unknown reference; stored only");
        return Ok(TransferReport::Unknown);
    };
    confirm(state, paystack(state)?, &row, "event").await
}

/// Whether `otp` looks like one: 4 to 8 ASCII digits.
pub fn otp_ok(otp: &str) -> bool {
    (4..=8).contains(&otp.len()) && otp.bytes().all(|b| b.is_ascii_digit())
}

/// The payout and its transfer after an admin's OTP.
#[derive(Debug, Clone)]
pub struct Finalized {
    pub payout_id: i64,
    pub invoice_id: Uuid,
    pub payout_state: String,
    pub transfer: TransferRow,
}

/// An admin's OTP for payout `payout_id`'s transfer waiting in `otp`. The
/// OTP goes to Paystack and nowhere else (never logged or stored).
pub async fn finalize(
    state: &AppState,
    payout_id: i64,
    otp: &str,
) -> Result<Finalized, PayoutError> {
    if !otp_ok(otp) {
        return Err(PayoutError::InvalidOtp);
    }
    let payout = payout_admin::payout(&state.db, payout_id)
        .await?
        .ok_or(PayoutError::NotFound)?;
    let row = sales::latest_transfer(&state.db, payout.invoice_id)
        .await?
        .filter(|row| row.status == TransferStatus::Otp.as_str())
        .ok_or(PayoutError::NotAwaitingOtp)?;
    let Some(code) = row.transfer_code.as_deref() else {
        return Err(PayoutError::NotAwaitingOtp);
    };
    let paystack = paystack(state)?;
    let refused = match paystack.finalize_transfer(code, otp).await {
        Ok(_) => None,
        Err(PaystackError::Invalid { message, .. }) => Some(message),
        Err(err) => return Err(PayoutError::Paystack(err)),
    };
    // Whatever Paystack answered, its transfer is read again: a wrong OTP
    // fails it there, and that is what the row records.
    confirm(state, paystack, &row, "otp").await?;
    if let Some(message) = refused {
        tracing::warn!(payout_id, reference = %row.reference, "Paystack refused an admin's OTP");
        return Err(PayoutError::OtpRefused(message));
    }
    let payout = payout_admin::payout(&state.db, payout_id)
        .await?
        .ok_or(PayoutError::NotFound)?;
    let transfer = sales::transfer(&state.db, &row.reference)
        .await?
        .ok_or(PayoutError::NotFound)?;
    tracing::info!(payout_id, reference = %row.reference, status = %transfer.status,
        "an admin finalized a payout transfer");
    Ok(Finalized {
        payout_id,
        invoice_id: payout.invoice_id,
        payout_state: payout.payout_state,
        transfer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_otp_is_four_to_eight_digits() {
        for good in ["1234", "123456", "12345678"] {
            assert!(otp_ok(good), "{good}");
        }
        for bad in [
            "",
            "123",
            "123456789",
            "12a456",
            " 123456",
            "１２３４",
            "12-34",
        ] {
            assert!(!otp_ok(bad), "{bad}");
        }
    }
}
