-- 0013_archive (PostgreSQL; SQLite: 0011_archive)
--
-- Archiving (`tokyoia archive`, src/ops/archive*.c, docs/operations.md): finished
-- workflows older than a cutoff move, with their tasks, interactions and task
-- dependencies, out of the hot tables into the *_archive tables below (or into a
-- compressed file), in short batches.
--
-- 1. The archive tables have the columns of their hot table, in the same order
--    (LIKE), plus archived_at; no CHECK, foreign key or trigger, since their rows
--    are history that is only read. A migration that adds a column to a hot
--    table must add it to its archive table too (test_archive checks that the
--    column lists agree).
-- 2. Moving a task out is not undoing it: the agents' counters and
--    agent_task_totals (which tia_stats_agents reads) keep counting archived
--    tasks. The archiver sets the transaction-local setting tokyoia.archiving to
--    'on' before its DELETEs, and the counter trigger of 0002 on DELETE does not
--    fire while it is on. The workflows' counters need nothing: a workflow moves
--    with all of its tasks. Any other DELETE counts as before.
-- 3. archived_task_totals holds, per agent, the sums of its archived tasks (to
--    the tables or to a file), written in the same transaction as the move, so
--    that the seed's agent_stats view, redefined below over the hot tasks plus
--    these sums, answers exactly as before a move: same columns, same types, the
--    same arithmetic (AVG of an integer column is numeric sum / count).
-- 4. A partial index finds the finished workflows by completed_at.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

CREATE TABLE workflows_archive (LIKE workflows INCLUDING DEFAULTS);
ALTER TABLE workflows_archive
    ADD COLUMN archived_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD PRIMARY KEY (id);
CREATE INDEX idx_workflows_archive_completed_at ON workflows_archive (completed_at);

CREATE TABLE agent_tasks_archive (LIKE agent_tasks INCLUDING DEFAULTS);
ALTER TABLE agent_tasks_archive
    ADD COLUMN archived_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD PRIMARY KEY (id);
CREATE INDEX idx_tasks_archive_workflow ON agent_tasks_archive (workflow_id);

CREATE TABLE agent_interactions_archive (LIKE agent_interactions INCLUDING DEFAULTS);
ALTER TABLE agent_interactions_archive
    ADD COLUMN archived_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD PRIMARY KEY (id);
CREATE INDEX idx_interactions_archive_workflow ON agent_interactions_archive (workflow_id);

CREATE TABLE task_dependencies_archive (LIKE task_dependencies INCLUDING DEFAULTS);
ALTER TABLE task_dependencies_archive
    ADD COLUMN archived_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD PRIMARY KEY (task_id, depends_on);

CREATE TABLE archived_task_totals (
    agent_id VARCHAR(50) PRIMARY KEY REFERENCES agents(id) ON DELETE CASCADE ON UPDATE CASCADE,
    tasks BIGINT NOT NULL DEFAULT 0,
    completed BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    tokens BIGINT NOT NULL DEFAULT 0,
    cost_usd NUMERIC(20, 6) NOT NULL DEFAULT 0,
    duration_sum BIGINT NOT NULL DEFAULT 0,
    duration_n BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX idx_workflows_finished ON workflows (completed_at, id)
    WHERE status IN ('completed', 'failed', 'cancelled');

DROP TRIGGER agent_tasks_counters_delete ON agent_tasks;
CREATE TRIGGER agent_tasks_counters_delete
    AFTER DELETE ON agent_tasks
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    WHEN (current_setting('tokyoia.archiving', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION agent_tasks_maintain_counters();

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
    (COALESCE(h.cost_usd, 0) + COALESCE(x.cost_usd, 0))::numeric AS total_cost,
    CASE
        WHEN COALESCE(h.duration_n, 0) + COALESCE(x.duration_n, 0) = 0 THEN 0::float8
        ELSE ((COALESCE(h.duration_sum, 0) + COALESCE(x.duration_sum, 0))::numeric
              / (COALESCE(h.duration_n, 0) + COALESCE(x.duration_n, 0))::numeric)::float8
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
           SUM(t.cost_usd) AS cost_usd,
           SUM(t.duration_ms) AS duration_sum,
           COUNT(t.duration_ms) AS duration_n
    FROM agent_tasks t
    GROUP BY t.agent_id
) h ON h.agent_id = a.id
LEFT JOIN archived_task_totals x ON x.agent_id = a.id;
