-- An account email Brevo refused for good (or that was still not handed over
-- after its last attempt) is `failed`, not left `pending` for ever: the
-- person asks again (a new verification link, a new reset).
ALTER TABLE emails DROP CONSTRAINT emails_status_check;
ALTER TABLE emails ADD CONSTRAINT emails_status_check
    CHECK (status IN ('pending', 'sent', 'recorded', 'failed'));
