-- 0017_created_at_not_null (PostgreSQL; SQLite: 0016_created_at_not_null)
--
-- Lists of workflows and tasks are read newest first by pages whose cursor is
-- the last row's (created_at, id) (src/store/cursor.c). The seed's created_at
-- columns have a default but allow NULL, and a row whose created_at was set to
-- NULL by hand could never be paged to: (NULL, id) < (cursor) is NULL, so every
-- page after the first left it out (and its place in the order differed between
-- PostgreSQL, NULLs first, and SQLite, NULLs last). No path of the library
-- writes a NULL created_at. The two columns become NOT NULL, as 0004 did for the
-- statuses; a row that had NULL gets the earliest time it has (started_at, else
-- completed_at, else the migration's time), so it pages in its place and, for a
-- task, enters the windows and hours it belongs to (0014's triggers follow the
-- change). Filling in a workflow's creation time is not an update of the
-- workflow: its updated_at stays.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

ALTER TABLE workflows DISABLE TRIGGER update_workflows_updated_at;
UPDATE workflows SET created_at = COALESCE(started_at, completed_at, CURRENT_TIMESTAMP)
WHERE created_at IS NULL;
ALTER TABLE workflows ENABLE TRIGGER update_workflows_updated_at;

UPDATE agent_tasks SET created_at = COALESCE(started_at, completed_at, CURRENT_TIMESTAMP)
WHERE created_at IS NULL;

ALTER TABLE workflows ALTER COLUMN created_at SET NOT NULL;
ALTER TABLE agent_tasks ALTER COLUMN created_at SET NOT NULL;
