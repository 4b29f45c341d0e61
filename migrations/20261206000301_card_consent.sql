-- A card is kept for later wins only when its buyer asked: the answer is
-- recorded on the invoice when the buyer asks to pay, and a kept card says
-- when its owner agreed. Cards kept before (without asking) are never
-- charged or shown again; they carry no consent.
ALTER TABLE invoices ADD COLUMN save_card BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE payment_authorizations ADD COLUMN id BIGSERIAL UNIQUE;
ALTER TABLE payment_authorizations ADD COLUMN consented_at TIMESTAMPTZ;
