-- A saved search's digest names only lots that can still be bid on, so a
-- search filtered on any other status would never find one: the API refuses
-- it (422 `status_not_saveable`), and the table holds the same rule. Rows
-- saved before the rule found nothing and never would: they go.
DELETE FROM saved_searches WHERE status IS NOT NULL AND status NOT IN ('open', 'scheduled');
ALTER TABLE saved_searches
    ADD CONSTRAINT saved_searches_status_biddable
    CHECK (status IS NULL OR status IN ('open', 'scheduled'));
