-- Settlement: invoices per (auction, offer round), Paystack events and
-- payments, stored card authorizations, strikes, and every email.

CREATE TABLE invoices (
    id                UUID PRIMARY KEY,
    auction_id        UUID NOT NULL REFERENCES auctions (id),
    round             INTEGER NOT NULL CHECK (round >= 1),
    number            TEXT NOT NULL UNIQUE,
    buyer_id          UUID NOT NULL,
    seller_id         UUID NOT NULL,
    currency          TEXT NOT NULL,
    -- Minor units; equals the sum of line_items' amounts.
    total             BIGINT NOT NULL CHECK (total > 0),
    line_items        JSONB NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('open', 'paid', 'void')),
    -- The Paystack reference: deterministic from the invoice, [A-Za-z0-9.=-].
    reference         TEXT NOT NULL UNIQUE,
    authorization_url TEXT,
    due_at            TIMESTAMPTZ NOT NULL,
    paid_at           TIMESTAMPTZ,
    -- 'paystack' or 'offline'.
    paid_via          TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (auction_id, round)
);
CREATE INDEX invoices_by_buyer ON invoices (buyer_id, created_at DESC);
CREATE INDEX invoices_by_seller ON invoices (seller_id, created_at DESC);

-- One verified payment per invoice: a second verification changes nothing.
CREATE TABLE payments (
    invoice_id    UUID PRIMARY KEY REFERENCES invoices (id),
    reference     TEXT NOT NULL,
    paystack_id   BIGINT,
    amount        BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    channel       TEXT NOT NULL,
    verified_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Webhook deliveries, once each (Paystack redelivers for up to 72 hours).
CREATE TABLE paystack_events (
    id          BIGSERIAL PRIMARY KEY,
    event       TEXT NOT NULL,
    reference   TEXT NOT NULL,
    body        JSONB NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (event, reference)
);

-- Reusable cards, one row per (user, card signature); the email is the one
-- Paystack bound the authorization to.
CREATE TABLE payment_authorizations (
    user_id            UUID NOT NULL,
    signature          TEXT NOT NULL,
    authorization_code TEXT NOT NULL,
    email              TEXT NOT NULL,
    last4              TEXT,
    brand              TEXT,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, signature)
);

-- A winner who did not pay in time.
CREATE TABLE strikes (
    invoice_id UUID PRIMARY KEY REFERENCES invoices (id),
    user_id    UUID NOT NULL,
    auction_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX strikes_by_user ON strikes (user_id);

-- Every email, sent through Brevo or only recorded (no BREVO_API_KEY).
CREATE TABLE emails (
    id              UUID PRIMARY KEY,
    -- (auction, kind, recipient, round): the same email is never sent twice.
    idempotency_key TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    recipient_id    UUID,
    recipient_email TEXT NOT NULL,
    auction_id      UUID,
    round           INTEGER NOT NULL DEFAULT 0,
    subject         TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'recorded')),
    message_id      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at         TIMESTAMPTZ
);
CREATE INDEX emails_by_auction ON emails (auction_id, kind);
