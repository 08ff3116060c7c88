-- 0006_recent_tasks_index (PostgreSQL)
--
-- Lists of tasks are ordered newest first by (created_at, id), the id breaking ties
-- so that keyset pages never skip or repeat a row. 0002's idx_tasks_agent_created
-- (agent_id, created_at DESC) made the seed's "recent tasks for an agent" query an
-- index scan, but the tie-break then needed a sort step. This index serves both
-- the seed's query and the library's, and replaces the old one.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

CREATE INDEX idx_tasks_agent_created_id ON agent_tasks (agent_id, created_at DESC, id DESC);
DROP INDEX idx_tasks_agent_created;
