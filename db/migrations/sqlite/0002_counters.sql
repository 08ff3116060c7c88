-- 0002_counters (SQLite)
--
-- agent_task_totals (one row per agent) and the row triggers that keep it, the
-- agents' counters and the workflows' counters true on every INSERT, UPDATE
-- and DELETE of agent_tasks, from any path (including ON DELETE CASCADE from
-- workflows and agents). Extra CHECKs and one index.
-- See docs/schema.md, "Counters (0002)". Same meaning as the PostgreSQL file.
--
-- SQLite cannot add a CHECK to an existing table, so each added CHECK is a
-- pair of BEFORE INSERT / BEFORE UPDATE triggers that fail with
-- 'CHECK constraint failed: <name>' (the names are those of the PostgreSQL
-- constraints), and existing rows are validated by touching the violating ones
-- so that the migration fails as PostgreSQL's ALTER TABLE ADD CONSTRAINT does.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

-- ---------------------------------------------------------------------------
-- Extra CHECKs
-- ---------------------------------------------------------------------------

CREATE TRIGGER agent_tasks_checks_insert
    BEFORE INSERT ON agent_tasks
    FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: agent_tasks_tokens_used_nonnegative')
        WHERE NEW.tokens_used < 0;
    SELECT RAISE(ABORT, 'CHECK constraint failed: agent_tasks_cost_usd_nonnegative')
        WHERE NEW.cost_usd_micros < 0;
    SELECT RAISE(ABORT, 'CHECK constraint failed: agent_tasks_retry_count_nonnegative')
        WHERE NEW.retry_count < 0;
    SELECT RAISE(ABORT, 'CHECK constraint failed: agent_tasks_duration_ms_nonnegative')
        WHERE NEW.duration_ms < 0;
END;

CREATE TRIGGER agent_tasks_checks_update
    BEFORE UPDATE OF tokens_used, cost_usd_micros, retry_count, duration_ms ON agent_tasks
    FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: agent_tasks_tokens_used_nonnegative')
        WHERE NEW.tokens_used < 0;
    SELECT RAISE(ABORT, 'CHECK constraint failed: agent_tasks_cost_usd_nonnegative')
        WHERE NEW.cost_usd_micros < 0;
    SELECT RAISE(ABORT, 'CHECK constraint failed: agent_tasks_retry_count_nonnegative')
        WHERE NEW.retry_count < 0;
    SELECT RAISE(ABORT, 'CHECK constraint failed: agent_tasks_duration_ms_nonnegative')
        WHERE NEW.duration_ms < 0;
END;

CREATE TRIGGER workflows_checks_insert
    BEFORE INSERT ON workflows
    FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: workflows_total_tokens_used_nonnegative')
        WHERE NEW.total_tokens_used < 0;
    SELECT RAISE(ABORT, 'CHECK constraint failed: workflows_total_cost_usd_nonnegative')
        WHERE NEW.total_cost_usd_micros < 0;
    SELECT RAISE(ABORT, 'CHECK constraint failed: workflows_duration_ms_nonnegative')
        WHERE NEW.duration_ms < 0;
END;

CREATE TRIGGER workflows_checks_update
    BEFORE UPDATE OF total_tokens_used, total_cost_usd_micros, duration_ms ON workflows
    FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: workflows_total_tokens_used_nonnegative')
        WHERE NEW.total_tokens_used < 0;
    SELECT RAISE(ABORT, 'CHECK constraint failed: workflows_total_cost_usd_nonnegative')
        WHERE NEW.total_cost_usd_micros < 0;
    SELECT RAISE(ABORT, 'CHECK constraint failed: workflows_duration_ms_nonnegative')
        WHERE NEW.duration_ms < 0;
END;

-- A NaN stored in a REAL column becomes NULL (refused by NOT NULL); this
-- refuses +-Infinity (and any non-numeric text).
CREATE TRIGGER agent_metrics_checks_insert
    BEFORE INSERT ON agent_metrics
    FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: agent_metrics_metric_value_finite')
        WHERE NOT (NEW.metric_value BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308);
END;

CREATE TRIGGER agent_metrics_checks_update
    BEFORE UPDATE OF metric_value ON agent_metrics
    FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: agent_metrics_metric_value_finite')
        WHERE NOT (NEW.metric_value BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308);
END;

CREATE TRIGGER agent_interactions_checks_insert
    BEFORE INSERT ON agent_interactions
    FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: agent_interactions_interaction_type_valid')
        WHERE NEW.interaction_type NOT IN ('handoff', 'collaboration', 'review', 'feedback');
