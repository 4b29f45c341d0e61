-- Sellers get paid. After a sale is paid for, the buyer's money is held by
-- Gavel until the lot has arrived (or a claim about it is settled), then the
-- seller is paid the hammer price less refunds and commission by a Paystack
-- transfer. Deadlines are kept by each sale's workflow; every change of
-- stage below is one conditional UPDATE, so a person's action and a
-- deadline racing it cannot both win.

-- Commission, fixed on the auction when it is listed: a later change of the
-- house's settings never changes a running sale. Basis points (1000 = 10 %).
ALTER TABLE auctions ADD COLUMN commission_bps INTEGER NOT NULL DEFAULT 1000
    CHECK (commission_bps BETWEEN 0 AND 10000);
ALTER TABLE auctions ADD COLUMN commission_min BIGINT NOT NULL DEFAULT 0
    CHECK (commission_min >= 0);

-- An invoice whose lot was never shipped ends refunded in full.
ALTER TABLE invoices DROP CONSTRAINT invoices_status_check;
ALTER TABLE invoices ADD CONSTRAINT invoices_status_check
    CHECK (status IN ('offered', 'open', 'paid', 'void', 'declined', 'expired',
                      'cancelled_unshipped'));
-- Paystack resolved the dispute (the payout it held may go ahead).
ALTER TABLE invoices ADD COLUMN dispute_resolved_at TIMESTAMPTZ;

-- A seller who let a paid lot go unshipped. Counted like a buyer's strikes:
-- at the limit, within the same time-to-live, listing is refused.
CREATE TABLE seller_strikes (
    invoice_id UUID PRIMARY KEY REFERENCES invoices (id),
    user_id    UUID NOT NULL REFERENCES users (id),
    auction_id UUID NOT NULL REFERENCES auctions (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    cleared_at TIMESTAMPTZ,
    cleared_by UUID
);
CREATE INDEX seller_strikes_active_by_user ON seller_strikes (user_id, created_at DESC)
    WHERE cleared_at IS NULL;

-- One row per paid invoice: where the lot is and where its money is.
CREATE TABLE sales (
    invoice_id     UUID PRIMARY KEY REFERENCES invoices (id),
    -- The payout's public number (`/api/v1/admin/payouts/{id}`).
    payout_id      BIGSERIAL NOT NULL UNIQUE,
    auction_id     UUID NOT NULL REFERENCES auctions (id),
    seller_id      UUID NOT NULL REFERENCES users (id),
    buyer_id       UUID NOT NULL REFERENCES users (id),
    currency       TEXT NOT NULL,
    -- What the buyer paid (the invoice's total), minor units.
    hammer         BIGINT NOT NULL CHECK (hammer > 0),
    commission_bps INTEGER NOT NULL,
    commission_min BIGINT NOT NULL,
    -- awaiting_shipment → shipped → received → closed (claims closed, the
    -- payout under way); or awaiting_shipment → cancelled_unshipped.
    stage          TEXT NOT NULL DEFAULT 'awaiting_shipment'
        CHECK (stage IN ('awaiting_shipment', 'shipped', 'received', 'closed',
                         'cancelled_unshipped')),
    -- Deadlines as the sale's workflow set them (shown to people; the
    -- workflow's timers enforce them).
    ship_by        TIMESTAMPTZ NOT NULL,
    receipt_assumed_at TIMESTAMPTZ,
    claims_until   TIMESTAMPTZ,
    shipped_at     TIMESTAMPTZ,
    carrier        TEXT,
    tracking       TEXT,
    received_at    TIMESTAMPTZ,
    -- The buyer did not confirm; the delivery window passed.
    receipt_assumed BOOLEAN NOT NULL DEFAULT false,
    -- held → scheduled → sending → (otp →) paid; failed after the last
    -- attempt; cancelled when nothing is left to pay (refunded in full,
    -- never shipped).
    payout_state   TEXT NOT NULL DEFAULT 'held'
        CHECK (payout_state IN ('held', 'scheduled', 'sending', 'otp', 'paid', 'failed',
                                'cancelled')),
    -- Why a held payout waits: `journey` (the lot is on its way or claims
    -- are open), `claim`, `dispute`, `no_payout_account`, `balance`.
    held_reason    TEXT,
    -- Fixed when the payout is scheduled: hammer − refunds − commission = payout.
    refunded       BIGINT,
    commission     BIGINT CHECK (commission >= 0),
    payout         BIGINT CHECK (payout >= 0),
    attempts       INTEGER NOT NULL DEFAULT 0,
    paid_out_at    TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX sales_by_seller ON sales (seller_id, created_at DESC);
CREATE INDEX sales_by_buyer ON sales (buyer_id, created_at DESC);
CREATE INDEX sales_by_payout_state ON sales (payout_state, updated_at DESC);

-- One Paystack transfer per payout attempt. The reference is derived from
-- the invoice and the attempt and written before Paystack is asked, so a
-- retry of the attempt after any crash sends the same reference (Paystack
-- refuses a second transfer with it) and can never pay twice.
CREATE TABLE payout_transfers (
    reference      TEXT PRIMARY KEY CHECK (reference ~ '^[a-z0-9_-]{16,50}$'),
    invoice_id     UUID NOT NULL REFERENCES sales (invoice_id),
    attempt        INTEGER NOT NULL CHECK (attempt >= 1),
    amount         BIGINT NOT NULL CHECK (amount > 0),
    currency       TEXT NOT NULL,
    recipient_code TEXT NOT NULL,
    transfer_code  TEXT,
    -- `new` until Paystack answered; then Paystack's word (pending, otp,
    -- received, success, failed, reversed, abandoned, blocked, rejected).
    status         TEXT NOT NULL DEFAULT 'new',
    fee            BIGINT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (invoice_id, attempt)
);

-- A buyer's claim about a sale (one per sale); the seller answers, an admin
-- decides what is contested or unanswered.
CREATE TABLE claims (
    id            BIGSERIAL PRIMARY KEY,
    invoice_id    UUID NOT NULL UNIQUE REFERENCES sales (invoice_id),
    buyer_id      UUID NOT NULL REFERENCES users (id),
    reason        TEXT NOT NULL,
    -- What the buyer asks back (NULL: all of it).
    amount        BIGINT CHECK (amount > 0),
    state         TEXT NOT NULL DEFAULT 'open'
        CHECK (state IN ('open', 'accepted', 'contested', 'unanswered', 'decided')),
    answer_by     TIMESTAMPTZ,
    -- What was given back, once settled (0: nothing).
    refund_amount BIGINT CHECK (refund_amount >= 0),
    refund_id     BIGINT REFERENCES refunds (id),
    answered_at   TIMESTAMPTZ,
    decided_by    UUID REFERENCES users (id),
    decided_at    TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The bank account a seller is paid into: `pending` once Paystack resolved
-- its name, `confirmed` (with Paystack's transfer recipient) once the seller
-- confirmed that name. A new account replaces the old only when confirmed.
CREATE TABLE payout_accounts (
    user_id        UUID NOT NULL REFERENCES users (id),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'confirmed')),
    currency       TEXT NOT NULL,
    bank_code      TEXT NOT NULL,
    bank_name      TEXT NOT NULL,
    account_number TEXT NOT NULL,
    account_name   TEXT NOT NULL,
    recipient_code TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, state),
    CHECK (state = 'pending' OR recipient_code IS NOT NULL)
);
