-- Your data (issue 24, part 6): an account deleted by its owner keeps its
-- row, pseudonymised (email, name and handle replaced, the password
-- unusable), so bids and invoices kept for the books still point at it.
-- `deleted_at` says when; such a row never signs in again.
ALTER TABLE users ADD COLUMN deleted_at TIMESTAMPTZ;
