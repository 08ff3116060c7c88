-- 0015_workflow_duration_cap (PostgreSQL; SQLite: 0014_workflow_duration_cap)
--
-- The seed's calculate_workflow_duration (0001) sets workflows.duration_ms, an
-- INTEGER, to the milliseconds from started_at to completed_at when a workflow
-- completes. For a workflow that ran longer than 2^31 - 1 ms (24.8 days) that
-- value is out of the column's range, so the UPDATE that completes it failed
-- ("integer out of range"): the engine's last completion was refused and the
-- workflow ended failed although every task had succeeded, and `tokyoia
-- workflows status ID completed` could not complete it. The duration is now
-- capped at 2147483647, as the engine caps the durations it computes itself
-- (TIA__PG_DURATION). Same function name and trigger: only its body changes.
CREATE OR REPLACE FUNCTION calculate_workflow_duration()
RETURNS TRIGGER AS $$
BEGIN
    IF NEW.status = 'completed' AND NEW.started_at IS NOT NULL THEN
        -- Not LEAST, which would turn the NULL of a NULL completed_at into the cap.
        NEW.duration_ms = CASE
            WHEN EXTRACT(EPOCH FROM (NEW.completed_at - NEW.started_at)) * 1000 > 2147483647
            THEN 2147483647
            ELSE EXTRACT(EPOCH FROM (NEW.completed_at - NEW.started_at)) * 1000 END;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
