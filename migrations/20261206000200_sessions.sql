-- Sessions: every sign-in (API login, sign-up, the page's forms) starts one,
-- and its tokens carry its id (`sid`). Signing out ends it, so a copied
-- cookie or token stops working while the user's other sessions go on.
-- Rows past their expiry are pruned as new sessions are made.
CREATE TABLE sessions (
    id         UUID PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    ended_at   TIMESTAMPTZ
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
