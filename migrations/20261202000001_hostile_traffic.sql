-- Bounds against hostile traffic.

-- A token carries the version of its user's credentials; changing the
-- password or the role bumps it, and older tokens stop working.
ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;

-- Fixed-window counters shared by every API replica: login attempts per
-- account+address, per account and per address, sign-ups per address. One
-- upsert counts an attempt and answers whether it is over the limit, so a
-- concurrent burst cannot slip past. Expired windows are deleted as they go.
CREATE TABLE rate_windows (
    key        TEXT PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    count      INTEGER NOT NULL
);
CREATE INDEX rate_windows_started_at ON rate_windows (started_at);

-- Search (`q`) by trigram, so a substring of a title or description is found
-- through an index, not by reading every auction.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX auctions_search ON auctions
    USING gin ((title || ' ' || description) gin_trgm_ops);
