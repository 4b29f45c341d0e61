-- Refunds are rows of their own under a payment: several (partial) refunds
-- per payment, each moving only forward (requested → pending → processing →
-- processed | failed), their amounts never more than the payment, and the
-- payment's state derived from them.

-- Whether the payment paid its invoice (it may still be partly or wholly
-- refunded later); money that could not pay its invoice is given back whole.
ALTER TABLE payments ADD COLUMN pays_invoice BOOLEAN NOT NULL DEFAULT true;
-- A refunding payment with a reason could not pay its invoice; one without
-- a reason was a kept payment that a refund event moved.
UPDATE payments SET pays_invoice = false
 WHERE state <> 'kept' AND refund_reason IS NOT NULL;

ALTER TABLE payments DROP CONSTRAINT payments_state_check;
ALTER TABLE payments ADD CONSTRAINT payments_state_check
    CHECK (state IN ('kept', 'partly_refunded', 'refunding', 'refunded', 'refund_failed'));
DROP INDEX payments_one_kept_per_invoice;
CREATE UNIQUE INDEX payments_one_kept_per_invoice ON payments (invoice_id) WHERE pays_invoice;

CREATE TABLE refunds (
    id BIGSERIAL PRIMARY KEY,
    payment_id BIGINT NOT NULL REFERENCES payments (id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    reason TEXT NOT NULL,
    -- `requested` until Paystack has answered the refund request.
    state TEXT NOT NULL DEFAULT 'requested'
        CHECK (state IN ('requested', 'pending', 'processing', 'processed', 'failed')),
    -- Paystack's own word for it (`needs-attention` included).
    paystack_status TEXT,
    paystack_refund_id BIGINT,
    -- The admin who asked; NULL when Gavel refunds money it could not keep.
    asked_by UUID REFERENCES users (id),
    -- The admin's Idempotency-Key: a retried request finds its refund.
    idempotency_key TEXT,
    -- Set before Paystack is asked, so a retry after a lost answer looks first.
    requested_at TIMESTAMPTZ,
    processed_at TIMESTAMPTZ,
    failed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (payment_id, idempotency_key)
);
CREATE INDEX refunds_by_payment ON refunds (payment_id, id);

-- A refund's place on its one-way road.
CREATE FUNCTION refund_rank(state TEXT) RETURNS INT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE state WHEN 'requested' THEN 0 WHEN 'pending' THEN 1 WHEN 'processing' THEN 2
                      ELSE 3 END
$$;

-- Guards every change to refunds: amounts add up (checked with the payment
-- locked, so two refunds racing cannot both fit) and states never go back.
CREATE FUNCTION refunds_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    paid BIGINT;
    taken BIGINT;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.payment_id <> OLD.payment_id OR NEW.amount <> OLD.amount THEN
            RAISE EXCEPTION 'a refund''s payment and amount never change' USING ERRCODE = 'check_violation';
        END IF;
        IF refund_rank(OLD.state) = 3 AND NEW.state <> OLD.state THEN
            RAISE EXCEPTION 'refund % is % and stays so', OLD.id, OLD.state USING ERRCODE = 'check_violation';
        END IF;
        IF refund_rank(NEW.state) < refund_rank(OLD.state) THEN
            RAISE EXCEPTION 'refund % cannot go back from % to %', OLD.id, OLD.state, NEW.state
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    SELECT amount INTO paid FROM payments WHERE id = NEW.payment_id FOR UPDATE;
    SELECT COALESCE(sum(amount), 0) INTO taken FROM refunds
     WHERE payment_id = NEW.payment_id AND state <> 'failed';
    IF NEW.state <> 'failed' AND taken + NEW.amount > paid THEN
        RAISE EXCEPTION 'refunds of payment % would come to % of %', NEW.payment_id,
            taken + NEW.amount, paid USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER refunds_guard BEFORE INSERT OR UPDATE ON refunds
    FOR EACH ROW EXECUTE FUNCTION refunds_guard();

-- The payment's state, from whether it paid its invoice and its refunds:
-- a payment that paid is `kept` until money actually went back
-- (`partly_refunded`, `refunded`); one that could not pay is `refunding`
-- until its refund is processed (`refunded`) or failed (`refund_failed`).
CREATE FUNCTION payment_refresh(payment BIGINT) RETURNS void LANGUAGE sql AS $$
    WITH r AS (
        SELECT COALESCE(sum(amount) FILTER (WHERE state = 'processed'), 0) AS processed,
               bool_or(refund_rank(state) < 3) AS in_flight,
               bool_or(state = 'failed') AS failed,
               max(processed_at) AS last_processed,
               (array_agg(paystack_status ORDER BY updated_at DESC, id DESC))[1] AS latest
          FROM refunds WHERE payment_id = payment
    )
    UPDATE payments p SET
        state = CASE
            WHEN r.processed >= p.amount THEN 'refunded'
            WHEN p.pays_invoice AND r.processed > 0 THEN 'partly_refunded'
            WHEN p.pays_invoice THEN 'kept'
            WHEN COALESCE(r.in_flight, false) THEN 'refunding'
            WHEN COALESCE(r.failed, false) THEN 'refund_failed'
            ELSE 'refunding' END,
        refund_status = r.latest,
        refunded_at = CASE WHEN r.processed >= p.amount THEN r.last_processed END,
        updated_at = now()
      FROM r WHERE p.id = payment
$$;

CREATE FUNCTION refunds_refresh_payment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM payment_refresh(NEW.payment_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER refunds_refresh_payment AFTER INSERT OR UPDATE ON refunds
    FOR EACH ROW EXECUTE FUNCTION refunds_refresh_payment();

-- Existing refunds become rows: the whole payment, in the state it reached.
INSERT INTO refunds (payment_id, amount, reason, state, paystack_status, paystack_refund_id,
                     requested_at, processed_at, failed_at, created_at, updated_at)
SELECT id, amount, COALESCE(refund_reason, 'refunded on Paystack'),
       CASE WHEN state = 'refunded' THEN 'processed'
            WHEN state = 'refund_failed' THEN 'failed'
            WHEN refund_status IN ('pending', 'processing') THEN refund_status
            WHEN refund_status IS NOT NULL THEN 'pending'
            ELSE 'requested' END,
       refund_status, paystack_refund_id, refund_requested_at,
       CASE WHEN state = 'refunded' THEN COALESCE(refunded_at, updated_at) END,
       CASE WHEN state = 'refund_failed' THEN updated_at END,
       COALESCE(refund_requested_at, verified_at), updated_at
  FROM payments WHERE state <> 'kept' OR refund_status IS NOT NULL;
-- A kept payment that a refund event moved to `refunding` is kept again
-- until the refund is processed (the refresh above derives it).
