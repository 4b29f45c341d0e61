-- One random key per account, for its unsubscribe links: a link's token is
-- HMAC-SHA256(key, "unsubscribe|<user id>|<kind>"). The worker (which mails)
-- and the API (which honours the link) both read it here, so neither needs
-- the other's secrets; deleting an account's row makes its old links void.
CREATE TABLE unsubscribe_keys (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    key bytea NOT NULL CHECK (octet_length(key) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
