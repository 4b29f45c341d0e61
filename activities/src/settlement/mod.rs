//! The settlement activities: invoices and the ledger of verified payments
//! (their tables are `gavel_store`'s), Paystack charges, confirmation, voids
//! and refunds ([`payments`]), and lifecycle emails. Each is idempotent by the
//! invoice, payment reference or email key the workflow passes.

pub mod journey;
pub mod payments;

use std::{future::Future, sync::Arc, time::Duration};

use gavel_paystack::{Paystack, provider::ProviderError};
use gavel_store::{StoreError, invoices};
use gavel_workflows::contract::settlement::{
    AcceptOffer, AcceptOfferDefinition, BeginPayment, BeginPaymentDefinition, BidderEmail,
    CloseInvoice, CloseInvoiceDefinition, ConfirmPaymentDefinition, Confirmation,
    CreateInvoiceDefinition, EmailAdminsDefinition, EmailBiddersDefinition, EmailJob,
    InvoiceClosed, InvoiceRef, InvoiceRequest, PaymentNotice, PaymentOpened,
    RefundPaymentDefinition, SendEmailDefinition, SendEmailsDefinition,
};
use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::{
    ApplicationFailure,
    activities::{ActivityContext, ActivityError},
};

use crate::mailer::{MailError, Mailer};

/// How often a long activity tells Temporal it is alive (the workflow sets
/// a heartbeat timeout a few times this).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);

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
    retry_after: Option<Duration>,
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

pub(crate) fn database(err: StoreError) -> ActivityError {
    // Data that does not fit or read back will not fit on a retry either.
    if err.is_bad_data() {
        failure(crate::BAD_DATA, err.to_string(), true)
    } else {
        failure("DatabaseUnavailable", err.to_string(), false)
    }
}

pub(crate) fn mail(err: MailError) -> ActivityError {
    match err {
        MailError::Database(err) => database(err),
        MailError::Brevo(err) => provider_failure(err),
        err @ MailError::UnknownRecipient(_) => failure("UnknownRecipient", err.to_string(), true),
        err @ (MailError::Template(_) | MailError::TooLarge(_)) => {
            failure("BadData", err.to_string(), true)
        }
    }
}

/// Runs `work` while heartbeating, so a worker that dies mid-call is noticed
/// within the heartbeat timeout and the activity runs again elsewhere.
pub(crate) async fn heartbeating<T>(ctx: &ActivityContext, work: impl Future<Output = T>) -> T {
    let beats = async {
        loop {
            let _ = ctx.record_heartbeat(()).await;
            tokio::time::sleep(HEARTBEAT_EVERY).await;
        }
    };
    tokio::select! {
        done = work => done,
        () = beats => unreachable!("heartbeats never end"),
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

    #[activity(definition = SendEmailDefinition)]
    pub async fn send_email(
        self: Arc<Self>,
        ctx: ActivityContext,
        job: EmailJob,
    ) -> Result<(), ActivityError> {
        heartbeating(&ctx, self.mailer.deliver(&job))
            .await
            .map_err(mail)
    }

    #[activity(definition = BeginPaymentDefinition)]
    pub async fn begin_payment(
        self: Arc<Self>,
        ctx: ActivityContext,
        request: BeginPayment,
    ) -> Result<PaymentOpened, ActivityError> {
        heartbeating(
            &ctx,
            payments::begin(&self.db, self.paystack.as_ref(), &request),
        )
        .await
    }

    #[activity(definition = ConfirmPaymentDefinition)]
    pub async fn confirm_payment(
        self: Arc<Self>,
        ctx: ActivityContext,
        notice: PaymentNotice,
    ) -> Result<Confirmation, ActivityError> {
        heartbeating(
            &ctx,
            payments::confirm(&self.db, self.paystack.as_ref(), &notice),
        )
        .await
    }

    #[activity(definition = CloseInvoiceDefinition)]
    pub async fn close_invoice(
        self: Arc<Self>,
        ctx: ActivityContext,
        request: CloseInvoice,
    ) -> Result<InvoiceClosed, ActivityError> {
        heartbeating(
            &ctx,
            payments::close(&self.db, self.paystack.as_ref(), &request),
        )
        .await
    }

    #[activity(definition = AcceptOfferDefinition)]
    pub async fn accept_offer(
        self: Arc<Self>,
        _ctx: ActivityContext,
        request: AcceptOffer,
    ) -> Result<(), ActivityError> {
        invoices::accept_offer(&self.db, request.invoice_id, request.due_at)
            .await
            .map_err(database)
    }

    #[activity(definition = SendEmailsDefinition)]
    pub async fn send_emails(
        self: Arc<Self>,
        ctx: ActivityContext,
        jobs: Vec<EmailJob>,
    ) -> Result<(), ActivityError> {
        heartbeating(&ctx, self.mailer.deliver_all(&jobs))
            .await
            .map(|_| ())
            .map_err(mail)
    }

    #[activity(definition = EmailBiddersDefinition)]
    pub async fn email_bidders(
        self: Arc<Self>,
        ctx: ActivityContext,
        request: BidderEmail,
    ) -> Result<u64, ActivityError> {
        heartbeating(&ctx, self.mailer.email_bidders(&request))
            .await
            .map_err(mail)
    }

    #[activity(definition = RefundPaymentDefinition)]
    pub async fn refund_payment(
        self: Arc<Self>,
        ctx: ActivityContext,
        refund_id: u64,
    ) -> Result<String, ActivityError> {
        let Some(paystack) = self.paystack.as_ref() else {
            return Err(failure(
                "PaymentsNotConfigured",
                "PAYSTACK_SECRET_KEY is not set".into(),
                false,
            ));
        };
        let id = i64::try_from(refund_id)
            .map_err(|_| failure("BadData", format!("refund id {refund_id}"), true))?;
        heartbeating(&ctx, payments::refund_one(&self.db, paystack, id))
            .await
            .map(|state| state.as_str().to_owned())
    }

    #[activity(definition = EmailAdminsDefinition)]
    pub async fn email_admins(
        self: Arc<Self>,
        ctx: ActivityContext,
        job: EmailJob,
    ) -> Result<u64, ActivityError> {
        heartbeating(&ctx, self.mailer.email_admins(&job))
            .await
            .map_err(mail)
    }
}
