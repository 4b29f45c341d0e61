//! The last step of every send: a stored email handed to Brevo, then marked
//! sent in `emails`.

use gavel_store::emails::{self, EmailStatus};

use super::{MailError, Mailer};
use crate::brevo::{Brevo, OutgoingEmail, Sent};

impl Mailer {
    /// Hands `outgoing`, stored under `key`, to `brevo` and marks it sent
    /// (with Brevo's message id when it gives one). On a Brevo error the
    /// stored email is left as it was: the caller retries, or marks it
    /// failed when the error [is permanent](crate::brevo::BrevoError::is_permanent).
    pub(super) async fn send_stored(
        &self,
        brevo: &Brevo,
        key: &str,
        outgoing: &OutgoingEmail,
    ) -> Result<(), MailError> {
        let message_id = match brevo.send(outgoing).await? {
            Sent::Accepted { message_id } => Some(message_id),
            // Brevo returns no id for a send an earlier attempt got through.
            Sent::AlreadyAccepted => None,
        };
        emails::mark(&self.db, key, EmailStatus::Sent, message_id).await?;
        Ok(())
    }
}
