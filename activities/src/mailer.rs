//! Lifecycle emails: rendered from the database (the workflow passes only
//! ids), stored in `emails` once per idempotency key, then sent through
//! Brevo — or, without `BREVO_API_KEY`, recorded there and in the log.
//! One email, a batch, or everyone who bid on an auction. An optional
//! notice ([`notice_of`]) goes only when its recipient wants its kind at
//! send time, and carries its one-click unsubscribe ([`unsubscribe`]).

use chrono::Utc;
use futures::StreamExt;
use gavel_store::{
    StoreError, auctions,
    emails::{self, EmailStatus, NewEmail},
    invoices::{self, Invoice, InvoiceStatus},
    photos,
    preferences::{self, NoticeKind},
    users,
};
use gavel_workflows::contract::settlement::{BidderEmail, EmailJob, EmailKind};
use gavel_workflows::ids::{AuctionId, UserId};
use gavel_workflows::rules::display_money;
use sqlx::PgPool;
use uuid::Uuid;

use crate::brevo::{Brevo, BrevoError, Mailbox, OutgoingEmail};

mod account;
mod digest;
mod layout;
mod send;
pub mod unsubscribe;
pub use account::{AccountEmail, EmailLink};
pub use digest::DIGEST_KIND;
use layout::{Body, InvoiceLines, LotCard};
pub use unsubscribe::Unsubscribe;

