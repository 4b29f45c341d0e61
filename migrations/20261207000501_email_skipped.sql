-- An optional notice its recipient has switched off when it was due is kept
-- as `skipped` (never handed to Brevo): a retried send finds it settled and
-- does not send it later.
ALTER TABLE emails DROP CONSTRAINT emails_status_check;
ALTER TABLE emails ADD CONSTRAINT emails_status_check
    CHECK (status IN ('pending', 'sent', 'recorded', 'failed', 'skipped'));
