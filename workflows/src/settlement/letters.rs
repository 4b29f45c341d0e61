//! Settlement's letters: the emails a sale sends (one [`EmailJob`] each) and
//! the activities that send them, on the queue off the close's critical path.

use temporalio_sdk::{ActivityOptions, WorkflowContext};
use uuid::Uuid;

use super::state::{Sale, SettlementHost, note_problem};
use crate::{
    contract::settlement::{BidderEmail, EmailJob, EmailKind, InvoiceRef, SettlementActivities},
    names::settlement_task_queue,
    steps::{bulk_options, external_options, failure_summary},
};

/// An email of `kind` to `recipient_id` about the sale's auction.
pub(super) fn email(sale: &Sale, kind: EmailKind, recipient_id: Uuid, occasion: u64) -> EmailJob {
    EmailJob {
        kind,
        auction_id: sale.auction_id,
        recipient_id,
        occasion,
        invoice_id: None,
        pay_link: None,
        amount: None,
        card_pending: false,
    }
}

/// An email to the buyer of offer `round` about its invoice.
pub(super) fn email_about(
    sale: &Sale,
    kind: EmailKind,
    buyer: Uuid,
    round: u32,
    invoice: &InvoiceRef,
) -> EmailJob {
    let mut job = email(sale, kind, buyer, u64::from(round));
    job.invoice_id = Some(invoice.invoice_id);
    job.amount = Some(invoice.total);
    job
}

/// The buyer's receipt and the seller's "sale completed" for `invoice`.
pub(super) fn receipts(
    sale: &Sale,
    invoice: &InvoiceRef,
    buyer: Uuid,
    round: u32,
) -> [EmailJob; 2] {
    let mut receipt = email_about(sale, EmailKind::Receipt, buyer, round, invoice);
    receipt.amount = Some(invoice.total);
    let mut completed = email(
        sale,
        EmailKind::SaleCompleted,
        sale.seller_id,
        u64::from(round),
    );
    completed.invoice_id = Some(invoice.invoice_id);
    completed.amount = Some(invoice.total);
    [receipt, completed]
}

/// The settlement queue (few slots on every worker, so closes, invoices and
/// charges go first when many lots end together), or `None` for runs from
/// before release 0.2.
fn settlement_queue<H: SettlementHost>(ctx: &WorkflowContext<H>) -> Option<String> {
    ctx.state(|s| s.release_0_2())
        .then(|| settlement_task_queue(ctx.task_queue()))
}

/// `options` for an email: on the off-path queue (see [`off_path_queue`]).
/// Runs from before the settlement queue keep the queue unnamed, as they
/// were recorded (naming the auction's queue would change their commands).
fn email_options<H: SettlementHost>(
    ctx: &WorkflowContext<H>,
    mut options: ActivityOptions,
) -> ActivityOptions {
    if let Some(queue) = settlement_queue(ctx) {
        options.task_queue = Some(queue);
    }
    options
}

/// Sends (or records) one email. A permanent failure is visible in the
/// history and noted for the `settlement_problem` query; it never blocks
/// the sale.
pub(super) async fn send<H: SettlementHost>(ctx: &WorkflowContext<H>, job: EmailJob) {
    if let Err(err) = ctx
        .execute_activity(
            SettlementActivities::send_email,
            job,
            email_options(ctx, external_options()),
        )
        .await
    {
        note_problem(ctx, format!("email: {}", failure_summary(&err)));
    }
}

/// Several emails from one activity (each recorded once, as [`send`]).
pub(super) async fn send_all<H: SettlementHost>(ctx: &WorkflowContext<H>, jobs: Vec<EmailJob>) {
    if let Err(err) = ctx
        .execute_activity(
            SettlementActivities::send_emails,
            jobs,
            email_options(ctx, external_options()),
        )
        .await
    {
        note_problem(ctx, format!("email: {}", failure_summary(&err)));
    }
}

/// One email of `kind` to every bidder but `except`, from one activity
/// (any number of bidders; a failure is noted, never blocks the sale).
pub(super) async fn email_bidders<H: SettlementHost>(
    ctx: &WorkflowContext<H>,
    sale: &Sale,
    kind: EmailKind,
    except: Vec<Uuid>,
) {
    let request = BidderEmail {
        auction_id: sale.auction_id,
        kind,
        occasion: 1,
        except,
    };
    if let Err(err) = ctx
        .execute_activity(
            SettlementActivities::email_bidders,
            request,
            email_options(ctx, bulk_options()),
        )
        .await
    {
        note_problem(ctx, format!("email: {}", failure_summary(&err)));
    }
}
