//! Lifecycle emails: rendered from the database (the workflow passes only
//! ids), stored in `emails` once per idempotency key, then sent through
//! Brevo — or, without `BREVO_API_KEY`, recorded there and in the log.
//! One email, a batch, or everyone who bid on an auction.

use futures::StreamExt;
use gavel_workflows::settlement::{BidderEmail, EmailJob, EmailKind};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    brevo::{Brevo, BrevoError, Mailbox, OutgoingEmail, Sent},
    settlement::invoices::{self, Invoice, escape, format_money},
};

/// Emails sent at once by a bulk send (Brevo allows far more; this keeps one
/// worker from hogging the database pool).
const BULK_CONCURRENCY: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Brevo(#[from] BrevoError),
    #[error("no user {0} to write to")]
    UnknownRecipient(Uuid),
}

#[derive(Clone)]
pub struct Mailer {
    db: PgPool,
    brevo: Option<Brevo>,
    sender: Mailbox,
    /// Where readers go to act (accept an offer, pay): the public base URL.
    public_url: String,
}

/// An email ready to store and send.
struct Rendered {
    subject: String,
    html: String,
    text: String,
}

impl Mailer {
    pub fn new(db: PgPool, brevo: Option<Brevo>, sender: Mailbox, public_url: String) -> Self {
        if brevo.is_none() {
            tracing::warn!(
                "BREVO_API_KEY is not set: emails are recorded in the `emails` table and the log, not sent"
            );
        }
        Self {
            db,
            brevo,
            sender,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Sends `job` once: a repeat (a retried activity) finds it sent.
    pub async fn deliver(&self, job: &EmailJob) -> Result<(), MailError> {
        let key = job.idempotency_key();
        let done: Option<(String,)> =
            sqlx::query_as("SELECT status FROM emails WHERE idempotency_key = $1")
                .bind(&key)
                .fetch_optional(&self.db)
                .await?;
        if done.is_some_and(|(status,)| status != "pending") {
            return Ok(());
        }
        let (to, name) = self.recipient(job.recipient_id).await?;
        let rendered = self.render(job, &name).await?;
        let id = Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes());
        let round = if job.kind.belongs_to_a_round() {
            i32::try_from(job.occasion).unwrap_or(i32::MAX)
        } else {
            0
        };
        sqlx::query(
            "INSERT INTO emails (id, idempotency_key, kind, recipient_id, recipient_email,
                 auction_id, round, occasion, subject, html_body, text_body, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending')
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(id)
        .bind(&key)
        .bind(job.kind.as_str())
        .bind(job.recipient_id)
        .bind(&to)
        .bind(job.auction_id)
        .bind(round)
        .bind(i64::try_from(job.occasion).unwrap_or(i64::MAX))
        .bind(&rendered.subject)
        .bind(&rendered.html)
        .bind(&rendered.text)
        .execute(&self.db)
        .await?;

        let (status, message_id) = match &self.brevo {
            None => {
                tracing::info!(kind = job.kind.as_str(), %job.auction_id, subject = %rendered.subject,
                    "email recorded, not sent (no BREVO_API_KEY)");
                ("recorded", None)
            }
            Some(brevo) => {
                let email = OutgoingEmail {
                    sender: self.sender.clone(),
                    to: Mailbox {
                        name: Some(name).filter(|n| !n.is_empty()),
                        email: to,
                    },
                    subject: rendered.subject,
                    html: rendered.html,
                    text: rendered.text,
                    tags: vec![format!("gavel-{}", job.kind.as_str())],
                    idempotency_key: id.to_string(),
                    custom: format!("auction:{}|kind:{}", job.auction_id, job.kind.as_str()),
                };
                match brevo.send(&email).await? {
                    Sent::Accepted { message_id } => ("sent", Some(message_id)),
                    Sent::AlreadyAccepted => ("sent", None),
                }
            }
        };
        sqlx::query(
            "UPDATE emails SET status = $2, message_id = COALESCE($3, message_id), sent_at = now()
             WHERE idempotency_key = $1",
        )
        .bind(&key)
        .bind(status)
        .bind(message_id)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Sends every job, a few at a time; the first failure is returned once
    /// the rest were tried (each job is idempotent, so a retry resends only
    /// what failed).
    pub async fn deliver_all(&self, jobs: &[EmailJob]) -> Result<u64, MailError> {
        let results: Vec<Result<(), MailError>> = futures::stream::iter(jobs.iter().cloned())
            .map(|job| {
                let mailer = self.clone();
                async move { mailer.deliver(&job).await }
            })
            .buffer_unordered(BULK_CONCURRENCY)
            .collect()
            .await;
        let sent = u64::try_from(results.iter().filter(|r| r.is_ok()).count()).unwrap_or(u64::MAX);
        results.into_iter().collect::<Result<(), _>>()?;
        Ok(sent)
    }

    /// One email to every bidder of the auction but `except`, in chunks.
    pub async fn email_bidders(&self, request: &BidderEmail) -> Result<u64, MailError> {
        let bidders: Vec<Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT bidder_id FROM bids WHERE auction_id = $1 AND bidder_id <> ALL($2)
             ORDER BY bidder_id",
        )
        .bind(request.auction_id)
        .bind(&request.except)
        .fetch_all(&self.db)
        .await?;
        let mut sent = 0;
        for chunk in bidders.chunks(100) {
            let jobs: Vec<EmailJob> = chunk
                .iter()
                .map(|recipient| EmailJob {
                    kind: request.kind,
                    auction_id: request.auction_id,
                    recipient_id: *recipient,
                    occasion: request.occasion,
                    invoice_id: None,
                    pay_link: None,
                    amount: None,
                    card_pending: false,
                })
                .collect();
            sent += self.deliver_all(&jobs).await?;
        }
        Ok(sent)
    }

    /// `job` to every admin (its recipient is replaced); returns how many.
    pub async fn email_admins(&self, job: &EmailJob) -> Result<u64, MailError> {
        let admins: Vec<Uuid> =
            sqlx::query_scalar::<_, Uuid>("SELECT id FROM users WHERE role = 'admin'")
                .fetch_all(&self.db)
                .await?;
        let jobs: Vec<EmailJob> = admins
            .into_iter()
            .map(|admin| EmailJob {
                recipient_id: admin,
                ..job.clone()
            })
            .collect();
        self.deliver_all(&jobs).await
    }

    async fn recipient(&self, user_id: Uuid) -> Result<(String, String), MailError> {
        sqlx::query_as("SELECT email, name FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.db)
            .await?
            .ok_or(MailError::UnknownRecipient(user_id))
    }

    async fn render(&self, job: &EmailJob, name: &str) -> Result<Rendered, MailError> {
        let (title, currency): (String, String) =
            sqlx::query_as("SELECT title, currency FROM auctions WHERE id = $1")
                .bind(job.auction_id)
                .fetch_optional(&self.db)
                .await?
                .unwrap_or_else(|| ("your auction".into(), "NGN".into()));
        let invoice = match job.invoice_id {
            Some(id) => invoices::find(&self.db, id).await?,
            None => None,
        };
        let amount = job
            .amount
            .map(|a| format_money(a, &currency))
            .unwrap_or_default();
        let (subject, lines) = self.words(job, &title, &amount, invoice.as_ref());
        let greeting = format!("Hello {name},");
        let invoice_html = invoice
            .as_ref()
            .map(invoices::render_html)
            .unwrap_or_default();
        let html = format!(
            "<p>{}</p>{}{}",
            escape(&greeting),
            lines
                .iter()
                .map(|l| format!("<p>{}</p>", escape(l)))
                .collect::<String>(),
            invoice_html
        );
        let mut text = format!("{greeting}\n\n{}\n", lines.join("\n"));
        if let Some(invoice) = &invoice {
            text.push_str(&format!(
                "\nInvoice {}: {}\n",
                invoice.number,
                format_money(invoice.total, &invoice.currency)
            ));
        }
        Ok(Rendered {
            subject,
            html,
            text,
        })
    }

    /// The subject and paragraphs of each kind of email.
    fn words(
        &self,
        job: &EmailJob,
        title: &str,
        amount: &str,
        invoice: Option<&Invoice>,
    ) -> (String, Vec<String>) {
        let account = format!("{}/me", self.public_url);
        let pay = match (&job.pay_link, job.card_pending) {
            (Some(url), _) => format!("Pay here: {url}"),
            (None, true) => "Your saved card is being charged; we will confirm by email.".into(),
            (None, false) => format!(
                "Online payment is not available for this invoice right now: pay by bank \
                 transfer or cash (the seller or an admin records it), or try again from {account}."
            ),
        };
        let invoice_path = invoice.map_or_else(String::new, |i| {
            format!("{}/api/v1/invoices/{}", self.public_url, i.id)
        });
        match job.kind {
            EmailKind::Outbid => (
                format!("You have been outbid on {title}"),
                vec![
                    format!("Someone bid more on {title}; the price is now {amount}."),
                    "Bid again to stay in.".into(),
                ],
            ),
            EmailKind::Won => (
                format!("You won {title}"),
                vec![format!("You won {title} for {amount}."), pay],
            ),
            EmailKind::SecondChance => match invoice.filter(|i| i.status == "offered") {
                Some(offer) => (
                    format!("An offer for {title}: yours if you want it"),
                    vec![
                        format!(
                            "The winner of {title} did not pay. You may buy it at your highest \
                             bid, {amount}."
                        ),
                        format!(
                            "This offer is optional: nothing is charged unless you accept, and \
                             declining or ignoring it costs you nothing. It stands until {} UTC.",
                            offer.due_at.format("%Y-%m-%d %H:%M")
                        ),
                        format!(
                            "Accept or decline from {account} (or POST {invoice_path}/accept \
                             or /decline)."
                        ),
                    ],
                ),
                None => (
                    format!("Second chance: {title} can be yours"),
                    vec![
                        format!(
                            "The winner did not pay. {title} is offered to you at your highest bid, {amount}."
                        ),
                        pay,
                    ],
                ),
            },
            EmailKind::OfferAccepted => (
                format!("Your offer for {title} is accepted: how to pay"),
                vec![
                    format!("You accepted the offer: {title} for {amount}."),
                    pay,
                ],
            ),
            EmailKind::PayLink => (
                format!("Pay for {title}"),
                vec![
                    format!("Your saved card could not be charged {amount} for {title}."),
                    pay,
                ],
            ),
            EmailKind::Sold => (
                format!("Sold: {title}"),
                vec![format!(
                    "{title} sold for {amount}. We will tell you when the buyer has paid."
                )],
            ),
            EmailKind::AuctionLost => (
                format!("{title} has ended"),
                vec![format!(
                    "The auction for {title} has ended and another bidder won."
                )],
            ),
            EmailKind::PaymentReminder => (
                format!("Reminder: payment for {title}"),
                vec![
                    format!("Your payment of {amount} for {title} is due soon."),
                    pay,
                ],
            ),
            EmailKind::Receipt => (
                format!("Receipt for {title}"),
                vec![format!(
                    "We received your payment of {amount} for {title}. Thank you."
                )],
            ),
            EmailKind::SaleCompleted => (
                format!("Paid: {title}"),
                vec![format!("The buyer paid {amount} for {title}.")],
            ),
            EmailKind::NoSale => (
                format!("{title} ended without a sale"),
                vec![format!("The auction for {title} ended without a sale.")],
            ),
            EmailKind::Unsold => (
                format!("{title} is unsold"),
                vec![format!("No bidder paid for {title}; it is unsold.")],
            ),
            EmailKind::Refund => (
                format!("Refund for {title}"),
                vec![
                    format!(
                        "We received a payment of {amount} for {title} that could not be used \
                         (the invoice was no longer open, already paid, or for another amount)."
                    ),
                    "It has been refunded in full through Paystack; banks take up to 10 \
                     business days to show it."
                        .into(),
                ],
            ),
            EmailKind::AuctionCancelled => (
                format!("{title} was cancelled"),
                vec![format!(
                    "The auction for {title} was cancelled before it ended. Your bids are void \
                     and you owe nothing."
                )],
            ),
            EmailKind::Dispute => (
                format!("Dispute: a payment for {title}"),
                vec![
                    format!(
                        "A buyer disputed a payment of {amount} for {title} (invoice {}).",
                        invoice.map_or("unknown", |i| i.number.as_str())
                    ),
                    "The invoice is flagged; answer the dispute in Paystack's dashboard.".into(),
                ],
            ),
        }
    }
}
