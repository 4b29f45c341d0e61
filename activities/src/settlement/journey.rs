//! The activities of a sale's journey after payment: its row (open, read,
//! deadlines), the payout's amounts, and the seller's transfer. A transfer
//! attempt's reference is written before Paystack is asked and is derived
//! from the invoice and the attempt, so however often an attempt is retried
//! (a crash, a timeout, Paystack down) Paystack sees one reference and
//! moves the money at most once; a "duplicate reference" answer is read as
//! "it exists", and verified.

use std::sync::Arc;

use gavel_paystack::{
    Paystack,
    provider::ProviderError,
    transfers::{Initiated, Transfer, TransferRefusal, TransferRequest, TransferStatus},
};
use gavel_store::sales::{self, Prepared, TransferRow};
use gavel_workflows::contract::sale::{
    CheckTransferDefinition, DeadlineReached, NoteDeadlinesDefinition, OpenSale,
    OpenSaleDefinition, PayoutFailed, PayoutFailedDefinition, PayoutPlan, PreparePayoutDefinition,
    SaleDeadlineDefinition, SaleDeadlines, SaleStateDefinition, SaleView, SendTransferDefinition,
    TransferAttempt, TransferOutcome,
};
use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use uuid::Uuid;

use super::{database, failure, heartbeating, provider_failure};

/// The journey's activities: the database, and Paystack for transfers.
pub struct Journey {
    db: PgPool,
    paystack: Option<Paystack>,
}

impl Journey {
    pub fn new(db: PgPool, paystack: Option<Paystack>) -> Self {
        Self { db, paystack }
    }

    fn paystack(&self) -> Result<&Paystack, ActivityError> {
        self.paystack.as_ref().ok_or_else(|| {
            failure(
                "PaystackNotConfigured",
                "no PAYSTACK_SECRET_KEY: payouts cannot be sent".into(),
                false,
            )
        })
    }

    /// Sends the attempt's transfer, or finds the one already sent.
    async fn send(&self, row: &TransferRow) -> Result<TransferOutcome, ActivityError> {
        let paystack = self.paystack()?;
        if row.status != "new" {
            return self.verify(row).await;
        }
        let balance = paystack
            .balance(&row.currency)
            .await
            .map_err(provider_failure)?;
        let held = sales::held_for_others(&self.db, row.invoice_id)
            .await
            .map_err(database)?;
        if balance - held < row.amount {
            return self.short_balance(row, balance, held).await;
        }
        let reason = format!("Gavel payout {}", row.reference);
        let request = TransferRequest {
            source: "balance",
            amount: row.amount,
            recipient: &row.recipient_code,
            reference: &row.reference,
            reason: &reason,
            currency: &row.currency,
        };
        match paystack.initiate_transfer(&request).await {
            // Paystack's first word is recorded only after verifying it.
            Ok(Initiated::Created(_))
            | Ok(Initiated::NotCreated(TransferRefusal::DuplicateReference)) => {
                self.verify(row).await
            }
            Ok(Initiated::NotCreated(TransferRefusal::InsufficientBalance)) => {
                self.short_balance(row, balance, held).await
            }
            Ok(Initiated::NotCreated(TransferRefusal::Refused(message))) => {
                tracing::warn!(reference = %row.reference, %message, "Paystack refused a payout");
                Ok(TransferOutcome::Refused { message })
            }
            // The request may or may not have arrived: look before the retry
            // (which sends the same reference anyway).
            Err(err) if err.is_retryable() => {
                match paystack.verify_transfer(&row.reference).await {
                    Ok(Some(found)) => self.record(row, &found).await,
                    _ => Err(provider_failure(err)),
                }
            }
            Err(err) => Err(provider_failure(err)),
        }
    }

    /// Where Paystack has the attempt's transfer, recorded.
    async fn verify(&self, row: &TransferRow) -> Result<TransferOutcome, ActivityError> {
        let paystack = self.paystack()?;
        match paystack.verify_transfer(&row.reference).await {
            Ok(Some(found)) => self.record(row, &found).await,
            // Paystack never created it (the request failed validation or
            // never arrived): sending it again is safe with this reference.
            Ok(None) if matches!(row.status.as_str(), "new" | "pending" | "received") => {
                sales::record_transfer(&self.db, &row.reference, "new", None, None)
                    .await
                    .map_err(database)?;
                let again = TransferRow {
                    status: "new".into(),
                    ..row.clone()
                };
                Box::pin(self.send(&again)).await
            }
            Ok(None) => Ok(outcome_of(&TransferStatus::of(&row.status))),
            Err(err) => Err(provider_failure(err)),
        }
    }

