-- Photos of a lot: up to 8, each re-encoded by the API from what the seller
-- uploaded (checked by content), at two sizes. Never changed once stored, so
-- they are served with year-long cache headers.
CREATE TABLE auction_images (
    auction_id UUID NOT NULL REFERENCES auctions (id) ON DELETE CASCADE,
    position   SMALLINT NOT NULL CHECK (position BETWEEN 1 AND 8),
    thumb      BYTEA NOT NULL,
    display    BYTEA NOT NULL,
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (auction_id, position)
);
