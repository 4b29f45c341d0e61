//! Emails about an account, not an auction (verify the address, reset the
//! password): stored in `emails` without an auction, sent by the API
//! through the same Brevo client and templates as lifecycle emails.

use gavel_store::emails::{self, EmailStatus, NewAccountEmail};
use gavel_workflows::ids::UserId;
use uuid::Uuid;

use super::{
    MailError, Mailer,
    layout::{self, Body},
};
use crate::brevo::{Mailbox, OutgoingEmail};

impl Mailer {
    /// Stores `email` in `emails` before it is sent (recorded there, and
    /// only there, without `BREVO_API_KEY`). When Brevo sends it, the stored
    /// copy carries `stored_lines` instead of `lines`: a link that opens the
    /// account is in the recipient's mailbox only, not in the table.
    pub async fn store_account_email(&self, email: &AccountEmail) -> Result<(), MailError> {
        let (lines, status) = match &self.brevo {
            Some(_) => (&email.stored_lines, EmailStatus::Pending),
            None => (&email.lines, EmailStatus::Recorded),
        };
        // The stored copy keeps the link only when nothing else sends it.
        let link = self.brevo.is_none().then_some(&email.link);
        let rendered = self.account_body(&email.name, &email.subject, lines, link)?;
        emails::store_account(
            &self.db,
            NewAccountEmail {
                id: email.id(),
                idempotency_key: &email.idempotency_key,
                kind: email.kind,
                recipient_id: UserId(email.recipient_id),
                recipient_email: &email.to,
                subject: &email.subject,
                html_body: &rendered.0,
                text_body: &rendered.1,
                status,
            },
        )
        .await?;
        if self.brevo.is_none() {
            tracing::info!(kind = email.kind, user_id = %email.recipient_id,
                "account email recorded, not sent (no BREVO_API_KEY)");
        }
        Ok(())
    }

    /// Sends `email` (stored first by [`Self::store_account_email`]) through
    /// Brevo once: a repeat finds it sent; nothing to do without Brevo.
    pub async fn send_account_email(&self, email: &AccountEmail) -> Result<(), MailError> {
        let Some(brevo) = &self.brevo else {
            return Ok(());
        };
        let key = &email.idempotency_key;
        if emails::status(&self.db, key)
            .await?
            .is_some_and(|status| status != EmailStatus::Pending)
        {
            return Ok(());
        }
        let (html, text) =
            self.account_body(&email.name, &email.subject, &email.lines, Some(&email.link))?;
        let outgoing = OutgoingEmail {
            sender: self.sender.clone(),
            to: Mailbox {
                name: Some(email.name.clone()).filter(|n| !n.is_empty()),
                email: email.to.clone(),
            },
            subject: email.subject.clone(),
            html,
            text,
            tags: vec![format!("gavel-{}", email.kind)],
            idempotency_key: email.id().to_string(),
            custom: format!("user:{}|kind:{}", email.recipient_id, email.kind),
            // Account emails are not optional notices: no unsubscribe.
            headers: Vec::new(),
        };
        self.send_stored(brevo, key, &outgoing).await
    }

    /// Marks `email` failed: Brevo refused it for good, or it was not handed
    /// over in its attempts. An email already sent stays sent.
    pub async fn fail_account_email(&self, email: &AccountEmail) -> Result<(), MailError> {
        let key = &email.idempotency_key;
        if emails::status(&self.db, key).await? == Some(EmailStatus::Pending) {
            emails::mark(&self.db, key, EmailStatus::Failed, None).await?;
        }
        Ok(())
    }
}

/// An email about an account, not an auction: verify the address, reset
/// the password.
#[derive(Debug, Clone)]
pub struct AccountEmail {
    /// `verify_email` or `password_reset` (the `emails.kind`).
    pub kind: &'static str,
    pub recipient_id: Uuid,
    pub to: String,
    pub name: String,
    pub subject: String,
    /// What the recipient reads (with the link).
    pub lines: Vec<String>,
    /// What the stored copy says instead, when Brevo delivers the email.
    pub stored_lines: Vec<String>,
    /// The link the email exists for, shown after the first line.
    pub link: EmailLink,
    /// One per email: a retried send is not sent twice.
    pub idempotency_key: String,
}

/// A link in an account email: a sentence, then the address (an `<a href>`
/// in the HTML body, escaped like every value).
#[derive(Debug, Clone)]
pub struct EmailLink {
    pub text: String,
    pub url: String,
}

impl AccountEmail {
    fn id(&self) -> Uuid {
        Uuid::new_v5(&Uuid::NAMESPACE_OID, self.idempotency_key.as_bytes())
    }
}

impl Mailer {
    /// The HTML and text bodies of an account email: no lot, its link the
    /// button.
    fn account_body(
        &self,
        name: &str,
        subject: &str,
        lines: &[String],
        link: Option<&EmailLink>,
    ) -> Result<(String, String), MailError> {
        let body = Body {
            name,
            lines,
            link,
            links: &[],
            closing: &[],
            invoice: None,
            lot: None,
            account_url: format!("{}/me", self.public_url),
            unsubscribe: None,
        };
        layout::render(subject, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_account_email_without_a_name_greets_nobody_and_its_link_is_the_button_and_the_text()
    {
        let mailer = Mailer::new(
            sqlx::PgPool::connect_lazy("postgres://nowhere/none").expect("a lazy pool"),
            None,
            Mailbox::parse("Gavel <no-reply@gavel.test>").expect("a mailbox"),
            "https://gavel.test/".into(),
        );
        let lines = vec!["First.".to_owned(), "Last.".to_owned()];
        let link = EmailLink {
            text: "Follow it".into(),
            url: "https://gavel.test/verify-email?token=ab&x=\"><b>".into(),
        };
        let (html, text) = mailer
            .account_body("", "Confirm", &lines, Some(&link))
            .expect("renders");
        assert!(html.contains(">Hello,</p>"), "{html}");
        assert!(
            html.contains(
                "href=\"https://gavel.test/verify-email?token=ab&#38;x=&#34;&#62;&#60;b&#62;\""
            ),
            "{html}"
        );
        assert!(!html.contains("<b>"), "{html}");
        assert!(
            text.starts_with(
                "Hello,\n\nFirst.\n\nFollow it: https://gavel.test/verify-email?token=ab&x=\"><b>\n\nLast.\n"
            ),
            "{text}"
        );
    }
}
