-- 0011_archive (SQLite; PostgreSQL: 0013_archive)
--
-- Archiving (`tokyoia archive`, src/ops/archive*.c, docs/operations.md): finished
-- workflows older than a cutoff move, with their tasks, interactions and task
-- dependencies, out of the hot tables into the *_archive tables below (or into a
-- compressed file), in short batches.
--
-- 1. The archive tables are made from their hot table (CREATE TABLE AS), so they
--    have its columns in the same order (a generated column such as cost_usd
--    becomes a plain one), plus archived_at; no CHECK, foreign key or trigger,
--    since their rows are history that is only read. A migration that adds a
--    column to a hot table must add it to its archive table too (test_archive
--    checks that the column lists agree).
-- 2. Moving a task out is not undoing it: the agents' counters and
--    agent_task_totals keep counting archived tasks. The archiver inserts the
--    one row of archive_guard at the start of its transaction and deletes it
--    before committing, so no other connection ever sees it; 0002's counter
--    trigger on DELETE is recreated here, unchanged but for a WHEN that skips it
--    while that row exists. Any other DELETE counts as before.
-- 3. archived_task_totals holds, per agent, the sums of its archived tasks, and
--    the seed's agent_stats view is redefined over the hot tasks plus these sums,
--    with the same columns and the same arithmetic, so that it answers exactly
--    as before a move.
-- 4. A partial index finds the finished workflows by completed_at.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

CREATE TABLE workflows_archive AS SELECT * FROM workflows WHERE 0;
ALTER TABLE workflows_archive ADD COLUMN archived_at INTEGER;
CREATE UNIQUE INDEX idx_workflows_archive_id ON workflows_archive (id);
CREATE INDEX idx_workflows_archive_completed_at ON workflows_archive (completed_at);

CREATE TABLE agent_tasks_archive AS SELECT * FROM agent_tasks WHERE 0;
ALTER TABLE agent_tasks_archive ADD COLUMN archived_at INTEGER;
CREATE UNIQUE INDEX idx_tasks_archive_id ON agent_tasks_archive (id);
CREATE INDEX idx_tasks_archive_workflow ON agent_tasks_archive (workflow_id);

CREATE TABLE agent_interactions_archive AS SELECT * FROM agent_interactions WHERE 0;
ALTER TABLE agent_interactions_archive ADD COLUMN archived_at INTEGER;
CREATE UNIQUE INDEX idx_interactions_archive_id ON agent_interactions_archive (id);
CREATE INDEX idx_interactions_archive_workflow ON agent_interactions_archive (workflow_id);

CREATE TABLE task_dependencies_archive AS SELECT * FROM task_dependencies WHERE 0;
ALTER TABLE task_dependencies_archive ADD COLUMN archived_at INTEGER;
CREATE UNIQUE INDEX idx_task_dependencies_archive_pk ON task_dependencies_archive (task_id, depends_on);