END;

CREATE TRIGGER agent_interactions_checks_update
    BEFORE UPDATE OF interaction_type ON agent_interactions
    FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: agent_interactions_interaction_type_valid')
        WHERE NEW.interaction_type NOT IN ('handoff', 'collaboration', 'review', 'feedback');
END;

-- Validate existing rows: a violating row fires its BEFORE UPDATE trigger and
-- the migration fails with that constraint's name.
UPDATE agent_tasks
SET tokens_used = tokens_used, cost_usd_micros = cost_usd_micros,
    retry_count = retry_count, duration_ms = duration_ms
WHERE tokens_used < 0 OR cost_usd_micros < 0 OR retry_count < 0 OR duration_ms < 0;

UPDATE workflows
SET total_tokens_used = total_tokens_used, total_cost_usd_micros = total_cost_usd_micros,
    duration_ms = duration_ms
WHERE total_tokens_used < 0 OR total_cost_usd_micros < 0 OR duration_ms < 0;

UPDATE agent_metrics
SET metric_value = metric_value
WHERE NOT (metric_value BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308);

UPDATE agent_interactions
SET interaction_type = interaction_type
WHERE interaction_type NOT IN ('handoff', 'collaboration', 'review', 'feedback');

CREATE INDEX idx_tasks_agent_created ON agent_tasks(agent_id, created_at DESC);

-- The seed's parent_task_id foreign key has no index: deleting a task (and so
-- deleting a workflow or an agent, which cascade to tasks) had to scan the whole
-- of agent_tasks once per deleted row to look for subtasks.
CREATE INDEX idx_tasks_parent ON agent_tasks(parent_task_id);

-- ---------------------------------------------------------------------------
-- agent_task_totals
-- ---------------------------------------------------------------------------

CREATE TABLE agent_task_totals (
    agent_id TEXT NOT NULL PRIMARY KEY REFERENCES agents(id) ON DELETE CASCADE ON UPDATE CASCADE,
    pending INTEGER NOT NULL DEFAULT 0,
    running INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    cancelled INTEGER NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd_micros INTEGER NOT NULL DEFAULT 0,
    duration_sum INTEGER NOT NULL DEFAULT 0,
    duration_n INTEGER NOT NULL DEFAULT 0,
    completed_duration_sum INTEGER NOT NULL DEFAULT 0,
    completed_duration_n INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Every new agent gets its totals row.
CREATE TRIGGER agents_create_task_totals
    AFTER INSERT ON agents
    FOR EACH ROW
BEGIN
    INSERT INTO agent_task_totals (agent_id) VALUES (NEW.id)
    ON CONFLICT (agent_id) DO NOTHING;
END;

-- Backfill: one row per existing agent, from its existing tasks.
INSERT INTO agent_task_totals (agent_id, pending, running, completed, failed, cancelled,
                               tokens, cost_usd_micros, duration_sum, duration_n,
                               completed_duration_sum, completed_duration_n)
SELECT a.id,
       COUNT(t.id) FILTER (WHERE t.status = 'pending'),
       COUNT(t.id) FILTER (WHERE t.status = 'running'),
       COUNT(t.id) FILTER (WHERE t.status = 'completed'),
       COUNT(t.id) FILTER (WHERE t.status = 'failed'),
       COUNT(t.id) FILTER (WHERE t.status = 'cancelled'),
       COALESCE(SUM(t.tokens_used), 0),
       COALESCE(SUM(t.cost_usd_micros), 0),
       COALESCE(SUM(t.duration_ms), 0),
       COUNT(t.duration_ms),
       COALESCE(SUM(t.duration_ms) FILTER (WHERE t.status = 'completed'), 0),
       COUNT(t.duration_ms) FILTER (WHERE t.status = 'completed')
FROM agents a
LEFT JOIN agent_tasks t ON t.agent_id = a.id
GROUP BY a.id;

-- Recompute the agents' counters from the totals.
UPDATE agents
SET (total_tasks_completed, total_tokens_used, average_latency_ms, success_rate) = (
        SELECT t.completed,
               t.tokens,
               CASE WHEN t.completed_duration_n = 0 THEN 0.0
                    ELSE CAST(t.completed_duration_sum AS REAL) / t.completed_duration_n END,
               CASE WHEN t.completed + t.failed = 0 THEN 100.0
                    ELSE 100.0 * t.completed / (t.completed + t.failed) END
        FROM agent_task_totals t
        WHERE t.agent_id = agents.id);

-- Recompute the workflows' counters from their tasks.
UPDATE workflows
SET (total_tasks, completed_tasks, failed_tasks, total_tokens_used, total_cost_usd_micros) = (
        SELECT COUNT(t.id),
               COUNT(t.id) FILTER (WHERE t.status = 'completed'),
               COUNT(t.id) FILTER (WHERE t.status = 'failed'),
               COALESCE(SUM(t.tokens_used), 0),
               COALESCE(SUM(t.cost_usd_micros), 0)
        FROM agent_tasks t
        WHERE t.workflow_id = workflows.id);

-- ---------------------------------------------------------------------------
-- Row triggers on agent_tasks
-- ---------------------------------------------------------------------------
-- Each adds the new row (+1) and/or takes away the old row (-1) from the
-- totals of its agent and from the counters of its workflow, then sets the
-- agent's derived columns from its totals. A row that no longer exists (an
-- ON DELETE CASCADE from agents or workflows) is simply not found; the agent
-- update is skipped when the agent has no totals row.
-- UPDATE triggers fire only when a counted column changed, so an UPDATE of
-- metadata, output_data, ... touches no counter.

