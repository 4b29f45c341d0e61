-- Watchlists and "ending soon" alerts (issue 24, part 4).

-- The lots an account watches: shown on /me with live prices, and each gets
-- an "ending soon" email (unless the account turned watched_lots off).
CREATE TABLE watchlist (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auction_id uuid NOT NULL REFERENCES auctions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, auction_id)
);
CREATE INDEX watchlist_by_auction ON watchlist (auction_id, user_id);

-- Every "ending soon" alert sent: at most one per lot and person, whatever
-- retries, extensions and new runs of the auction's workflow do. `reason` is
-- the notice kind the person gets it as (a bidder not leading, a watcher).
CREATE TABLE ending_soon_alerts (
    auction_id uuid NOT NULL REFERENCES auctions (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason     text NOT NULL CHECK (reason IN ('ending_soon', 'watched_lots')),
    sent_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (auction_id, user_id)
);

-- What each auction's alert timer waits for: the longest lead among the
-- people still waiting for their alert (NULL: nobody). Before the first
-- check it is the longest lead anyone may choose (7 days). The API reads it
-- (after a new watch) to signal the workflow only when the new watcher's
-- alert falls before the planned check; the check writes it under the
-- row's lock, so a watch is either seen by the check or sees its result.
CREATE TABLE ending_soon_schedules (
    auction_id     uuid PRIMARY KEY REFERENCES auctions (id) ON DELETE CASCADE,
    next_lead_secs integer DEFAULT 604800,
    checked_at     timestamptz NOT NULL DEFAULT now()
);
