//! The API's side of `AuctionWorkflow`: start it, bid, cancel and read its
//! state. Transient failures (Temporal restarting, an update rejected for
//! load, a run continuing as new) are retried briefly with the same update
//! id, so a bid is never lost or doubled; then the caller gets a 503.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use gavel_workflows::{
    auction::{AuctionWorkflow, workflow_id},
    contract::{
        alerts::AlertsChanged,
        auction::{
            AuctionInput, BatchReceipt, BatchRefused, BidBatch, CancelRefusal, CancelRequest,
            PhotoRefusal, PhotoRemoval,
        },
        settlement::PaymentNotice,
        view::{AuctionView, search_attributes_of, status_of},
    },
    followup::{FollowUp, PaymentFollowUpWorkflow},
    lenient::Lenient,
    refusal,
    sale::{SaleMoney, SaleWorkflow, sale_workflow_id},
    settlement::desk::{OfferAnswer, OfferOutcome, PayLink, PaymentRefusal, PaymentRequest},
};
use temporalio_client::{
    Client, WorkflowExecuteUpdateOptions, WorkflowIdConflictPolicy, WorkflowIdReusePolicy,
    WorkflowQueryOptions, WorkflowStartOptions,
    errors::{
        WorkflowInteractionError, WorkflowQueryError, WorkflowStartError, WorkflowUpdateError,
    },
};
use temporalio_common::{
    protos::temporal::api::failure::v1::Failure, search_attributes::SearchAttributes,
};
use tonic::Code;
use uuid::Uuid;

/// How long a request keeps retrying a transient failure before its 503.
const RETRY_FOR: Duration = Duration::from_secs(5);
/// How long a read of the live state may take before the read model answers.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a call to the workflow did not produce an answer.
#[derive(Debug)]
pub enum CallError<R> {
    /// The workflow refused with a reason of its own.
    Refused(R),
    /// No running workflow: the auction is over (or never existed).
    Gone,
    /// Temporal did not answer in time, or kept refusing for load.
    Unavailable(anyhow::Error),
}

/// Starts the auction's workflow. Starting an id that already runs (a
/// retried create) joins the existing run; one that already finished is left
/// alone.
pub async fn start(client: &Client, task_queue: &str, input: AuctionInput) -> anyhow::Result<()> {
    let status = status_of(&input.book, None, None);
    let attributes = SearchAttributes::new(search_attributes_of(&input.book, status));
    let options = WorkflowStartOptions::new(task_queue.to_owned(), workflow_id(input.auction_id))
        .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
        .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
        .search_attributes(attributes)
        .build();
    retrying(|| async {
        match client
            .start_workflow(AuctionWorkflow::run, input.clone(), options.clone())
            .await
        {
            Ok(_) | Err(WorkflowStartError::AlreadyStarted { .. }) => Ok(()),
            Err(WorkflowStartError::Rpc(status)) if transient(status.code()) => {
                Err(Attempt::Retry(anyhow::Error::from(status)))
            }
            Err(err) => Err(Attempt::Stop(anyhow::Error::from(err))),
        }
    })
    .await
    .map_err(|attempt| match attempt {
        Attempt::Retry(err) | Attempt::Stop(err) => err,
    })
}

/// Places a batch of bids through the `place_bids` update (one update id per
/// batch, kept across retries, so a retried batch is applied once).
pub async fn place_bids(
    client: &Client,
    auction_id: Uuid,
    bids: BidBatch,
) -> Result<BatchReceipt, CallError<BatchRefused>> {
    let handle = client.get_workflow_handle::<AuctionWorkflow>(workflow_id(auction_id));
    let options = WorkflowExecuteUpdateOptions::builder()
        .update_id(format!("bids:{}", Uuid::new_v4()))
        .build();
    let outcome = retrying(|| async {
        handle
            .execute_update(AuctionWorkflow::place_bids, bids.clone(), options.clone())
            .await
            .map_err(classify_update)
    })
    .await;
    outcome.map_err(finish_update_error)
}