CREATE TRIGGER agent_tasks_counters_insert
    AFTER INSERT ON agent_tasks
    FOR EACH ROW
BEGIN
    UPDATE agent_task_totals
    SET pending = pending + (NEW.status IS 'pending'),
        running = running + (NEW.status IS 'running'),
        completed = completed + (NEW.status IS 'completed'),
        failed = failed + (NEW.status IS 'failed'),
        cancelled = cancelled + (NEW.status IS 'cancelled'),
        tokens = tokens + COALESCE(NEW.tokens_used, 0),
        cost_usd_micros = cost_usd_micros + COALESCE(NEW.cost_usd_micros, 0),
        duration_sum = duration_sum + COALESCE(NEW.duration_ms, 0),
        duration_n = duration_n + (NEW.duration_ms IS NOT NULL),
        completed_duration_sum = completed_duration_sum
            + CASE WHEN NEW.status IS 'completed' THEN COALESCE(NEW.duration_ms, 0) ELSE 0 END,
        completed_duration_n = completed_duration_n
            + (NEW.status IS 'completed' AND NEW.duration_ms IS NOT NULL)
    WHERE agent_id = NEW.agent_id;

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
    WHERE id = NEW.agent_id
      AND EXISTS (SELECT 1 FROM agent_task_totals t WHERE t.agent_id = agents.id);

    UPDATE workflows
    SET total_tasks = COALESCE(total_tasks, 0) + 1,
        completed_tasks = COALESCE(completed_tasks, 0) + (NEW.status IS 'completed'),
        failed_tasks = COALESCE(failed_tasks, 0) + (NEW.status IS 'failed'),
        total_tokens_used = COALESCE(total_tokens_used, 0) + COALESCE(NEW.tokens_used, 0),
        total_cost_usd_micros = COALESCE(total_cost_usd_micros, 0) + COALESCE(NEW.cost_usd_micros, 0)
    WHERE id = NEW.workflow_id;
END;

CREATE TRIGGER agent_tasks_counters_delete
    AFTER DELETE ON agent_tasks
    FOR EACH ROW
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

CREATE TRIGGER agent_tasks_counters_update_agent
    AFTER UPDATE ON agent_tasks
    FOR EACH ROW
    WHEN OLD.agent_id IS NOT NEW.agent_id
      OR OLD.status IS NOT NEW.status
      OR COALESCE(OLD.tokens_used, 0) IS NOT COALESCE(NEW.tokens_used, 0)
      OR COALESCE(OLD.cost_usd_micros, 0) IS NOT COALESCE(NEW.cost_usd_micros, 0)
      OR OLD.duration_ms IS NOT NEW.duration_ms
