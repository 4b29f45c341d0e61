//! The settlement activities: invoices, Paystack charges and verification,
//! voiding with a strike, and lifecycle emails. Each is idempotent by the
//! invoice or email key the workflow passes.

pub mod invoices;
pub mod payments;

use std::sync::Arc;

use gavel_workflows::settlement::{
    CreateInvoiceDefinition, EmailJob, InvoiceRef, InvoiceRequest, PaymentNotice, PaymentStart,
    SendEmailDefinition, StartPaymentDefinition, Verification, VerifyPaymentDefinition,
    VoidInvoiceDefinition,
};
use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::{
    ApplicationFailure,
    activities::{ActivityContext, ActivityError},
};
use uuid::Uuid;

use crate::{
    mailer::{MailError, Mailer},
    paystack::Paystack,
    provider::ProviderError,
};

/// Shared clients for the settlement activities.
pub struct Settlement {
    db: PgPool,
    paystack: Option<Paystack>,
    mailer: Mailer,
}

impl Settlement {
    pub fn new(db: PgPool, paystack: Option<Paystack>, mailer: Mailer) -> Self {
        if paystack.is_none() {
            tracing::warn!("PAYSTACK_SECRET_KEY is not set: winners can only pay offline");
        }
        Self {
            db,
            paystack,
            mailer,
        }
    }
}

/// A failure with a readable type; permanent ones are not retried, and a
/// rate limit says when to try again.
fn failure_after(
    type_name: &str,
    message: String,
    permanent: bool,
    retry_after: Option<std::time::Duration>,
) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(message)
            .type_name(type_name.to_owned())
            .non_retryable(permanent)
            .maybe_next_retry_delay(retry_after)
            .build(),
    )
}

fn failure(type_name: &str, message: String, permanent: bool) -> ActivityError {
    failure_after(type_name, message, permanent, None)
}

/// A Paystack or Brevo failure with its type. Never use `?` on one: the
/// generic conversion would make every failure retryable.
fn provider_failure(err: impl ProviderError) -> ActivityError {
    failure_after(
        err.failure_type(),
        err.to_string(),
        !err.is_retryable(),
        err.retry_after(),
    )
}

fn database(err: sqlx::Error) -> ActivityError {
    failure("DatabaseUnavailable", err.to_string(), false)
}

fn mail(err: MailError) -> ActivityError {
    match err {
        MailError::Database(err) => database(err),
        MailError::Brevo(err) => provider_failure(err),
        err @ MailError::UnknownRecipient(_) => failure("UnknownRecipient", err.to_string(), true),
    }
}

#[activities]
impl Settlement {
    #[activity(definition = CreateInvoiceDefinition)]
    pub async fn create_invoice(
        self: Arc<Self>,
        _ctx: ActivityContext,
        request: InvoiceRequest,
    ) -> Result<InvoiceRef, ActivityError> {
        invoices::create(&self.db, &request).await.map_err(database)
    }

    #[activity(definition = StartPaymentDefinition)]
    pub async fn start_payment(
        self: Arc<Self>,
        _ctx: ActivityContext,
        invoice_id: Uuid,
    ) -> Result<PaymentStart, ActivityError> {
        let Some(paystack) = &self.paystack else {
            return Ok(PaymentStart::OfflineOnly);
        };
        payments::start(&self.db, paystack, invoice_id).await
    }

    #[activity(definition = VerifyPaymentDefinition)]
    pub async fn verify_payment(
        self: Arc<Self>,
        _ctx: ActivityContext,
        notice: PaymentNotice,
    ) -> Result<Verification, ActivityError> {
        payments::verify(&self.db, self.paystack.as_ref(), &notice).await
    }

    #[activity(definition = VoidInvoiceDefinition)]
    pub async fn void_invoice(
        self: Arc<Self>,
        _ctx: ActivityContext,
        invoice_id: Uuid,
    ) -> Result<(), ActivityError> {
        invoices::void(&self.db, invoice_id).await.map_err(database)
    }

    #[activity(definition = SendEmailDefinition)]
    pub async fn send_email(
        self: Arc<Self>,
        _ctx: ActivityContext,
        job: EmailJob,
    ) -> Result<(), ActivityError> {
        self.mailer.deliver(&job).await.map_err(mail)
    }
}
