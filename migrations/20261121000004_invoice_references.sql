-- Every Paystack reference an invoice has used (a stored-card charge, then a
-- pay link, or a fresh link after a lost answer), so a webhook for any of
-- them finds its invoice. invoices.reference stays the current one.
CREATE TABLE invoice_references (
    reference  TEXT PRIMARY KEY,
    invoice_id UUID NOT NULL REFERENCES invoices (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX invoice_references_by_invoice ON invoice_references (invoice_id);

INSERT INTO invoice_references (reference, invoice_id)
SELECT reference, id FROM invoices
ON CONFLICT DO NOTHING;