    /// Records a verified transfer, if it is the one we asked for.
    async fn record(
        &self,
        row: &TransferRow,
        found: &Transfer,
    ) -> Result<TransferOutcome, ActivityError> {
        let matches = found.amount == Some(row.amount)
            && found
                .currency
                .as_deref()
                .is_none_or(|c| c.eq_ignore_ascii_case(&row.currency))
            && found
                .recipient_code()
                .is_none_or(|code| code == row.recipient_code);
        if !matches {
            tracing::error!(
                reference = %row.reference,
                "Paystack's transfer does not match the payout (amount, currency or recipient)"
            );
            return Err(failure(
                "TransferMismatch",
                format!(
                    "transfer {} at Paystack is not the payout asked for: an admin must look",
                    row.reference
                ),
                true,
            ));
        }
        let status = found.status();
        sales::record_transfer(
            &self.db,
            &row.reference,
            status.as_str(),
            found.transfer_code.as_deref(),
            found.fee_charged,
        )
        .await
        .map_err(database)?;
        Ok(outcome_of(&status))
    }

    async fn short_balance(
        &self,
        row: &TransferRow,
        balance: i64,
        held: i64,
    ) -> Result<TransferOutcome, ActivityError> {
        tracing::warn!(
            reference = %row.reference,
            balance, held_for_other_sales = held, payout = row.amount,
            "the Paystack balance cannot cover this payout and the money held for other sales"
        );
        let waiting = sales::hold_for_balance(&self.db, row.invoice_id)
            .await
            .map_err(database)?;
        metrics::gauge!("gavel_payouts_waiting_for_balance").set(waiting as f64);
        Ok(TransferOutcome::ShortBalance)
    }
}

/// What a transfer status means for the workflow.
fn outcome_of(status: &TransferStatus) -> TransferOutcome {
    match status {
        TransferStatus::Success => TransferOutcome::Paid,
        TransferStatus::Otp => TransferOutcome::Otp,
        dead if dead.is_dead() => TransferOutcome::Failed {
            status: dead.as_str().to_owned(),
        },
        _ => TransferOutcome::Pending,
    }
}

#[activities]
impl Journey {
    #[activity(definition = OpenSaleDefinition)]
    pub async fn open_sale(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: OpenSale,
    ) -> Result<SaleView, ActivityError> {
        sales::open(&self.db, &input).await.map_err(database)
    }

    #[activity(definition = SaleStateDefinition)]
    pub async fn sale_state(
        self: Arc<Self>,
        _ctx: ActivityContext,
        invoice_id: Uuid,
    ) -> Result<SaleView, ActivityError> {
        sales::view(&self.db, invoice_id).await.map_err(database)
    }

    #[activity(definition = SaleDeadlineDefinition)]
    pub async fn sale_deadline(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: DeadlineReached,
    ) -> Result<SaleView, ActivityError> {
        sales::deadline(&self.db, input.invoice_id, input.deadline)
            .await
            .map_err(database)
    }

    #[activity(definition = NoteDeadlinesDefinition)]
    pub async fn note_deadlines(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: SaleDeadlines,
    ) -> Result<(), ActivityError> {
        sales::note_deadlines(
            &self.db,
            input.invoice_id,
            input.receipt_assumed_at,
            input.claim_answer_by,
            input.claims_until,
        )
        .await
        .map_err(database)
    }

    #[activity(definition = PreparePayoutDefinition)]
    pub async fn prepare_payout(
        self: Arc<Self>,
        _ctx: ActivityContext,
        invoice_id: Uuid,
    ) -> Result<PayoutPlan, ActivityError> {
        Ok(
            match sales::prepare_payout(&self.db, invoice_id)
                .await
                .map_err(database)?
            {
                Prepared::Ready { amount } => PayoutPlan::Ready { amount },
                Prepared::Held { reason } => PayoutPlan::Held {
                    reason: reason.to_owned(),
                },
                Prepared::Nothing => PayoutPlan::Nothing,
            },
        )
    }

    #[activity(definition = SendTransferDefinition)]
    pub async fn send_transfer(
        self: Arc<Self>,
        ctx: ActivityContext,
        attempt: TransferAttempt,
    ) -> Result<TransferOutcome, ActivityError> {
        let row = sales::begin_transfer(&self.db, attempt.invoice_id, attempt.attempt)
            .await
            .map_err(database)?;
        let Some(row) = row else {
            return Ok(TransferOutcome::Refused {
                message: "the payout is not scheduled or the seller has no payout account".into(),
            });
        };
        heartbeating(&ctx, self.send(&row)).await
    }

    #[activity(definition = CheckTransferDefinition)]
    pub async fn check_transfer(
        self: Arc<Self>,
        ctx: ActivityContext,
        attempt: TransferAttempt,
    ) -> Result<TransferOutcome, ActivityError> {
        let reference = gavel_workflows::contract::sale::transfer_reference(
            attempt.invoice_id,
            attempt.attempt,
        );
        let Some(row) = sales::transfer(&self.db, &reference)
            .await
            .map_err(database)?
        else {
            return Ok(TransferOutcome::Refused {
                message: format!("no transfer {reference} was recorded"),
            });
        };
        heartbeating(&ctx, self.verify(&row)).await
    }

    #[activity(definition = PayoutFailedDefinition)]
    pub async fn payout_failed(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: PayoutFailed,
    ) -> Result<(), ActivityError> {
        tracing::warn!(invoice = %input.invoice_id, why = %input.why, "a payout failed: an admin must act");
        sales::payout_failed(&self.db, input.invoice_id, &input.why)
            .await
            .map_err(database)
    }
}
