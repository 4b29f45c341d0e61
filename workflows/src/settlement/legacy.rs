//! The first settlement, kept exactly as it ran so auctions recorded before
//! the money rules (binding second-chance offers, void without a Paystack
//! check) replay unchanged. New settlements run [`super::saga`]; nothing new
//! belongs here.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use temporalio_sdk::{CancellableFuture, WorkflowContext, WorkflowResult, workflows::select};
use uuid::Uuid;

use super::contract::{
    EmailJob, EmailKind, InvoiceRef, InvoiceRequest, PaymentStart, SettlementActivities,
    Verification,
};
use crate::auction::{
    AuctionStatus,
    steps::{db_options, email, external_options, now, send, set_status, until},
    workflow::AuctionWorkflow,
};

/// The no-sale announcement: the seller and every bidder, one activity each.
pub(crate) async fn no_sale(ctx: &WorkflowContext<AuctionWorkflow>) {
    let (seller, bidders) = ctx.state(|s| {
        (
            s.book.terms.seller_id,
            s.book.maxes.keys().copied().collect::<Vec<_>>(),
        )
    });
    let jobs = std::iter::once(seller)
        .chain(bidders)
        .map(|to| email(ctx, EmailKind::NoSale, to, 1))
        .collect();
    send_all(ctx, jobs).await;
}

/// Sends several emails at once (one workflow task schedules them all).
async fn send_all(ctx: &WorkflowContext<AuctionWorkflow>, jobs: Vec<EmailJob>) {
    let sends = jobs
        .into_iter()
        .map(|job| ctx.execute_activity(SettlementActivities::send_email, job, external_options()));
    for result in temporalio_sdk::workflows::join_all(sends).await {
        if let Err(err) = result {
            ctx.state_mut(|s| s.settlement_problem = Some(format!("email: {err}")));
        }
    }
}

pub(crate) async fn settle(
    ctx: &mut WorkflowContext<AuctionWorkflow>,
    winner: Uuid,
    price: i64,
) -> WorkflowResult<()> {
    let (seller, bidders, settings) = ctx.state(|s| {
        (
            s.book.terms.seller_id,
            s.book.maxes.keys().copied().collect::<Vec<_>>(),
            s.settings,
        )
    });
    let window = Duration::from_secs(settings.payment_window_secs.max(2));
    let mut offered = Vec::new();
    let mut next = Some((winner, price));
    let mut round = 0_u32;
    while let Some((buyer, amount)) = next.take() {
        round += 1;
        offered.push(buyer);
        let invoice = invoice_for(ctx, round, buyer, amount, window).await?;
        set_status(ctx, AuctionStatus::AwaitingPayment, round).await?;
        let charged = present_offer(ctx, &invoice, round, buyer).await;
        if round == 1 {
            // The winner hears first; then the seller and the others, at once.
            let mut sold = email(ctx, EmailKind::Sold, seller, 1);
            sold.amount = Some(price);
            let lost = bidders
                .iter()
                .filter(|b| **b != winner)
                .map(|b| email(ctx, EmailKind::AuctionLost, *b, 1));
            send_all(ctx, std::iter::once(sold).chain(lost).collect()).await;
        }
        if charged || await_payment(ctx, &invoice, round, buyer, window).await? {
            let mut receipt = email(ctx, EmailKind::Receipt, buyer, u64::from(round));
            receipt.invoice_id = Some(invoice.invoice_id);
            receipt.amount = Some(invoice.total);
            send(ctx, receipt).await;
            let mut completed = email(ctx, EmailKind::SaleCompleted, seller, u64::from(round));
            completed.invoice_id = Some(invoice.invoice_id);
            completed.amount = Some(invoice.total);
            send(ctx, completed).await;
            return set_status(ctx, AuctionStatus::Settled, round).await;
        }
        ctx.execute_activity(
            SettlementActivities::void_invoice,
            invoice.invoice_id,
            db_options(),
        )
        .await?;
        if round < settings.offer_rounds {
            next = ctx.state(|s| s.book.next_offer(&offered));
        }
    }
    send(ctx, email(ctx, EmailKind::Unsold, seller, u64::from(round))).await;
    set_status(ctx, AuctionStatus::Unsold, round).await
}

