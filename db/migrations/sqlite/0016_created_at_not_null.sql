-- 0016_created_at_not_null (SQLite; see PostgreSQL's 0017_created_at_not_null
-- for why)
--
-- workflows.created_at and agent_tasks.created_at hold no NULL: a row that had
-- one gets the earliest time it has (started_at, else completed_at, else the
-- migration's time). SQLite cannot add NOT NULL to an existing column, so BEFORE
-- triggers refuse NULL with SQLite's own words for it, as 0004 does for the
-- statuses. The workflows' updated_at trigger is set aside while their creation
-- time is filled in, which is not an update of the workflow.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

DROP TRIGGER update_workflows_updated_at;

UPDATE workflows SET created_at = COALESCE(started_at, completed_at,
    CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000)
WHERE created_at IS NULL;

CREATE TRIGGER update_workflows_updated_at
    AFTER UPDATE ON workflows
    FOR EACH ROW
BEGIN
    UPDATE workflows SET updated_at = (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000) WHERE id = NEW.id;
END;

UPDATE agent_tasks SET created_at = COALESCE(started_at, completed_at,
    CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000)
WHERE created_at IS NULL;

CREATE TRIGGER workflows_created_at_not_null_insert
    BEFORE INSERT ON workflows
    FOR EACH ROW
    WHEN NEW.created_at IS NULL
BEGIN
    SELECT RAISE(ABORT, 'NOT NULL constraint failed: workflows.created_at');
END;

CREATE TRIGGER workflows_created_at_not_null_update
    BEFORE UPDATE OF created_at ON workflows
    FOR EACH ROW
    WHEN NEW.created_at IS NULL
BEGIN
    SELECT RAISE(ABORT, 'NOT NULL constraint failed: workflows.created_at');
END;

CREATE TRIGGER agent_tasks_created_at_not_null_insert
    BEFORE INSERT ON agent_tasks
    FOR EACH ROW
    WHEN NEW.created_at IS NULL
BEGIN
    SELECT RAISE(ABORT, 'NOT NULL constraint failed: agent_tasks.created_at');
END;

CREATE TRIGGER agent_tasks_created_at_not_null_update
    BEFORE UPDATE OF created_at ON agent_tasks
    FOR EACH ROW
    WHEN NEW.created_at IS NULL
BEGIN
    SELECT RAISE(ABORT, 'NOT NULL constraint failed: agent_tasks.created_at');
END;
