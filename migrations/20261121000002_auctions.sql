-- The auction read model. The workflow is the authority; these rows are what
-- it published (upserts by revision), plus what the API wrote at creation.
-- No foreign keys to users on the bidding side: the read model must accept
-- whatever the workflow decided, even a bid an operator signalled by hand.
CREATE TABLE auctions (
    id                          UUID PRIMARY KEY,
    seller_id                   UUID NOT NULL,
    title                       TEXT NOT NULL,
    description                 TEXT NOT NULL,
    currency                    TEXT NOT NULL,
    starting_price              BIGINT NOT NULL,
    -- Hidden from everyone but the seller; only reserve_met is public.
    reserve_price               BIGINT,
    buy_now_price               BIGINT,
    min_increment               BIGINT,
    anti_sniping_window_secs    INTEGER NOT NULL,
    anti_sniping_extension_secs INTEGER NOT NULL,
    hard_close_at               TIMESTAMPTZ,
    starts_at                   TIMESTAMPTZ NOT NULL,
    ends_at                     TIMESTAMPTZ NOT NULL,
    status                      TEXT NOT NULL CHECK (status IN ('scheduled', 'open', 'closed',
                                    'awaiting_payment', 'settled', 'no_sale', 'unsold', 'cancelled')),
    current_price               BIGINT,
    reserve_met                 BOOLEAN NOT NULL DEFAULT false,
    leader_id                   UUID,
    bid_count                   BIGINT NOT NULL DEFAULT 0,
    buy_now_available           BOOLEAN NOT NULL DEFAULT false,
    outcome                     JSONB,
    -- Last published workflow revision; older snapshots are ignored.
    revision                    BIGINT NOT NULL DEFAULT 0,
    -- Fingerprint of the create request, so a retried create with the same
    -- Idempotency-Key but another body is refused.
    create_fingerprint          TEXT,
    created_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at                  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX auctions_listing ON auctions (created_at DESC, id DESC);
CREATE INDEX auctions_by_status ON auctions (status, created_at DESC, id DESC);
CREATE INDEX auctions_by_seller ON auctions (seller_id, created_at DESC, id DESC);

-- Accepted bids with the verdict each got (a retried request is answered
-- from here once the workflow has forgotten it).
CREATE TABLE bids (
    id              UUID PRIMARY KEY,
    auction_id      UUID NOT NULL REFERENCES auctions (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    bidder_id       UUID NOT NULL,
    amount          BIGINT NOT NULL,
    -- The bidder's proxy ceiling: never shown to anyone else.
    max_amount      BIGINT NOT NULL,
    price_after     BIGINT NOT NULL,
    standing        TEXT NOT NULL CHECK (standing IN ('leading', 'outbid')),
    ends_at_after   TIMESTAMPTZ NOT NULL,
    extended        BOOLEAN NOT NULL,
    bought_now      BOOLEAN NOT NULL,
    reserve_met     BOOLEAN NOT NULL,
    idempotency_key TEXT NOT NULL,
    placed_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (auction_id, seq),
    UNIQUE (auction_id, idempotency_key)
);

-- Live events for SSE; (auction_id, seq) is the event id a client resumes from.
CREATE TABLE auction_events (
    auction_id UUID NOT NULL REFERENCES auctions (id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    data       JSONB NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (auction_id, seq)
);
