-- Verified email and password reset (issue 24, parts 1 and 2).
--
-- An account's address is verified when its owner follows the link Gavel
-- emailed; until then the account may browse and watch but not bid or sell
-- (unless GAVEL_REQUIRE_VERIFIED_EMAIL is off). Accounts made before this
-- migration were never asked: they count as verified from their creation.
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMPTZ;
UPDATE users SET email_verified_at = created_at;

-- Single-use tokens emailed to an account: only their SHA-256 is kept, so
-- a copy of this table opens nothing. A token is used up (`used_at`) by the
-- step it allows, or revoked (also `used_at`) when a newer step makes it
-- stale (a password reset revokes every older reset token).
CREATE TABLE account_tokens (
    token_hash BYTEA PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX account_tokens_by_user ON account_tokens (user_id, purpose);
