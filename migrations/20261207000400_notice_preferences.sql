-- Which notices an account wants. No row means every default: each kind on,
-- ending-soon alerts an hour before the end. Mail a buyer or seller must get
-- (won, invoice, receipt, refund, payout) has no switch here.
CREATE TABLE notice_preferences (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- "You have been outbid" on a lot the account bid on.
    outbid boolean NOT NULL DEFAULT true,
    -- "Ending soon" on a lot the account bid on and is not leading.
    ending_soon boolean NOT NULL DEFAULT true,
    -- "Ending soon" on a lot on the account's watchlist.
    watched_lots boolean NOT NULL DEFAULT true,
    -- The daily digest of new lots matching the account's saved searches.
    saved_search_digest boolean NOT NULL DEFAULT true,
    -- How long before a lot's end its "ending soon" alert goes: 60 s to 7 days.
    ending_soon_lead_secs integer NOT NULL DEFAULT 3600
        CHECK (ending_soon_lead_secs BETWEEN 60 AND 604800),
    updated_at timestamptz NOT NULL DEFAULT now()
);
