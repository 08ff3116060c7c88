-- 0014_workflow_duration_cap (SQLite; PostgreSQL: 0015_workflow_duration_cap)
--
-- The seed's calc_workflow_duration (0001) sets workflows.duration_ms to the
-- milliseconds from started_at to completed_at when a workflow completes. For a
-- workflow that ran longer than 2^31 - 1 ms (24.8 days) that value fails the
-- column's CHECK (the INTEGER range PostgreSQL's column has), so the UPDATE that
-- completes it failed: the engine's last completion was refused and the
-- workflow ended failed although every task had succeeded. The duration is now
-- capped at 2147483647, as the engine caps the durations it computes itself
-- (TIA__LITE_DURATION). No BEGIN/COMMIT here: the migration runner wraps each
-- file in a transaction.
DROP TRIGGER calc_workflow_duration;

CREATE TRIGGER calc_workflow_duration
    AFTER UPDATE ON workflows
    FOR EACH ROW
    WHEN NEW.status = 'completed' AND NEW.started_at IS NOT NULL
BEGIN
    UPDATE workflows
    SET duration_ms = MIN(CAST(round((NEW.completed_at - NEW.started_at) / 1000.0) AS INTEGER),
                          2147483647)
    WHERE id = NEW.id;
END;
