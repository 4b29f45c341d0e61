//! `PaymentFollowUpWorkflow`: money news that arrives after an auction's
//! workflow has ended. A payment on an old pay link is confirmed (and, since
//! its invoice can no longer use it, refunded with the payer told); a
//! dispute is brought to every admin; a refund an admin asked for is asked of
//! Paystack. The API starts one per Paystack event (`payment-{reference}`,
//! `dispute-{reference}`) or per refund (`refund-{reference}.{id}`), so redeliveries and
//! retried requests join it.

use serde::{Deserialize, Serialize};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};
use uuid::Uuid;

use crate::{
    contract::settlement::{
        Confirmation, EmailJob, EmailKind, PaymentNotice, SettlementActivities,
    },
    steps::{external_options, payment_options},
};

/// What to follow up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FollowUp {
    /// A payment notice for an auction whose workflow has finished.
    LatePayment {
        auction_id: Uuid,
        notice: PaymentNotice,
    },
    /// A buyer disputed the payment of an invoice.
    Dispute {
        auction_id: Uuid,
        invoice_id: Uuid,
        amount: Option<i64>,
    },
    /// An admin asked for a refund (a row of the ledger, made by the API).
    Refund { refund_id: u64 },
}

/// The workflow id for a follow-up of `event` on Paystack `reference`.
pub fn followup_id(event: &str, reference: &str) -> String {
    format!("{event}-{reference}")
}

#[workflow]
#[derive(Default)]
pub struct PaymentFollowUpWorkflow;

#[workflow_methods]
impl PaymentFollowUpWorkflow {
    /// Returns what was done, for the operator reading the UI.
    #[run(name = "payment_followup")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: FollowUp) -> WorkflowResult<String> {
        match input {
            FollowUp::LatePayment { auction_id, notice } => {
                let confirmed = ctx
                    .execute_activity(
                        SettlementActivities::confirm_payment,
                        notice,
                        payment_options(),
                    )
                    .await?;
                if let Confirmation::Refunded {
                    invoice_id,
                    payer_id,
                    payment_id,
                    amount,
                    ..
                } = &confirmed
                {
                    let letter = EmailJob {
                        kind: EmailKind::Refund,
                        auction_id,
                        recipient_id: *payer_id,
                        occasion: *payment_id,
                        invoice_id: Some(*invoice_id),
                        pay_link: None,
                        amount: Some(*amount),
                        card_pending: false,
                    };
                    ctx.execute_activity(
                        SettlementActivities::send_email,
                        letter,
                        external_options(),
                    )
                    .await?;
                }
                Ok(format!("{confirmed:?}"))
            }
            FollowUp::Dispute {
                auction_id,
                invoice_id,
                amount,
            } => {
                let letter = EmailJob {
                    kind: EmailKind::Dispute,
                    auction_id,
                    recipient_id: Uuid::nil(),
                    occasion: 1,
                    invoice_id: Some(invoice_id),
                    pay_link: None,
                    amount,
                    card_pending: false,
                };
                let told = ctx
                    .execute_activity(
                        SettlementActivities::email_admins,
                        letter,
                        external_options(),
                    )
                    .await?;
                Ok(format!("{told} admins told of the dispute"))
            }
            FollowUp::Refund { refund_id } => {
                let state = ctx
                    .execute_activity(
                        SettlementActivities::refund_payment,
                        refund_id,
                        payment_options(),
                    )
                    .await?;
                Ok(format!("refund {refund_id} is {state}"))
            }
        }
    }
}
