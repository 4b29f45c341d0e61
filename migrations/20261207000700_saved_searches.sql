-- Saved searches (issue 24, part 5): a listing's query and filters an
-- account keeps, and the daily digest of lots newly listed that match them.
--
-- `query`, `status` and `seller_id` are the listing's own filters (`q`,
-- `status`, `seller_id` of `GET /api/v1/auctions` and `/`), checked as the
-- listing checks them; NULL means "any".
CREATE TABLE saved_searches (
    id             UUID PRIMARY KEY,
    user_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    query          TEXT CHECK (char_length(query) BETWEEN 1 AND 100),
    status         TEXT,
    seller_id      UUID,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Lots listed up to this time were considered by a digest already (or
    -- were there when the search was saved): the next digest names only
    -- later ones, so a retried or overlapping run never names a lot twice.
    digested_until TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- One search with the same filters per account.
    CONSTRAINT saved_searches_unique UNIQUE NULLS NOT DISTINCT (user_id, query, status, seller_id)
);
CREATE INDEX saved_searches_by_user ON saved_searches (user_id, created_at);

-- What a digest run stored and has yet to hand to Brevo (a retry sends it).
CREATE INDEX emails_pending_by_recipient ON emails (recipient_id, kind)
    WHERE status = 'pending';
