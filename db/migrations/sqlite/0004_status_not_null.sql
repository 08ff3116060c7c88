-- 0004_status_not_null (SQLite)
--
-- The seed's status CHECKs let NULL through; every status column becomes NOT NULL
-- (see the PostgreSQL file for why). Rows that had NULL get the column's default.
-- SQLite cannot add NOT NULL to an existing column, so BEFORE triggers refuse NULL
-- with SQLite's own words for it ('NOT NULL constraint failed: <table>.status').
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

UPDATE agents SET status = 'active' WHERE status IS NULL;
UPDATE workflows SET status = 'pending' WHERE status IS NULL;
UPDATE agent_tasks SET status = 'pending' WHERE status IS NULL;
UPDATE user_sessions SET status = 'active' WHERE status IS NULL;

CREATE TRIGGER agents_status_not_null_insert
    BEFORE INSERT ON agents
    FOR EACH ROW
    WHEN NEW.status IS NULL
BEGIN
    SELECT RAISE(ABORT, 'NOT NULL constraint failed: agents.status');
END;

CREATE TRIGGER agents_status_not_null_update
    BEFORE UPDATE OF status ON agents
    FOR EACH ROW
    WHEN NEW.status IS NULL
BEGIN
    SELECT RAISE(ABORT, 'NOT NULL constraint failed: agents.status');
END;

CREATE TRIGGER workflows_status_not_null_insert
    BEFORE INSERT ON workflows
    FOR EACH ROW
    WHEN NEW.status IS NULL
BEGIN
    SELECT RAISE(ABORT, 'NOT NULL constraint failed: workflows.status');
END;

CREATE TRIGGER workflows_status_not_null_update
    BEFORE UPDATE OF status ON workflows
    FOR EACH ROW
    WHEN NEW.status IS NULL
BEGIN
    SELECT RAISE(ABORT, 'NOT NULL constraint failed: workflows.status');
END;

CREATE TRIGGER agent_tasks_status_not_null_insert
    BEFORE INSERT ON agent_tasks
    FOR EACH ROW
    WHEN NEW.status IS NULL
BEGIN
    SELECT RAISE(ABORT, 'NOT NULL constraint failed: agent_tasks.status');
END;

CREATE TRIGGER agent_tasks_status_not_null_update
    BEFORE UPDATE OF status ON agent_tasks
    FOR EACH ROW
    WHEN NEW.status IS NULL
BEGIN
    SELECT RAISE(ABORT, 'NOT NULL constraint failed: agent_tasks.status');
END;

CREATE TRIGGER user_sessions_status_not_null_insert
    BEFORE INSERT ON user_sessions
    FOR EACH ROW
    WHEN NEW.status IS NULL
BEGIN
    SELECT RAISE(ABORT, 'NOT NULL constraint failed: user_sessions.status');
END;

CREATE TRIGGER user_sessions_status_not_null_update
    BEFORE UPDATE OF status ON user_sessions
    FOR EACH ROW
    WHEN NEW.status IS NULL
BEGIN
    SELECT RAISE(ABORT, 'NOT NULL constraint failed: user_sessions.status');
END;