BEGIN
    -- One UPDATE per totals row: (agent_id IS NEW.agent_id) adds the new row,
    -- (agent_id IS OLD.agent_id) takes the old one away.
    UPDATE agent_task_totals
    SET pending = pending
            + (agent_id IS NEW.agent_id) * (NEW.status IS 'pending')
            - (agent_id IS OLD.agent_id) * (OLD.status IS 'pending'),
        running = running
            + (agent_id IS NEW.agent_id) * (NEW.status IS 'running')
            - (agent_id IS OLD.agent_id) * (OLD.status IS 'running'),
        completed = completed
            + (agent_id IS NEW.agent_id) * (NEW.status IS 'completed')
            - (agent_id IS OLD.agent_id) * (OLD.status IS 'completed'),
        failed = failed
            + (agent_id IS NEW.agent_id) * (NEW.status IS 'failed')
            - (agent_id IS OLD.agent_id) * (OLD.status IS 'failed'),
        cancelled = cancelled
            + (agent_id IS NEW.agent_id) * (NEW.status IS 'cancelled')
            - (agent_id IS OLD.agent_id) * (OLD.status IS 'cancelled'),
        tokens = tokens
            + (agent_id IS NEW.agent_id) * COALESCE(NEW.tokens_used, 0)
            - (agent_id IS OLD.agent_id) * COALESCE(OLD.tokens_used, 0),
        cost_usd_micros = cost_usd_micros
            + (agent_id IS NEW.agent_id) * COALESCE(NEW.cost_usd_micros, 0)
            - (agent_id IS OLD.agent_id) * COALESCE(OLD.cost_usd_micros, 0),
        duration_sum = duration_sum
            + (agent_id IS NEW.agent_id) * COALESCE(NEW.duration_ms, 0)
            - (agent_id IS OLD.agent_id) * COALESCE(OLD.duration_ms, 0),
        duration_n = duration_n
            + (agent_id IS NEW.agent_id) * (NEW.duration_ms IS NOT NULL)
            - (agent_id IS OLD.agent_id) * (OLD.duration_ms IS NOT NULL),
        completed_duration_sum = completed_duration_sum
            + (agent_id IS NEW.agent_id)
              * CASE WHEN NEW.status IS 'completed' THEN COALESCE(NEW.duration_ms, 0) ELSE 0 END
            - (agent_id IS OLD.agent_id)
              * CASE WHEN OLD.status IS 'completed' THEN COALESCE(OLD.duration_ms, 0) ELSE 0 END,
        completed_duration_n = completed_duration_n
            + (agent_id IS NEW.agent_id) * (NEW.status IS 'completed' AND NEW.duration_ms IS NOT NULL)
            - (agent_id IS OLD.agent_id) * (OLD.status IS 'completed' AND OLD.duration_ms IS NOT NULL)
    WHERE agent_id IN (OLD.agent_id, NEW.agent_id);

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
    WHERE id IN (OLD.agent_id, NEW.agent_id)
      AND EXISTS (SELECT 1 FROM agent_task_totals t WHERE t.agent_id = agents.id);
END;

CREATE TRIGGER agent_tasks_counters_update_workflow
    AFTER UPDATE ON agent_tasks
    FOR EACH ROW
    WHEN OLD.workflow_id IS NOT NEW.workflow_id
      OR (OLD.status IS 'completed') IS NOT (NEW.status IS 'completed')
      OR (OLD.status IS 'failed') IS NOT (NEW.status IS 'failed')
      OR COALESCE(OLD.tokens_used, 0) IS NOT COALESCE(NEW.tokens_used, 0)
      OR COALESCE(OLD.cost_usd_micros, 0) IS NOT COALESCE(NEW.cost_usd_micros, 0)
BEGIN
    UPDATE workflows
    SET total_tasks = COALESCE(total_tasks, 0)
            + (id IS NEW.workflow_id) - (id IS OLD.workflow_id),
        completed_tasks = COALESCE(completed_tasks, 0)
            + (id IS NEW.workflow_id) * (NEW.status IS 'completed')
            - (id IS OLD.workflow_id) * (OLD.status IS 'completed'),
        failed_tasks = COALESCE(failed_tasks, 0)
            + (id IS NEW.workflow_id) * (NEW.status IS 'failed')
            - (id IS OLD.workflow_id) * (OLD.status IS 'failed'),
        total_tokens_used = COALESCE(total_tokens_used, 0)
            + (id IS NEW.workflow_id) * COALESCE(NEW.tokens_used, 0)
            - (id IS OLD.workflow_id) * COALESCE(OLD.tokens_used, 0),
        total_cost_usd_micros = COALESCE(total_cost_usd_micros, 0)
            + (id IS NEW.workflow_id) * COALESCE(NEW.cost_usd_micros, 0)
            - (id IS OLD.workflow_id) * COALESCE(OLD.cost_usd_micros, 0)
    WHERE id IN (OLD.workflow_id, NEW.workflow_id);
END;