/// Asks the auction's settlement for the invoice's pay link (`request_payment`).
pub async fn request_payment(
    client: &Client,
    auction_id: Uuid,
    request: PaymentRequest,
) -> Result<PayLink, CallError<PaymentRefusal>> {
    let handle = client.get_workflow_handle::<AuctionWorkflow>(workflow_id(auction_id));
    let options = WorkflowExecuteUpdateOptions::builder()
        .update_id(format!("pay:{}", Uuid::new_v4()))
        .build();
    let outcome = retrying(|| async {
        handle
            .execute_update(
                AuctionWorkflow::request_payment,
                request.clone(),
                options.clone(),
            )
            .await
            .map_err(classify_update)
    })
    .await;
    outcome.map_err(finish_update_error)
}

/// Answers a second-chance offer (`answer_offer`).
pub async fn answer_offer(
    client: &Client,
    auction_id: Uuid,
    answer: OfferAnswer,
) -> Result<OfferOutcome, CallError<PaymentRefusal>> {
    let handle = client.get_workflow_handle::<AuctionWorkflow>(workflow_id(auction_id));
    let options = WorkflowExecuteUpdateOptions::builder()
        .update_id(format!("offer:{}", Uuid::new_v4()))
        .build();
    let outcome = retrying(|| async {
        handle
            .execute_update(
                AuctionWorkflow::answer_offer,
                answer.clone(),
                options.clone(),
            )
            .await
            .map_err(classify_update)
    })
    .await;
    outcome.map_err(finish_update_error)
}

/// Starts the follow-up of a Paystack event that arrived after its auction
/// ended (`id` names the event, so a redelivery joins the first one).
pub async fn follow_up(
    client: &Client,
    task_queue: &str,
    id: String,
    followup: FollowUp,
) -> anyhow::Result<()> {
    let options = WorkflowStartOptions::new(task_queue.to_owned(), id)
        .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
        .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
        .build();
    retrying(|| async {
        match client
            .start_workflow(
                PaymentFollowUpWorkflow::run,
                followup.clone(),
                options.clone(),
            )
            .await
        {
            Ok(_) | Err(WorkflowStartError::AlreadyStarted { .. }) => Ok(()),
            Err(WorkflowStartError::Rpc(status)) if transient(status.code()) => {
                Err(Attempt::Retry(anyhow::Error::from(status)))
            }
            Err(err) => Err(Attempt::Stop(anyhow::Error::from(err))),
        }
    })
    .await
    .map_err(|attempt| match attempt {
        Attempt::Retry(err) | Attempt::Stop(err) => err,
    })
}

/// Cancels through the `cancel_auction` update.
pub async fn cancel(
    client: &Client,
    auction_id: Uuid,
    request: CancelRequest,
) -> Result<AuctionView, CallError<CancelRefusal>> {
    let handle = client.get_workflow_handle::<AuctionWorkflow>(workflow_id(auction_id));
    let options = WorkflowExecuteUpdateOptions::builder()
        .update_id(format!("cancel:{}", Uuid::new_v4()))
        .build();
    let outcome = retrying(|| async {
        handle
            .execute_update(
                AuctionWorkflow::cancel_auction,
                request.clone(),
                options.clone(),
            )
            .await
            .map_err(classify_update)
    })
    .await;
    outcome.map_err(finish_update_error)
}

/// Asks the workflow whether `photo` may go (the `remove_photo` update):
/// granted before the first bid, in the order bids are taken.
pub async fn remove_photo(
    client: &Client,
    auction_id: Uuid,
    photo: Uuid,
) -> Result<PhotoRemoval, CallError<PhotoRefusal>> {
    let handle = client.get_workflow_handle::<AuctionWorkflow>(workflow_id(auction_id));
    let options = WorkflowExecuteUpdateOptions::builder()
        .update_id(format!("remove-photo:{}", Uuid::new_v4()))
        .build();
    let removal = PhotoRemoval { photo_id: photo };
    let outcome = retrying(|| async {
        handle
            .execute_update(
                AuctionWorkflow::remove_photo,
                removal.clone(),
                options.clone(),
            )
            .await
            .map_err(classify_update)
    })
    .await;
    outcome.map_err(finish_update_error)
}

