//! The saved-search digest email: one per account and run, naming the lots
//! listed since its searches' last digest. It is stored (pending) in the
//! same transaction that moves the searches' `digested_until`, then handed
//! to Brevo: a retried run finds nothing new and sends only what is still
//! pending, and an overlapping run waits for the searches' lock and finds
//! them advanced, so no lot is mailed twice.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use gavel_store::{
    StoreError, auctions,
    emails::{self, EmailStatus, NewAccountEmail},
    preferences::{self, NoticeKind},
    saved_searches::{self, SavedSearch},
    users,
};
use gavel_workflows::{contract::view::AuctionStatus, ids::UserId, rules::display_money};
use uuid::Uuid;

use super::{
    EmailLink, MailError, Mailer, Unsubscribe,
    layout::{self, Body},
};
use crate::brevo::{Mailbox, OutgoingEmail};

/// The digest's `emails.kind` (and its Brevo tag, `gavel-saved_search_digest`).
pub const DIGEST_KIND: &str = "saved_search_digest";
/// Lots one search contributes to one digest, newest first.
const LOTS_PER_SEARCH: i64 = 20;
/// Lots one digest names at most.
const LOTS_PER_DIGEST: usize = 50;

/// A lot a digest names.
struct NewLot {
    id: Uuid,
    title: String,
    price: String,
    ends_at: DateTime<Utc>,
}

impl Mailer {
    /// Digests `user`'s saved searches up to `until`: stores one email naming
    /// the lots listed since each search's last digest (none when nothing is
    /// new) and moves the searches on, in one transaction; then hands every
    /// pending digest of the account to Brevo. Returns whether an email was
    /// stored by this call.
    pub async fn digest_account(
        &self,
        user: Uuid,
        until: DateTime<Utc>,
    ) -> Result<bool, MailError> {
        let stored = self.store_digest(user, until).await?;
        self.send_pending_digests(user).await?;
        Ok(stored)
    }

