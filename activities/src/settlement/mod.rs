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
    brevo::BrevoError,
    mailer::{MailError, Mailer},
    paystack::{Paystack, PaystackError},
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

/// A failure with a readable type; permanent ones are not retried.
fn failure(type_name: &str, message: String, permanent: bool) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(message)
            .type_name(type_name.to_owned())
            .non_retryable(permanent)
            .build(),
    )
}

/// A Paystack failure with its type; permanent ones (bad key, invalid
/// request) are not retried. Never use `?` on a `PaystackError`: the generic
/// conversion would make every failure retryable.
fn paystack_failure(err: PaystackError) -> ActivityError {
    {
        let retry_delay = match &err {
            PaystackError::RateLimited { retry_after } => *retry_after,
            _ => None,
        };
        ActivityError::application(
            ApplicationFailure::builder(err.to_string())
                .type_name(err.failure_type().to_owned())
                .non_retryable(!err.is_retryable())
                .maybe_next_retry_delay(retry_delay)
                .build(),
        )
    }
}

fn database(err: sqlx::Error) -> ActivityError {
    failure("DatabaseUnavailable", err.to_string(), false)
}

fn mail(err: MailError) -> ActivityError {
    match err {
        MailError::Database(err) => database(err),
        MailError::Brevo(err) => {
            let delay = match &err {
                BrevoError::RateLimited { retry_after } => *retry_after,
                _ => None,
            };
            ActivityError::application(
                ApplicationFailure::builder(err.to_string())
                    .type_name(err.failure_type().to_owned())
                    .non_retryable(!err.is_retryable())
                    .maybe_next_retry_delay(delay)
                    .build(),
            )
        }
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