/// The workflow's live view, if it answers within [`QUERY_TIMEOUT`].
pub async fn live_state(client: &Client, auction_id: Uuid) -> Option<AuctionView> {
    let handle = client.get_workflow_handle::<AuctionWorkflow>(workflow_id(auction_id));
    let query = handle.query(AuctionWorkflow::state, (), WorkflowQueryOptions::default());
    match tokio::time::timeout(QUERY_TIMEOUT, query).await {
        Ok(Ok(view)) => Some(view),
        Ok(Err(WorkflowQueryError::NotFound(_))) => None,
        Ok(Err(err)) => {
            tracing::warn!(%auction_id, "state query failed: {err}");
            None
        }
        Err(_) => {
            tracing::warn!(%auction_id, "state query timed out");
            None
        }
    }
}

enum Attempt<E> {
    Retry(anyhow::Error),
    Stop(E),
}

/// A rejection or refusal as it left the workflow, or the transport's error.
enum UpdateFailure {
    Failed(Box<Failure>),
    Gone,
    Other(anyhow::Error),
}

fn transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Cancelled
            | Code::Unknown
    )
}

fn classify_update(err: WorkflowUpdateError) -> Attempt<UpdateFailure> {
    match err {
        WorkflowUpdateError::Failed(failure) => Attempt::Stop(UpdateFailure::Failed(failure)),
        WorkflowUpdateError::NotFound(_) => Attempt::Stop(UpdateFailure::Gone),
        WorkflowUpdateError::Rpc(status) if transient(status.code()) => {
            Attempt::Retry(anyhow::Error::from(status))
        }
        // A run that completed while the update was in flight.
        WorkflowUpdateError::Rpc(status)
            if status.code() == Code::FailedPrecondition
                && status.message().contains("completed") =>
        {
            Attempt::Stop(UpdateFailure::Gone)
        }
        WorkflowUpdateError::Other(err) => Attempt::Retry(anyhow::anyhow!(err)),
        other => Attempt::Stop(UpdateFailure::Other(anyhow::Error::from(other))),
    }
}

fn finish_update_error<R: serde::de::DeserializeOwned>(
    attempt: Attempt<UpdateFailure>,
) -> CallError<R> {
    match attempt {
        Attempt::Retry(err) => CallError::Unavailable(err),
        Attempt::Stop(UpdateFailure::Gone) => CallError::Gone,
        Attempt::Stop(UpdateFailure::Failed(failure)) => {
            // A typed refusal (code and data); workers from before typed
            // refusals sent the refusal's JSON as the message.
            let typed = refusal::read::<R>(&failure).map(|(_, reason)| reason);
            match typed.or_else(|| serde_json::from_str(&failure.message).ok()) {
                Some(reason) => CallError::Refused(reason),
                None => CallError::Unavailable(anyhow::anyhow!(
                    "the workflow failed the update: {}",
                    failure.message
                )),
            }
        }
        Attempt::Stop(UpdateFailure::Other(err)) => CallError::Unavailable(err),
    }
}

/// Runs `call` until it succeeds, stops, or [`RETRY_FOR`] has passed, with
/// backoff from 50 ms to 800 ms.
async fn retrying<T, E, F, Fut>(mut call: F) -> Result<T, Attempt<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt<E>>>,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        match call().await {
            Err(Attempt::Retry(err)) if started.elapsed() + pause < RETRY_FOR => {
                tracing::debug!("transient Temporal failure, retrying: {err:#}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(800));
            }
            other => return other,
        }
    }
}