    async fn store_digest(&self, user: Uuid, until: DateTime<Utc>) -> Result<bool, MailError> {
        let mut tx = self.db.begin().await.map_err(StoreError::from)?;
        let searches = saved_searches::lock_undigested(&mut tx, user, until).await?;
        if searches.is_empty() {
            return Ok(false);
        }
        let lots = self.new_lots(&searches, until).await?;
        let stored = !lots.is_empty();
        if stored {
            let address = users::mail_address(&self.db, user)
                .await?
                .ok_or(MailError::UnknownRecipient(user))?;
            // A name typed at sign-up is not carried to an address its owner
            // has not confirmed.
            let verified = users::email_verified(&self.db, user).await? == Some(true);
            let name = if verified { address.name.as_str() } else { "" };
            let stop = self
                .unsubscribe(user, NoticeKind::SavedSearchDigest)
                .await?;
            let (subject, html, text) = self.digest_body(name, &lots, &stop)?;
            let key = format!("{DIGEST_KIND}:{user}:{}", until.timestamp_micros());
            let status = match self.brevo {
                Some(_) => EmailStatus::Pending,
                None => EmailStatus::Recorded,
            };
            emails::store_account(
                &mut *tx,
                NewAccountEmail {
                    id: Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes()),
                    idempotency_key: &key,
                    kind: DIGEST_KIND,
                    recipient_id: UserId(user),
                    recipient_email: &address.email,
                    subject: &subject,
                    html_body: &html,
                    text_body: &text,
                    status,
                },
            )
            .await?;
            if self.brevo.is_none() {
                tracing::info!(user_id = %user, lots = lots.len(),
                    "saved-search digest recorded, not sent (no BREVO_API_KEY)");
            }
        }
        let ids: Vec<Uuid> = searches.iter().map(|s| s.id).collect();
        saved_searches::mark_digested(&mut tx, &ids, until).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(stored)
    }

    /// The lots `searches` match that were listed since each one's last
    /// digest, found by the listing's own query, each once.
    async fn new_lots(
        &self,
        searches: &[SavedSearch],
        until: DateTime<Utc>,
    ) -> Result<Vec<NewLot>, MailError> {
        let mut seen = HashSet::new();
        let mut lots = Vec::new();
        for search in searches {
            let filter = search.new_lots_filter(until, LOTS_PER_SEARCH);
            for row in auctions::list(&self.db, &filter).await? {
                // A lot that ended since it was listed is news to nobody.
                let biddable = matches!(row.status, AuctionStatus::Scheduled | AuctionStatus::Open);
                if biddable && lots.len() < LOTS_PER_DIGEST && seen.insert(row.id) {
                    lots.push(NewLot {
                        id: row.id,
                        price: display_money(
                            row.current_price.unwrap_or(row.starting_price),
                            &row.currency,
                        ),
                        title: row.title,
                        ends_at: row.ends_at,
                    });
                }
            }
        }
        Ok(lots)
    }

    /// The subject and the HTML and text bodies of a digest naming `lots`.
    fn digest_body(
        &self,
        name: &str,
        lots: &[NewLot],
        stop: &Unsubscribe,
    ) -> Result<(String, String, String), MailError> {
        let now = Utc::now();
        let subject = match lots {
            [one] => format!("New on Gavel: {}", one.title),
            _ => format!("{} new lots match your saved searches", lots.len()),
        };
        let lines = vec![match lots.len() {
            1 => "A new lot matches your saved searches:".to_owned(),
            n => format!("{n} new lots match your saved searches:"),
        }];
        let links: Vec<EmailLink> = lots
            .iter()
            .map(|lot| EmailLink {
                text: format!(
                    "{}: {}, ends {}",
                    lot.title,
                    lot.price,
                    layout::deadline(lot.ends_at, now)
                ),
                url: format!("{}/auctions/{}", self.public_url, lot.id),
            })
            .collect();
        let closing = vec![format!(
            "Change or delete your saved searches on {}/me.",
            self.public_url
        )];
        let stop = stop.link();
        let body = Body {
            name,
            lines: &lines,
            link: None,
            links: &links,
            closing: &closing,
            invoice: None,
            lot: None,
            account_url: format!("{}/me", self.public_url),
            unsubscribe: Some(&stop),
        };
        let (html, text) = layout::render(&subject, &body)?;
        Ok((subject, html, text))
    }

    /// Hands `user`'s pending digests to Brevo, each once (Brevo is given
    /// the email's id as its idempotency key). A refusal for good marks the
    /// email failed and is not retried; anything else fails the call, to be
    /// retried.
    async fn send_pending_digests(&self, user: Uuid) -> Result<(), MailError> {
        let Some(brevo) = &self.brevo else {
            return Ok(());
        };
        let pending = emails::pending_of(&self.db, UserId(user), DIGEST_KIND).await?;
        if pending.is_empty() {
            return Ok(());
        }
        // A digest stopped since it was stored (its link, or `/me`) is not
        // sent: kept as skipped, so no retry sends it either.
        let wanted = preferences::get(&self.db, user)
            .await?
            .wants(NoticeKind::SavedSearchDigest);
        let stop = self
            .unsubscribe(user, NoticeKind::SavedSearchDigest)
            .await?;
        for email in pending {
            if !wanted {
                emails::mark(&self.db, &email.idempotency_key, EmailStatus::Skipped, None).await?;
                continue;
            }
            let outgoing = OutgoingEmail {
                sender: self.sender.clone(),
                to: Mailbox {
                    name: None,
                    email: email.recipient_email.clone(),
                },
                subject: email.subject.clone(),
                html: email.html_body.clone(),
                text: email.text_body.clone(),
                tags: vec![format!("gavel-{DIGEST_KIND}")],
                idempotency_key: email.id.to_string(),
                custom: format!("user:{user}|kind:{DIGEST_KIND}"),
                headers: stop.headers(),
            };
            match self
                .send_stored(brevo, &email.idempotency_key, &outgoing)
                .await
            {
                Err(MailError::Brevo(err)) if err.is_permanent() => {
                    tracing::warn!(user_id = %user, "Brevo refused a saved-search digest: {err}");
                    emails::mark(&self.db, &email.idempotency_key, EmailStatus::Failed, None)
                        .await?;
                }
                sent => sent?,
            }
        }
        Ok(())
    }
}
