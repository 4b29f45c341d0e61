-- The money rules: consent-based second-chance offers, every verified payment
-- accounted for (kept or refunded), disputes, strikes that expire and can be
-- cleared, and Paystack events deduplicated by their own id.

-- Sellers may turn second-chance offers off.
ALTER TABLE auctions ADD COLUMN second_chance_offers BOOLEAN NOT NULL DEFAULT true;

-- Invoices: an offer waits for its answer (`offered`), then is `open`; it
-- ends `paid`, `void` (unpaid in time), `declined` or `expired` (an offer
-- nobody took up).
ALTER TABLE invoices DROP CONSTRAINT invoices_status_check;
ALTER TABLE invoices ADD CONSTRAINT invoices_status_check
    CHECK (status IN ('offered', 'open', 'paid', 'void', 'declined', 'expired'));
ALTER TABLE invoices ADD COLUMN accepted_at TIMESTAMPTZ;
-- A buyer disputed (charged back) the payment of this invoice.
ALTER TABLE invoices ADD COLUMN disputed_at TIMESTAMPTZ;

-- Payments: every verified payment is a row, whether it paid its invoice
-- (`kept`) or could not and is given back (`refunding` → `refunded`, or
-- `refund_failed` for an admin to settle by hand).
ALTER TABLE payments DROP CONSTRAINT payments_pkey;
ALTER TABLE payments ADD COLUMN id BIGSERIAL PRIMARY KEY;
ALTER TABLE payments ADD COLUMN state TEXT NOT NULL DEFAULT 'kept'
    CHECK (state IN ('kept', 'refunding', 'refunded', 'refund_failed'));
-- Why money could not be kept (void invoice, already paid, other amount).
ALTER TABLE payments ADD COLUMN refund_reason TEXT;
-- Set before asking Paystack for a refund, so a retry after a lost answer
-- looks for the refund instead of asking twice.
ALTER TABLE payments ADD COLUMN refund_requested_at TIMESTAMPTZ;
ALTER TABLE payments ADD COLUMN paystack_refund_id BIGINT;
ALTER TABLE payments ADD COLUMN refund_status TEXT;
ALTER TABLE payments ADD COLUMN refunded_at TIMESTAMPTZ;
ALTER TABLE payments ADD COLUMN disputed_at TIMESTAMPTZ;
ALTER TABLE payments ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT now();
-- Offline payments used the admin's id as their reference; make them the
-- invoice's, which is unique.
UPDATE payments SET reference = 'offline-' || invoice_id WHERE channel = 'offline';
CREATE UNIQUE INDEX payments_reference_key ON payments (reference);
-- An invoice is paid by at most one payment.
CREATE UNIQUE INDEX payments_one_kept_per_invoice ON payments (invoice_id) WHERE state = 'kept';
CREATE INDEX payments_by_state ON payments (state, verified_at DESC);

-- Strikes count for a while and an admin may clear them.
ALTER TABLE strikes ADD COLUMN cleared_at TIMESTAMPTZ;
ALTER TABLE strikes ADD COLUMN cleared_by UUID;
CREATE INDEX strikes_active_by_user ON strikes (user_id, created_at DESC) WHERE cleared_at IS NULL;

-- Paystack events: deduplicated by Paystack's own id for the event's object
-- (or reference and status when it has none), so two different events for one
-- reference are both kept.
ALTER TABLE paystack_events ADD COLUMN event_key TEXT;
UPDATE paystack_events SET event_key = reference;
ALTER TABLE paystack_events ALTER COLUMN event_key SET NOT NULL;
ALTER TABLE paystack_events DROP CONSTRAINT paystack_events_event_reference_key;
ALTER TABLE paystack_events ADD CONSTRAINT paystack_events_event_key_key UNIQUE (event, event_key);
CREATE INDEX paystack_events_by_reference ON paystack_events (reference);

-- Emails: `round` is the offer round (0 outside settlement); `occasion`
-- is what made the email unique (the bid number of an outbid notice).
ALTER TABLE emails ADD COLUMN occasion BIGINT NOT NULL DEFAULT 0;
UPDATE emails SET occasion = round;
UPDATE emails SET round = 0 WHERE kind = 'outbid';

-- Without a reserve there is nothing to meet (rows written at creation said
-- otherwise until their first publication).
UPDATE auctions SET reserve_met = true WHERE reserve_price IS NULL AND NOT reserve_met;
