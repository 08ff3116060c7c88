-- 0009_queue_ready_id (SQLite)
--
-- What 0008_queue_hot_path describes but does not do (that file holds only its
-- comment, so it changed nothing): idx_tasks_ready ends in id. A claim reads
-- each agent's ready tasks in the order priority DESC, created_at, id, and the
-- tasks of one submitted workflow share created_at, so with the index ending
-- in created_at every claim sorted the agent's tasks of a workflow in a
-- temporary B-tree before it could take the first ("USE TEMP B-TREE FOR RIGHT
-- PART OF ORDER BY"). Same name (the claim names it in INDEXED BY), same
-- predicate.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

DROP INDEX idx_tasks_ready;
CREATE INDEX idx_tasks_ready ON agent_tasks(agent_id, priority DESC, created_at, id)
    WHERE status = 'pending' AND deps_pending = 0;
