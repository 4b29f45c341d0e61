-- Each photo gets its own id, so a seller can remove and reorder photos: a
-- photo's URL names the photo (and is cached for a year), while `position`
-- only orders a lot's photos, 1..n with no gaps.
ALTER TABLE auction_images ADD COLUMN id UUID NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE auction_images DROP CONSTRAINT auction_images_pkey;
ALTER TABLE auction_images ADD PRIMARY KEY (id);
-- Checked at commit, so one transaction can swap two photos' positions.
ALTER TABLE auction_images ADD CONSTRAINT auction_images_position_key
    UNIQUE (auction_id, position) DEFERRABLE INITIALLY DEFERRED;