/// Emails sent at once by a bulk send (Brevo allows far more; this keeps one
/// worker from hogging the database pool).
pub(crate) const BULK_CONCURRENCY: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(transparent)]
    Database(#[from] StoreError),
    #[error(transparent)]
    Brevo(#[from] BrevoError),
    #[error("no user {0} to write to")]
    UnknownRecipient(Uuid),
    #[error("rendering an email: {0}")]
    Template(#[from] askama::Error),
    #[error("{0} does not fit its column")]
    TooLarge(&'static str),
}

/// The kind of optional notice an email is, which its recipient may stop;
/// `None` for mail a buyer or seller must get (every other kind today).
pub fn notice_of(kind: EmailKind) -> Option<NoticeKind> {
    match kind {
        // Bidding news: you lost the lead, or the lot.
        EmailKind::Outbid | EmailKind::AuctionLost => Some(NoticeKind::Outbid),
        EmailKind::Won
        | EmailKind::SecondChance
        | EmailKind::OfferAccepted
        | EmailKind::PayLink
        | EmailKind::Sold
        | EmailKind::PaymentReminder
        | EmailKind::Receipt
        | EmailKind::SaleCompleted
        | EmailKind::NoSale
        | EmailKind::Unsold
        | EmailKind::Refund
        | EmailKind::AuctionCancelled
        | EmailKind::Dispute
        | EmailKind::ShipBy
        | EmailKind::LotShipped
        | EmailKind::LotReceived
        | EmailKind::NotShipped
        | EmailKind::ClaimOpened
        | EmailKind::ClaimAnswered
        | EmailKind::ClaimToDecide
        | EmailKind::PayoutSent
        | EmailKind::PayoutHeld
        | EmailKind::PayoutProblem => None,
        // Sent with the kind its recipient gets it as (a bidder's or a
        // watcher's), by `deliver_notice`; this is the bidder's.
        EmailKind::EndingSoon => Some(NoticeKind::EndingSoon),
    }
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

    /// Where Gavel is served, for links in emails (no trailing `/`).
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Whether emails go out through Brevo (else they are only recorded).
    pub fn brevo_configured(&self) -> bool {
        self.brevo.is_some()
    }

    /// Sends `job` once: a repeat (a retried activity) finds it sent. An
    /// optional notice whose kind its recipient has stopped is kept as
    /// skipped instead, so a retry does not send it either.
    pub async fn deliver(&self, job: &EmailJob) -> Result<(), MailError> {
        self.deliver_as(job, notice_of(job.kind)).await
    }

    /// Sends an optional notice (`job`) once, to a recipient who gets it as
    /// `notice` (the kind they can stop).
    pub async fn deliver_notice(
        &self,
        job: &EmailJob,
        notice: NoticeKind,
    ) -> Result<(), MailError> {
        self.deliver_as(job, Some(notice)).await
    }

    async fn deliver_as(
        &self,
        job: &EmailJob,
        notice: Option<NoticeKind>,
    ) -> Result<(), MailError> {
        let key = job.idempotency_key();
        let done = emails::status(&self.db, &key).await?;
        if done.is_some_and(|status| status != EmailStatus::Pending) {
            return Ok(());
        }
        let users::MailAddress {
            email: to,
            name,
            deleted,
        } = self.recipient(job.recipient_id).await?;
        // Read now, not when the notice was queued: a link followed a moment
        // ago is honoured by this send. A deleted account gets nothing.
        let wanted = !deleted
            && match notice {
                Some(kind) => preferences::get(&self.db, job.recipient_id)
                    .await?
                    .wants(kind),
                None => true,
            };
        let unsubscribe = self
            .stop_link(job.recipient_id, notice.filter(|_| wanted))
            .await?;
        let rendered = self.render(job, &name, unsubscribe.as_ref()).await?;
        let id = Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes());
        let round = if job.kind.belongs_to_a_round() {
            i32::try_from(job.occasion).map_err(|_| MailError::TooLarge("the offer round"))?
        } else {
            0
        };
        let occasion =
            i64::try_from(job.occasion).map_err(|_| MailError::TooLarge("the occasion"))?;
        let stored = NewEmail {
            id,
            idempotency_key: &key,
            kind: job.kind.as_str(),
            recipient_id: UserId(job.recipient_id),
            recipient_email: &to,
            auction_id: AuctionId(job.auction_id),
            round,
            occasion,
            subject: &rendered.subject,
            html_body: &rendered.html,
            text_body: &rendered.text,
        };
        if !wanted {
            tracing::info!(kind = job.kind.as_str(), %job.auction_id, user_id = %job.recipient_id,
                deleted, "email skipped: its recipient stopped this kind of notice, or left");
            emails::store_skipped(&self.db, stored).await?;
            return Ok(());
        }
        emails::store_pending(&self.db, stored).await?;

        let Some(brevo) = &self.brevo else {
            tracing::info!(kind = job.kind.as_str(), %job.auction_id, subject = %rendered.subject,
                "email recorded, not sent (no BREVO_API_KEY)");
            emails::mark(&self.db, &key, EmailStatus::Recorded, None).await?;
            return Ok(());
        };
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
            headers: unsubscribe
                .as_ref()
                .map(Unsubscribe::headers)
                .unwrap_or_default(),
        };
        self.send_stored(brevo, &key, &email).await
    }

    /// `user`'s address and name, whether or not the account was deleted.
    async fn recipient(&self, user: Uuid) -> Result<users::MailAddress, MailError> {
        users::mail_address(&self.db, user)
            .await?
            .ok_or(MailError::UnknownRecipient(user))
    }

    /// The unsubscribe link an email to `user` carries: one for an optional
    /// notice of kind `notice`, none for mail that has no switch.
    async fn stop_link(
        &self,
        user: Uuid,
        notice: Option<NoticeKind>,
    ) -> Result<Option<Unsubscribe>, MailError> {
        Ok(match notice {
            Some(kind) => Some(self.unsubscribe(user, kind).await?),
            None => None,
        })
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
        // Every job was delivered when none failed.
        results.into_iter().collect::<Result<(), _>>()?;
        u64::try_from(jobs.len()).map_err(|_| MailError::TooLarge("the batch"))
    }

    /// One email to every bidder of the auction but `except`, in chunks.
    pub async fn email_bidders(&self, request: &BidderEmail) -> Result<u64, MailError> {
        let bidders =
            auctions::bidders(&self.db, AuctionId(request.auction_id), &request.except).await?;
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
        let admins = users::admins(&self.db).await?;
        let jobs: Vec<EmailJob> = admins
            .into_iter()
            .map(|admin| EmailJob {
                recipient_id: admin,
                ..job.clone()
            })
            .collect();
        self.deliver_all(&jobs).await
    }

    /// What [`Self::deliver`] would send for `job` (subject, HTML, text),
    /// rendered now, without storing or sending it: to look at an email.
    pub async fn preview(&self, job: &EmailJob) -> Result<(String, String, String), MailError> {
        let users::MailAddress { name, .. } = self.recipient(job.recipient_id).await?;
        let stop = self
            .stop_link(job.recipient_id, notice_of(job.kind))
            .await?;
        let Rendered {
            subject,
            html,
            text,
        } = self.render(job, &name, stop.as_ref()).await?;
        Ok((subject, html, text))
    }

    async fn render(
        &self,
        job: &EmailJob,
        name: &str,
        unsubscribe: Option<&Unsubscribe>,
    ) -> Result<Rendered, MailError> {
        let (title, currency) = auctions::title_and_currency(&self.db, AuctionId(job.auction_id))
            .await?
            .unwrap_or_else(|| ("your auction".into(), "NGN".into()));
        let invoice = match job.invoice_id {
            Some(id) => invoices::find(&self.db, id).await?,
            None => None,
        };
        let cover = photos::covers(&self.db, &[job.auction_id]).await?;
        let amount = job
            .amount
            .map(|a| display_money(a, &currency))
            .unwrap_or_default();
        let now = Utc::now();
        let (subject, lines) = self.words(job, &title, &amount, invoice.as_ref(), now);
        let link = self.action(job, invoice.as_ref());
        let stop = unsubscribe.map(Unsubscribe::link);
        let body = Body {
            name,
            lines: &lines,
            link: link.as_ref(),
            links: &[],
            closing: &[],
            invoice: invoice.as_ref().map(|i| InvoiceLines::of(i, now)),
            lot: Some(LotCard {
                title,
                url: self.lot_url(job.auction_id),
                photo: cover
                    .first()
                    .map(|(_, photo)| format!("{}/images/{photo}/display.jpg", self.public_url)),
            }),
            account_url: format!("{}/me", self.public_url),
            unsubscribe: stop.as_ref(),
        };
        let (html, text) = layout::render(&subject, &body)?;
        Ok(Rendered {
            subject,
            html,
            text,
        })
    }

    fn lot_url(&self, auction_id: Uuid) -> String {
        format!("{}/auctions/{auction_id}", self.public_url)
    }

    /// The button an email of `job`'s kind leads with: always one of Gavel's
    /// own pages (the account page pays through Paystack from there), never
    /// Paystack's checkout itself. Emails to admins have none.
    fn action(&self, job: &EmailJob, invoice: Option<&Invoice>) -> Option<EmailLink> {
        let link = |text: &str, url: String| {
            Some(EmailLink {
                text: text.into(),
                url,
            })
        };
        let lot = self.lot_url(job.auction_id);
        let me = format!("{}/me", self.public_url);
        let invoice_row =
            invoice.map_or_else(|| me.clone(), |i| format!("{me}#invoice-{}", i.number));
        let pay = || {
            if job.card_pending {
                link("See your invoice", invoice_row.clone())
            } else {
                link("Pay now", invoice_row.clone())
            }
        };
        match job.kind {
            EmailKind::Outbid => link("Bid again", lot),
            EmailKind::Won
            | EmailKind::OfferAccepted
            | EmailKind::PayLink
            | EmailKind::PaymentReminder => pay(),
            EmailKind::SecondChance => match invoice.map(|i| i.status) {
                Some(InvoiceStatus::Offered) => link("Answer the offer", invoice_row),
                _ => pay(),
            },
            EmailKind::Receipt | EmailKind::Refund => link("See your invoices", invoice_row),
            EmailKind::ShipBy | EmailKind::ClaimOpened => {
                link("Open your sales", format!("{me}#sales"))
            }
            EmailKind::LotShipped | EmailKind::ClaimAnswered => {
                link("Open your purchases", format!("{me}#purchases"))
            }
            EmailKind::LotReceived | EmailKind::PayoutSent => {
                link("See your statement", format!("{me}#sales"))
            }
            EmailKind::PayoutHeld => link("Add a bank account", format!("{me}#payout-account")),
            EmailKind::Dispute | EmailKind::ClaimToDecide | EmailKind::PayoutProblem => None,
            _ => link("See the lot", lot),
        }
    }

    /// The subject and paragraphs of each kind of email.
    fn words(
        &self,
        job: &EmailJob,
        title: &str,
        amount: &str,
        invoice: Option<&Invoice>,
        now: chrono::DateTime<Utc>,
    ) -> (String, Vec<String>) {
        let account = format!("{}/me", self.public_url);
        let pay = match (&job.pay_link, job.card_pending) {
            (Some(_), _) => "Pay with the button: your account page takes you to Paystack's \
                             secure checkout."
                .into(),
            (None, true) => "Your saved card is being charged; we will confirm by email.".into(),
            (None, false) => format!(
                "Online payment is not available for this invoice right now: pay by bank \
                 transfer or cash (the seller or an admin records it), or try again from {account}."
            ),
        };
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
            EmailKind::SecondChance => match invoice.filter(|i| i.status == InvoiceStatus::Offered)
            {
                Some(offer) => (
                    format!("An offer for {title}: yours if you want it"),
                    vec![
                        format!(
                            "The winner of {title} did not pay. You may buy it at your highest \
                             bid, {amount}."
                        ),
                        format!(
                            "This offer is optional: nothing is charged unless you accept, and \
                             declining or ignoring it costs you nothing. It stands until {}.",
                            layout::deadline(offer.due_at, now)
                        ),
                        "Accept or decline with the button, from your account page.".into(),
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
            EmailKind::ShipBy => (
                format!("Paid: ship {title}"),
                vec![
                    format!("The buyer paid {amount} for {title}. Ship it now."),
                    format!(
                        "Mark it shipped from {account} (with the carrier and tracking number if \
                         you have them). A lot not marked shipped in time is refunded to the \
                         buyer and counts as a strike against your selling."
                    ),
                    "Gavel holds the money until the buyer has the lot, then pays you the \
                     price less commission."
                        .into(),
                ],
            ),
            EmailKind::LotShipped => (
                format!("{title} is on its way"),
                vec![
                    format!("The seller shipped {title}."),
                    format!(
                        "When it arrives, confirm it from {account}; if something is wrong, \
                         open a claim there. Gavel holds your payment until then."
                    ),
                ],
            ),
            EmailKind::LotReceived => (
                format!("{title} arrived"),
                vec![format!(
                    "The buyer has {title} (or the delivery window passed). Once the claim \
                     window closes you are paid; see {account}."
                )],
            ),
            EmailKind::NotShipped => (
                format!("{title} was not shipped: the sale is cancelled"),
                vec![format!(
                    "{title} was not marked shipped in time. The buyer's payment is refunded in \
                     full and the seller receives a strike."
                )],
            ),
            EmailKind::ClaimOpened => (
                format!("A claim about {title}"),
                vec![format!(
                    "The buyer opened a claim about {title}. Answer it from {account}: accept \
                     (with a full or partial refund) or contest it. Unanswered, an admin decides."
                )],
            ),
            EmailKind::ClaimAnswered => (
                format!("Your claim about {title} was answered"),
                vec![format!(
                    "Your claim about {title} has an answer; see {account}. Any refund goes back \
                     to the card you paid with."
                )],
            ),
            EmailKind::ClaimToDecide => (
                format!("A claim about {title} needs a decision"),
                vec![format!(
                    "A claim on invoice {} was contested by the seller or left unanswered. \
                     Decide it: POST /api/v1/admin/claims/{{id}}/decide.",
                    invoice.map_or("unknown", |i| i.number.as_str())
                )],
            ),
            EmailKind::PayoutSent => (
                format!("You have been paid for {title}"),
                vec![format!(
                    "Your payout for {title} was sent to your bank account. Your statement \
                     (price, refunds, commission, payout) is on {account}."
                )],
            ),
            EmailKind::PayoutHeld => (
                format!("Add a bank account to be paid for {title}"),
                vec![format!(
                    "Your money for {title} is ready, but you have no payout account. Add one \
                     on {account}; the payout goes out as soon as it is confirmed."
                )],
            ),
            EmailKind::EndingSoon => (
                format!("{title} ends soon"),
                vec![
                    format!(
                        "Bidding on {title} ends soon (a late bid can still extend it). \
                         See the lot and its price on its page."
                    ),
                    format!(
                        "You hear of this once per lot, as a lot you watch or bid on. \
                         Choose how early, or stop these, from {account}."
                    ),
                ],
            ),
            EmailKind::PayoutProblem => (
                format!("A payout for {title} needs you"),
                vec![format!(
                    "The payout for invoice {} ({amount}) cannot go ahead by itself: it failed, \
                     waits for an OTP, or the Paystack balance is short of what the ledger \
                     holds. See GET /api/v1/admin/payouts.",
                    invoice.map_or("unknown", |i| i.number.as_str())
                )],
            ),
        }
    }
}