CREATE TABLE archived_task_totals (
    agent_id TEXT NOT NULL PRIMARY KEY REFERENCES agents(id) ON DELETE CASCADE ON UPDATE CASCADE,
    tasks INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd_micros INTEGER NOT NULL DEFAULT 0,
    duration_sum INTEGER NOT NULL DEFAULT 0,
    duration_n INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE archive_guard (
    id INTEGER PRIMARY KEY CHECK (id = 1)
);

CREATE INDEX idx_workflows_finished ON workflows (completed_at, id)
    WHERE status IN ('completed', 'failed', 'cancelled');

DROP TRIGGER agent_tasks_counters_delete;
CREATE TRIGGER agent_tasks_counters_delete
    AFTER DELETE ON agent_tasks
    FOR EACH ROW
    WHEN NOT EXISTS (SELECT 1 FROM archive_guard)
BEGIN
    UPDATE agent_task_totals
    SET pending = pending - (OLD.status IS 'pending'),
        running = running - (OLD.status IS 'running'),
        completed = completed - (OLD.status IS 'completed'),
        failed = failed - (OLD.status IS 'failed'),
        cancelled = cancelled - (OLD.status IS 'cancelled'),
        tokens = tokens - COALESCE(OLD.tokens_used, 0),
        cost_usd_micros = cost_usd_micros - COALESCE(OLD.cost_usd_micros, 0),
        duration_sum = duration_sum - COALESCE(OLD.duration_ms, 0),
        duration_n = duration_n - (OLD.duration_ms IS NOT NULL),
        completed_duration_sum = completed_duration_sum
            - CASE WHEN OLD.status IS 'completed' THEN COALESCE(OLD.duration_ms, 0) ELSE 0 END,
        completed_duration_n = completed_duration_n
            - (OLD.status IS 'completed' AND OLD.duration_ms IS NOT NULL)
    WHERE agent_id = OLD.agent_id;

    UPDATE agents
    SET (total_tasks_completed, total_tokens_used, average_latency_ms, success_rate) = (
            SELECT t.completed,
                   t.tokens,
                   CASE WHEN t.completed_duration_n = 0 THEN 0.0
                        ELSE CAST(t.completed_duration_sum AS REAL) / t.completed_duration_n END,
                   CASE WHEN t.completed + t.failed = 0 THEN 100.0
                        ELSE 100.0 * t.completed / (t.completed + t.failed) END
            FROM agent_task_totals t
            WHERE t.agent_id = agents.id)
    WHERE id = OLD.agent_id
      AND EXISTS (SELECT 1 FROM agent_task_totals t WHERE t.agent_id = agents.id);

    UPDATE workflows
    SET total_tasks = COALESCE(total_tasks, 0) - 1,
        completed_tasks = COALESCE(completed_tasks, 0) - (OLD.status IS 'completed'),
        failed_tasks = COALESCE(failed_tasks, 0) - (OLD.status IS 'failed'),
        total_tokens_used = COALESCE(total_tokens_used, 0) - COALESCE(OLD.tokens_used, 0),
        total_cost_usd_micros = COALESCE(total_cost_usd_micros, 0) - COALESCE(OLD.cost_usd_micros, 0)
    WHERE id = OLD.workflow_id;
END;

DROP VIEW agent_stats;
CREATE VIEW agent_stats AS
SELECT
    a.id,
    a.name,
    a.role,
    a.status,
    COALESCE(h.tasks, 0) + COALESCE(x.tasks, 0) AS total_tasks,
    COALESCE(h.completed, 0) + COALESCE(x.completed, 0) AS completed_tasks,
    COALESCE(h.failed, 0) + COALESCE(x.failed, 0) AS failed_tasks,
    COALESCE(h.tokens, 0) + COALESCE(x.tokens, 0) AS total_tokens,
    (COALESCE(h.cost_usd_micros, 0) + COALESCE(x.cost_usd_micros, 0)) / 1000000.0 AS total_cost,
    CASE
        WHEN COALESCE(h.duration_n, 0) + COALESCE(x.duration_n, 0) = 0 THEN 0.0
        ELSE CAST(COALESCE(h.duration_sum, 0) + COALESCE(x.duration_sum, 0) AS REAL)
             / (COALESCE(h.duration_n, 0) + COALESCE(x.duration_n, 0))
    END AS avg_duration_ms,
    CASE
        WHEN COALESCE(h.tasks, 0) + COALESCE(x.tasks, 0) = 0 THEN 100.0
        ELSE ROUND(100.0 * (COALESCE(h.completed, 0) + COALESCE(x.completed, 0))
                   / (COALESCE(h.tasks, 0) + COALESCE(x.tasks, 0)), 2)
    END AS success_rate
FROM agents a
LEFT JOIN (
    SELECT t.agent_id,
           COUNT(t.id) AS tasks,
           COUNT(t.id) FILTER (WHERE t.status = 'completed') AS completed,
           COUNT(t.id) FILTER (WHERE t.status = 'failed') AS failed,
           SUM(t.tokens_used) AS tokens,
           SUM(t.cost_usd_micros) AS cost_usd_micros,
           SUM(t.duration_ms) AS duration_sum,
           COUNT(t.duration_ms) AS duration_n
    FROM agent_tasks t
    GROUP BY t.agent_id
) h ON h.agent_id = a.id
LEFT JOIN archived_task_totals x ON x.agent_id = a.id;
