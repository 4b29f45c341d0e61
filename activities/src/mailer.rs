//! Lifecycle emails: rendered from the database (the workflow passes only
//! ids), stored in `emails` once per idempotency key, then sent through
//! Brevo — or, without `BREVO_API_KEY`, recorded there and in the log.

use gavel_workflows::settlement::{EmailJob, EmailKind};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    brevo::{Brevo, BrevoError, Mailbox, OutgoingEmail, Sent},
    settlement::invoices::{self, escape, format_money},
};

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
}

/// An email ready to store and send.
struct Rendered {
    subject: String,
    html: String,
    text: String,
}

impl Mailer {
    pub fn new(db: PgPool, brevo: Option<Brevo>, sender: Mailbox) -> Self {
        if brevo.is_none() {
            tracing::warn!(
                "BREVO_API_KEY is not set: emails are recorded in the `emails` table and the log, not sent"
            );
        }
        Self { db, brevo, sender }
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
        sqlx::query(
            "INSERT INTO emails (id, idempotency_key, kind, recipient_id, recipient_email,
                 auction_id, round, subject, html_body, text_body, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending')
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(id)
        .bind(&key)
        .bind(job.kind.as_str())
        .bind(job.recipient_id)
        .bind(&to)
        .bind(job.auction_id)
        .bind(i32::try_from(job.occasion).unwrap_or(i32::MAX))
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
        let pay = match (&job.pay_link, job.card_pending) {
            (Some(url), _) => format!("Pay here: {url}"),
            (None, true) => "Your saved card is being charged; we will confirm by email.".into(),
            (None, false) => "Reply to arrange payment (bank transfer or cash).".into(),
        };
        let (subject, lines): (String, Vec<String>) = match job.kind {
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
            EmailKind::SecondChance => (
                format!("Second chance: {title} can be yours"),
                vec![
                    format!(
                        "The winner did not pay. {title} is offered to you at your highest bid, {amount}."
                    ),
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
        };
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
}
