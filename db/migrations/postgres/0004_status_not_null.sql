-- 0004_status_not_null (PostgreSQL)
--
-- The seed's status CHECKs (status IN (...)) let NULL through, as every SQL CHECK
-- does. A task with no status is neither pending nor finished, and would count in
-- the agent_stats view's total_tasks but in no per-status counter; an agent or a
-- session with no status is as meaningless. Every status column becomes NOT NULL;
-- rows that had NULL get the column's default, which is what an INSERT that left
-- status out would have stored.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

UPDATE agents SET status = 'active' WHERE status IS NULL;
UPDATE workflows SET status = 'pending' WHERE status IS NULL;
UPDATE agent_tasks SET status = 'pending' WHERE status IS NULL;
UPDATE user_sessions SET status = 'active' WHERE status IS NULL;

ALTER TABLE agents ALTER COLUMN status SET NOT NULL;
ALTER TABLE workflows ALTER COLUMN status SET NOT NULL;
ALTER TABLE agent_tasks ALTER COLUMN status SET NOT NULL;
ALTER TABLE user_sessions ALTER COLUMN status SET NOT NULL;