/// Tells the auction's workflow about a payment to verify. `Ok(false)` when
/// the workflow has finished (nothing left to pay for).
pub async fn notify_payment(
    client: &Client,
    auction_id: Uuid,
    notice: PaymentNotice,
    request_id: String,
) -> anyhow::Result<bool> {
    let handle = client.get_workflow_handle::<AuctionWorkflow>(workflow_id(auction_id));
    let options = temporalio_client::WorkflowSignalOptions::builder()
        .request_id(request_id)
        .build();
    let sent = retrying(|| async {
        match handle
            .signal(
                AuctionWorkflow::payment_received,
                Lenient::new(notice.clone()),
                options.clone(),
            )
            .await
        {
            Ok(()) => Ok(true),
            // A finished workflow is "not found" for signals.
            Err(WorkflowInteractionError::NotFound(_)) => Ok(false),
            Err(WorkflowInteractionError::Rpc(status)) if !transient(status.code()) => {
                Err(Attempt::Stop(anyhow::Error::from(status)))
            }
            Err(err) => Err(Attempt::Retry(anyhow::anyhow!(err))),
        }
    })
    .await;
    sent.map_err(|attempt| match attempt {
        Attempt::Retry(err) | Attempt::Stop(err) => err,
    })
}

/// Tells the auction's workflow that `user`'s "ending soon" alert may fall
/// before the check it plans (the `alerts_changed` signal). `Ok(false)` when
/// the workflow has finished.
pub async fn alerts_changed(client: &Client, auction_id: Uuid, user: Uuid) -> anyhow::Result<bool> {
    let handle = client.get_workflow_handle::<AuctionWorkflow>(workflow_id(auction_id));
    let options = temporalio_client::WorkflowSignalOptions::builder()
        .request_id(format!("alerts-changed:{}", Uuid::new_v4()))
        .build();
    let news = AlertsChanged { user_id: user };
    let sent = retrying(|| async {
        match handle
            .signal(
                AuctionWorkflow::alerts_changed,
                Lenient::new(news.clone()),
                options.clone(),
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(WorkflowInteractionError::NotFound(_)) => Ok(false),
            Err(WorkflowInteractionError::Rpc(status)) if !transient(status.code()) => {
                Err(Attempt::Stop(anyhow::Error::from(status)))
            }
            Err(err) => Err(Attempt::Retry(anyhow::anyhow!(err))),
        }
    })
    .await;
    sent.map_err(|attempt| match attempt {
        Attempt::Retry(err) | Attempt::Stop(err) => err,
    })
}

/// Tells a sale's workflow its row changed (shipped, received, a claim, a
/// payout account, a transfer event). `Ok(false)` when no such workflow runs
/// (the sale finished, or was paid before sales had workflows): the row is
/// already written and nothing waits for it.
pub async fn nudge_sale(client: &Client, invoice_id: Uuid, why: &str) -> anyhow::Result<bool> {
    let handle = client.get_workflow_handle::<SaleWorkflow>(sale_workflow_id(invoice_id));
    let options = temporalio_client::WorkflowSignalOptions::builder().build();
    let sent = retrying(|| async {
        match handle
            .signal(
                SaleWorkflow::nudge,
                Lenient::new(why.to_owned()),
                options.clone(),
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(WorkflowInteractionError::NotFound(_)) => Ok(false),
            Err(WorkflowInteractionError::Rpc(status)) if !transient(status.code()) => {
                Err(Attempt::Stop(anyhow::Error::from(status)))
            }
            Err(err) => Err(Attempt::Retry(anyhow::anyhow!(err))),
        }
    })
    .await;
    sent.map_err(|attempt| match attempt {
        Attempt::Retry(err) | Attempt::Stop(err) => err,
    })
}

/// Where a sale's money is, from its workflow (`None`: no running workflow).
pub async fn sale_money(client: &Client, invoice_id: Uuid) -> Option<SaleMoney> {
    let handle = client.get_workflow_handle::<SaleWorkflow>(sale_workflow_id(invoice_id));
    let query = handle.query(SaleWorkflow::money, (), WorkflowQueryOptions::default());
    match tokio::time::timeout(QUERY_TIMEOUT, query).await {
        Ok(Ok(money)) => Some(money),
        _ => None,
    }
}