async fn invoice_for(
    ctx: &WorkflowContext<AuctionWorkflow>,
    round: u32,
    buyer: Uuid,
    amount: i64,
    window: Duration,
) -> WorkflowResult<InvoiceRef> {
    let due_at = now(ctx)? + chrono::Duration::from_std(window).unwrap_or_default();
    let request = ctx.state(|s| InvoiceRequest {
        auction_id: s.auction_id,
        round,
        buyer_id: buyer,
        seller_id: s.book.terms.seller_id,
        currency: s.book.terms.currency,
        amount,
        title: s.listing.title.clone(),
        due_at,
        offer: false,
    });
    Ok(ctx
        .execute_activity(SettlementActivities::create_invoice, request, db_options())
        .await?)
}

/// Charges the buyer's stored card or emails the offer with its pay link;
/// `true` when the card paid at once.
async fn present_offer(
    ctx: &WorkflowContext<AuctionWorkflow>,
    invoice: &InvoiceRef,
    round: u32,
    buyer: Uuid,
) -> bool {
    let start = match ctx
        .execute_activity(
            SettlementActivities::start_payment,
            invoice.invoice_id,
            external_options(),
        )
        .await
    {
        Ok(start) => start,
        Err(err) => {
            // The failure (e.g. `PaystackBadKey`) is in the history for the
            // operator; the buyer can still pay offline.
            ctx.state_mut(|s| s.settlement_problem = Some(format!("payment: {err}")));
            PaymentStart::OfflineOnly
        }
    };
    if start == PaymentStart::Charged {
        return true;
    }
    let kind = if round == 1 {
        EmailKind::Won
    } else {
        EmailKind::SecondChance
    };
    let mut offer = email(ctx, kind, buyer, u64::from(round));
    offer.invoice_id = Some(invoice.invoice_id);
    offer.amount = Some(invoice.total);
    match start {
        PaymentStart::PayLink { authorization_url } => offer.pay_link = Some(authorization_url),
        PaymentStart::CardPending => offer.card_pending = true,
        PaymentStart::Charged | PaymentStart::OfflineOnly => {}
    }
    send(ctx, offer).await;
    false
}

/// Waits for a verified payment of `invoice`, reminding halfway through the
/// window; `false` when the window closed unpaid.
async fn await_payment(
    ctx: &mut WorkflowContext<AuctionWorkflow>,
    invoice: &InvoiceRef,
    round: u32,
    buyer: Uuid,
    window: Duration,
) -> WorkflowResult<bool> {
    let started = now(ctx)?;
    let window = chrono::Duration::from_std(window).unwrap_or_default();
    let reminder_at = started + window / 2;
    let deadline = started + window;
    let mut reminded = false;
    // A verification that failed outright (Paystack down past every retry)
    // keeps its notice and is tried again: a paid invoice must not be voided
    // because Paystack was unreachable for a while.
    let mut verify_again_at: Option<DateTime<Utc>> = None;
    loop {
        let at = now(ctx)?;
        // At the deadline a pending notice gets one last try.
        if at >= deadline || verify_again_at.is_none_or(|again| at >= again) {
            verify_again_at = None;
            while let Some(notice) = ctx.state_mut(|s| s.take_notice_for(invoice.invoice_id)) {
                match ctx
                    .execute_activity(
                        SettlementActivities::verify_payment,
                        notice.clone(),
                        external_options(),
                    )
                    .await
                {
                    Ok(Verification::Paid) => return Ok(true),
                    Ok(Verification::NotPaid { reason }) => {
                        ctx.state_mut(|s| {
                            s.settlement_problem = Some(format!("not paid: {reason}"))
                        });
                    }
                    Err(err) => {
                        let again = now(ctx)? + chrono::Duration::minutes(5);
                        ctx.state_mut(|s| {
                            s.settlement_problem = Some(format!("verify: {err}"));
                            s.notices.insert(0, notice);
                        });
                        verify_again_at = Some(again);
                        break;
                    }
                }
            }
        }
        let at = now(ctx)?;
        if at >= deadline {
            return Ok(false);
        }
        if !reminded && at >= reminder_at {
            reminded = true;
            let mut reminder = email(ctx, EmailKind::PaymentReminder, buyer, u64::from(round));
            reminder.invoice_id = Some(invoice.invoice_id);
            reminder.amount = Some(invoice.total);
            send(ctx, reminder).await;
            continue;
        }
        let mut wake = if reminded { deadline } else { reminder_at };
        if let Some(again) = verify_again_at {
            wake = wake.min(again);
        }
        let seen = ctx.state(|s| s.notices.len());
        let timer = ctx.timer(until(at, wake));
        futures::pin_mut!(timer);
        select! {
            _ = timer => {}
            _ = ctx.wait_condition(|s| s.notices.len() > seen).fuse() => {
                timer.cancel();
                // Someone says it is paid: look now, not after the pause.
                verify_again_at = None;
            }
        }
    }
}
