-- A new auction's workflow plans no ending-soon check until someone waits
-- (the first watch signals it, an outbid asks for a check), so a schedule
-- row the API makes before the first check says "nobody waits" (NULL): the
-- watch that made it then signals the workflow. A run of 0.1.0 never
-- checks, so its row stays NULL and each watch signals it: the signal only
-- grows its history (it sends no alerts), and once Temporal suggests it,
-- wakes the run to continue as new into 0.2. A run that continued a 0.1.0
-- run plans a check 7 days before the end; the first signal brings that
-- check forward.
ALTER TABLE ending_soon_schedules ALTER COLUMN next_lead_secs DROP DEFAULT;
