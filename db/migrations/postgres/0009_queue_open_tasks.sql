-- 0009_queue_open_tasks (PostgreSQL)
--
-- The engine's hot path again (see docs/engine.md and bench/README.md, "Engine:
-- lifecycles per second"). Every claim and every completion writes a new
-- version of its agent_tasks row that cannot be a HOT update (status is
-- indexed), so each version is inserted into every full index of the table.
-- Measured with pg_stat_statements and auto_explain on bench_engine:
--
-- 1. "Has this workflow a pending or running task left?" (the end of a
--    workflow after each batch of completions, the wake-up after a submission,
--    cancellation) was answered by a BitmapAnd of idx_tasks_workflow with
--    idx_tasks_status, the seed's index on status alone: it read every pending
--    and running entry of the whole table, dead versions included (6 ms, 120,000
--    entries, after 60,000 lifecycles), once per batch of completions and once
--    per submitted workflow. idx_tasks_workflow_open holds only the open tasks
--    of each workflow, so that question is one short index probe. It is partial:
--    a task's entry is written when it is submitted (pending) and claimed
--    (running), never for its completed version.
--
-- 2. idx_tasks_parent (0002) indexed every row version, and nearly every task
--    has no parent. Lookups by parent (the foreign key's ON DELETE check, the
--    subtasks of a task) compare parent_task_id with a value, which implies
--    that it is not null, so the partial index serves all of them and no NULL
--    entry is written per version any more.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

CREATE INDEX idx_tasks_workflow_open ON agent_tasks (workflow_id)
    WHERE status IN ('pending', 'running');

DROP INDEX idx_tasks_parent;
CREATE INDEX idx_tasks_parent ON agent_tasks (parent_task_id)
    WHERE parent_task_id IS NOT NULL;
