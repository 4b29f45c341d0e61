-- Paystack's reference for a refund as its events name it (`refund_reference`:
-- the processor's or transfer's reference, not the refund's id), kept once an
-- event is matched to the refund: a later event naming it finds that refund
-- and no other.
ALTER TABLE refunds ADD COLUMN paystack_reference TEXT;
CREATE UNIQUE INDEX refunds_one_per_paystack_reference ON refunds (payment_id, paystack_reference)
    WHERE paystack_reference IS NOT NULL;
