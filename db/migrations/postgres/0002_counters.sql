-- 0002_counters (PostgreSQL)
--
-- agent_task_totals (one row per agent) and the triggers that keep it, the
-- agents' counters and the workflows' counters true on every INSERT, UPDATE
-- and DELETE of agent_tasks, from any path (including ON DELETE CASCADE from
-- workflows and agents, and TRUNCATE). Extra CHECKs and one index.
-- See docs/schema.md, "Counters (0002)".
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.
-- The ALTER TABLEs come first: in the runner's transaction their locks are
-- held to the end, so no task can be written between the backfill below and
-- the creation of the triggers.

-- ---------------------------------------------------------------------------
-- Extra CHECKs
-- ---------------------------------------------------------------------------

ALTER TABLE agent_tasks
    ADD CONSTRAINT agent_tasks_tokens_used_nonnegative CHECK (tokens_used >= 0),
    ADD CONSTRAINT agent_tasks_cost_usd_nonnegative CHECK (cost_usd >= 0),
    ADD CONSTRAINT agent_tasks_retry_count_nonnegative CHECK (retry_count >= 0),
    ADD CONSTRAINT agent_tasks_duration_ms_nonnegative CHECK (duration_ms >= 0);

ALTER TABLE workflows
    ADD CONSTRAINT workflows_total_tokens_used_nonnegative CHECK (total_tokens_used >= 0),
    ADD CONSTRAINT workflows_total_cost_usd_nonnegative CHECK (total_cost_usd >= 0),
    ADD CONSTRAINT workflows_duration_ms_nonnegative CHECK (duration_ms >= 0);

ALTER TABLE agent_metrics
    ADD CONSTRAINT agent_metrics_metric_value_finite
        CHECK (metric_value <> 'NaN'::float8
               AND metric_value <> 'Infinity'::float8
               AND metric_value <> '-Infinity'::float8);

ALTER TABLE agent_interactions
    ADD CONSTRAINT agent_interactions_interaction_type_valid
        CHECK (interaction_type IN ('handoff', 'collaboration', 'review', 'feedback'));

CREATE INDEX idx_tasks_agent_created ON agent_tasks(agent_id, created_at DESC);

-- The seed's parent_task_id foreign key has no index: deleting a task (and so
-- deleting a workflow or an agent, which cascade to tasks) had to scan the whole
-- of agent_tasks once per deleted row to look for subtasks.
CREATE INDEX idx_tasks_parent ON agent_tasks(parent_task_id);

-- ---------------------------------------------------------------------------
-- agent_task_totals
-- ---------------------------------------------------------------------------

CREATE TABLE agent_task_totals (
    agent_id VARCHAR(50) PRIMARY KEY REFERENCES agents(id) ON DELETE CASCADE ON UPDATE CASCADE,
    pending BIGINT NOT NULL DEFAULT 0,
    running BIGINT NOT NULL DEFAULT 0,
    completed BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    cancelled BIGINT NOT NULL DEFAULT 0,
    tokens BIGINT NOT NULL DEFAULT 0,
    cost_usd NUMERIC(20, 6) NOT NULL DEFAULT 0,
    duration_sum BIGINT NOT NULL DEFAULT 0,
    duration_n BIGINT NOT NULL DEFAULT 0,
    completed_duration_sum BIGINT NOT NULL DEFAULT 0,
    completed_duration_n BIGINT NOT NULL DEFAULT 0
);

-- The delta of one statement on agent_tasks for one workflow.
CREATE TYPE agent_task_workflow_delta AS (
    workflow_id UUID,
    total_tasks BIGINT,
    completed_tasks BIGINT,
    failed_tasks BIGINT,
    tokens BIGINT,
    cost_usd NUMERIC
);

-- Every new agent gets its totals row.
CREATE FUNCTION agent_task_totals_create_row()
RETURNS TRIGGER AS $$
BEGIN
    INSERT INTO agent_task_totals (agent_id) VALUES (NEW.id)
    ON CONFLICT (agent_id) DO NOTHING;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER agents_create_task_totals
    AFTER INSERT ON agents
    FOR EACH ROW
    EXECUTE FUNCTION agent_task_totals_create_row();

-- Backfill: one row per existing agent, from its existing tasks.
INSERT INTO agent_task_totals (agent_id, pending, running, completed, failed, cancelled,
                               tokens, cost_usd, duration_sum, duration_n,
                               completed_duration_sum, completed_duration_n)
SELECT a.id,
       COUNT(t.id) FILTER (WHERE t.status = 'pending'),
       COUNT(t.id) FILTER (WHERE t.status = 'running'),
       COUNT(t.id) FILTER (WHERE t.status = 'completed'),
       COUNT(t.id) FILTER (WHERE t.status = 'failed'),
       COUNT(t.id) FILTER (WHERE t.status = 'cancelled'),
       COALESCE(SUM(t.tokens_used), 0),
       COALESCE(SUM(t.cost_usd), 0),
       COALESCE(SUM(t.duration_ms), 0),
       COUNT(t.duration_ms),
       COALESCE(SUM(t.duration_ms) FILTER (WHERE t.status = 'completed'), 0),
       COUNT(t.duration_ms) FILTER (WHERE t.status = 'completed')
FROM agents a
LEFT JOIN agent_tasks t ON t.agent_id = a.id
GROUP BY a.id
ON CONFLICT (agent_id) DO NOTHING;

-- Recompute the agents' counters from the totals.
UPDATE agents a
SET total_tasks_completed = t.completed,
    total_tokens_used = t.tokens,
    average_latency_ms = CASE WHEN t.completed_duration_n = 0 THEN 0::float8
                              ELSE t.completed_duration_sum::float8 / t.completed_duration_n END,
    success_rate = CASE WHEN t.completed + t.failed = 0 THEN 100::float8
                        ELSE 100::float8 * t.completed / (t.completed + t.failed) END
FROM agent_task_totals t
WHERE t.agent_id = a.id;

-- Recompute the workflows' counters from their tasks.
UPDATE workflows w
SET total_tasks = s.total_tasks,
    completed_tasks = s.completed_tasks,
    failed_tasks = s.failed_tasks,
    total_tokens_used = s.tokens,
    total_cost_usd = s.cost_usd
FROM (
    SELECT w2.id,
           COUNT(t.id) AS total_tasks,
           COUNT(t.id) FILTER (WHERE t.status = 'completed') AS completed_tasks,
           COUNT(t.id) FILTER (WHERE t.status = 'failed') AS failed_tasks,
           COALESCE(SUM(t.tokens_used), 0) AS tokens,
           COALESCE(SUM(t.cost_usd), 0) AS cost_usd
    FROM workflows w2
    LEFT JOIN agent_tasks t ON t.workflow_id = w2.id
    GROUP BY w2.id
) s
WHERE s.id = w.id;

-- ---------------------------------------------------------------------------
-- Applying the deltas of one statement
-- ---------------------------------------------------------------------------
-- Locks totals, then agents, then workflows, each in key order. agents and
-- workflows are locked FOR NO KEY UPDATE (what an UPDATE of non-key columns
-- takes), which does not conflict with the FOR KEY SHARE locks that foreign
-- key checks of concurrent task inserts hold on the same rows; FOR UPDATE there
-- would deadlock two transactions inserting tasks for the same agent.
-- The deltas come sorted by key and hold only agents/workflows whose delta is
-- not all zero. Rows that no longer exist (an ON DELETE CASCADE from agents or
-- workflows) are simply not found.

CREATE FUNCTION agent_task_counters_apply(p_agents agent_task_totals[],
                                          p_workflows agent_task_workflow_delta[])
RETURNS void AS $$
BEGIN
    IF p_agents IS NOT NULL AND cardinality(p_agents) > 0 THEN
        PERFORM 1
        FROM agent_task_totals t
        WHERE t.agent_id IN (SELECT d.agent_id FROM unnest(p_agents) d)
        ORDER BY t.agent_id
        FOR UPDATE;

        UPDATE agent_task_totals t
        SET pending = t.pending + d.pending,
            running = t.running + d.running,
            completed = t.completed + d.completed,
            failed = t.failed + d.failed,
            cancelled = t.cancelled + d.cancelled,
            tokens = t.tokens + d.tokens,
            cost_usd = t.cost_usd + d.cost_usd,
            duration_sum = t.duration_sum + d.duration_sum,
            duration_n = t.duration_n + d.duration_n,
            completed_duration_sum = t.completed_duration_sum + d.completed_duration_sum,
            completed_duration_n = t.completed_duration_n + d.completed_duration_n
        FROM unnest(p_agents) d
        WHERE t.agent_id = d.agent_id;

        PERFORM 1
        FROM agents a
        WHERE a.id IN (SELECT d.agent_id FROM unnest(p_agents) d)
        ORDER BY a.id
        FOR NO KEY UPDATE;

        UPDATE agents a
        SET total_tasks_completed = t.completed,
            total_tokens_used = t.tokens,
            average_latency_ms = CASE WHEN t.completed_duration_n = 0 THEN 0::float8
                                      ELSE t.completed_duration_sum::float8 / t.completed_duration_n END,
            success_rate = CASE WHEN t.completed + t.failed = 0 THEN 100::float8
                                ELSE 100::float8 * t.completed / (t.completed + t.failed) END
        FROM agent_task_totals t
        WHERE t.agent_id = a.id
          AND t.agent_id IN (SELECT d.agent_id FROM unnest(p_agents) d);
    END IF;

    IF p_workflows IS NOT NULL AND cardinality(p_workflows) > 0 THEN
        PERFORM 1
        FROM workflows w
        WHERE w.id IN (SELECT d.workflow_id FROM unnest(p_workflows) d)
        ORDER BY w.id
        FOR NO KEY UPDATE;

        UPDATE workflows w
        SET total_tasks = COALESCE(w.total_tasks, 0) + d.total_tasks,
            completed_tasks = COALESCE(w.completed_tasks, 0) + d.completed_tasks,
            failed_tasks = COALESCE(w.failed_tasks, 0) + d.failed_tasks,
            total_tokens_used = COALESCE(w.total_tokens_used, 0) + d.tokens,
            total_cost_usd = COALESCE(w.total_cost_usd, 0) + d.cost_usd
        FROM unnest(p_workflows) d
        WHERE w.id = d.workflow_id;
    END IF;
END;
$$ LANGUAGE plpgsql;

-- ---------------------------------------------------------------------------
-- Statement-level triggers on agent_tasks
-- ---------------------------------------------------------------------------
-- One function for the three triggers; each branch reads only the transition
-- tables its trigger has (new_rows for INSERT, old_rows for DELETE, both for
-- UPDATE): new rows count +1, old rows -1.

CREATE FUNCTION agent_tasks_maintain_counters()
RETURNS TRIGGER AS $$
DECLARE
    v_agents agent_task_totals[];
    v_workflows agent_task_workflow_delta[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH r AS (
            SELECT 1 AS sign, agent_id, workflow_id, status, tokens_used, cost_usd, duration_ms
            FROM new_rows
        ),
        a AS (
            SELECT agent_id,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'pending'), 0)::bigint AS pending,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'running'), 0)::bigint AS running,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'completed'), 0)::bigint AS completed,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'failed'), 0)::bigint AS failed,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'cancelled'), 0)::bigint AS cancelled,
                   COALESCE(SUM(sign::bigint * tokens_used), 0)::bigint AS tokens,
                   COALESCE(SUM(sign * cost_usd), 0)::numeric(20, 6) AS cost_usd,
                   COALESCE(SUM(sign::bigint * duration_ms), 0)::bigint AS duration_sum,
                   COALESCE(SUM(sign) FILTER (WHERE duration_ms IS NOT NULL), 0)::bigint AS duration_n,
                   COALESCE(SUM(sign::bigint * duration_ms) FILTER (WHERE status = 'completed'), 0)::bigint AS completed_duration_sum,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'completed' AND duration_ms IS NOT NULL), 0)::bigint AS completed_duration_n
            FROM r
            GROUP BY agent_id
        ),
        w AS (
            SELECT workflow_id,
                   COALESCE(SUM(sign), 0)::bigint AS total_tasks,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'completed'), 0)::bigint AS completed_tasks,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'failed'), 0)::bigint AS failed_tasks,
                   COALESCE(SUM(sign::bigint * tokens_used), 0)::bigint AS tokens,
                   COALESCE(SUM(sign * cost_usd), 0)::numeric AS cost_usd
            FROM r
            WHERE workflow_id IS NOT NULL
            GROUP BY workflow_id
        )
        SELECT
            (SELECT array_agg(ROW(a.*)::agent_task_totals ORDER BY a.agent_id)
             FROM a
             WHERE (a.pending, a.running, a.completed, a.failed, a.cancelled, a.tokens, a.cost_usd,
                    a.duration_sum, a.duration_n, a.completed_duration_sum, a.completed_duration_n)
                   <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
            (SELECT array_agg(ROW(w.*)::agent_task_workflow_delta ORDER BY w.workflow_id)
             FROM w
             WHERE (w.total_tasks, w.completed_tasks, w.failed_tasks, w.tokens, w.cost_usd)
                   <> (0, 0, 0, 0, 0))
        INTO v_agents, v_workflows;
    ELSIF TG_OP = 'DELETE' THEN
        WITH r AS (
            SELECT -1 AS sign, agent_id, workflow_id, status, tokens_used, cost_usd, duration_ms
            FROM old_rows
        ),
        a AS (
            SELECT agent_id,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'pending'), 0)::bigint AS pending,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'running'), 0)::bigint AS running,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'completed'), 0)::bigint AS completed,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'failed'), 0)::bigint AS failed,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'cancelled'), 0)::bigint AS cancelled,
                   COALESCE(SUM(sign::bigint * tokens_used), 0)::bigint AS tokens,
                   COALESCE(SUM(sign * cost_usd), 0)::numeric(20, 6) AS cost_usd,
                   COALESCE(SUM(sign::bigint * duration_ms), 0)::bigint AS duration_sum,
                   COALESCE(SUM(sign) FILTER (WHERE duration_ms IS NOT NULL), 0)::bigint AS duration_n,
                   COALESCE(SUM(sign::bigint * duration_ms) FILTER (WHERE status = 'completed'), 0)::bigint AS completed_duration_sum,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'completed' AND duration_ms IS NOT NULL), 0)::bigint AS completed_duration_n
            FROM r
            GROUP BY agent_id
        ),
        w AS (
            SELECT workflow_id,
                   COALESCE(SUM(sign), 0)::bigint AS total_tasks,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'completed'), 0)::bigint AS completed_tasks,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'failed'), 0)::bigint AS failed_tasks,
                   COALESCE(SUM(sign::bigint * tokens_used), 0)::bigint AS tokens,
                   COALESCE(SUM(sign * cost_usd), 0)::numeric AS cost_usd
            FROM r
            WHERE workflow_id IS NOT NULL
            GROUP BY workflow_id
        )
        SELECT
            (SELECT array_agg(ROW(a.*)::agent_task_totals ORDER BY a.agent_id)
             FROM a
             WHERE (a.pending, a.running, a.completed, a.failed, a.cancelled, a.tokens, a.cost_usd,
                    a.duration_sum, a.duration_n, a.completed_duration_sum, a.completed_duration_n)
                   <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
            (SELECT array_agg(ROW(w.*)::agent_task_workflow_delta ORDER BY w.workflow_id)
             FROM w
             WHERE (w.total_tasks, w.completed_tasks, w.failed_tasks, w.tokens, w.cost_usd)
                   <> (0, 0, 0, 0, 0))
        INTO v_agents, v_workflows;
    ELSE -- UPDATE
        WITH r AS (
            SELECT 1 AS sign, agent_id, workflow_id, status, tokens_used, cost_usd, duration_ms
            FROM new_rows
            UNION ALL
            SELECT -1 AS sign, agent_id, workflow_id, status, tokens_used, cost_usd, duration_ms
            FROM old_rows
        ),
        a AS (
            SELECT agent_id,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'pending'), 0)::bigint AS pending,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'running'), 0)::bigint AS running,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'completed'), 0)::bigint AS completed,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'failed'), 0)::bigint AS failed,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'cancelled'), 0)::bigint AS cancelled,
                   COALESCE(SUM(sign::bigint * tokens_used), 0)::bigint AS tokens,
                   COALESCE(SUM(sign * cost_usd), 0)::numeric(20, 6) AS cost_usd,
                   COALESCE(SUM(sign::bigint * duration_ms), 0)::bigint AS duration_sum,
                   COALESCE(SUM(sign) FILTER (WHERE duration_ms IS NOT NULL), 0)::bigint AS duration_n,
                   COALESCE(SUM(sign::bigint * duration_ms) FILTER (WHERE status = 'completed'), 0)::bigint AS completed_duration_sum,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'completed' AND duration_ms IS NOT NULL), 0)::bigint AS completed_duration_n
            FROM r
            GROUP BY agent_id
        ),
        w AS (
            SELECT workflow_id,
                   COALESCE(SUM(sign), 0)::bigint AS total_tasks,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'completed'), 0)::bigint AS completed_tasks,
                   COALESCE(SUM(sign) FILTER (WHERE status = 'failed'), 0)::bigint AS failed_tasks,
                   COALESCE(SUM(sign::bigint * tokens_used), 0)::bigint AS tokens,
                   COALESCE(SUM(sign * cost_usd), 0)::numeric AS cost_usd
            FROM r
            WHERE workflow_id IS NOT NULL
            GROUP BY workflow_id
        )
        SELECT
            (SELECT array_agg(ROW(a.*)::agent_task_totals ORDER BY a.agent_id)
             FROM a
             WHERE (a.pending, a.running, a.completed, a.failed, a.cancelled, a.tokens, a.cost_usd,
                    a.duration_sum, a.duration_n, a.completed_duration_sum, a.completed_duration_n)
                   <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
            (SELECT array_agg(ROW(w.*)::agent_task_workflow_delta ORDER BY w.workflow_id)
             FROM w
             WHERE (w.total_tasks, w.completed_tasks, w.failed_tasks, w.tokens, w.cost_usd)
                   <> (0, 0, 0, 0, 0))
        INTO v_agents, v_workflows;
    END IF;

    PERFORM agent_task_counters_apply(v_agents, v_workflows);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER agent_tasks_counters_insert
    AFTER INSERT ON agent_tasks
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION agent_tasks_maintain_counters();

CREATE TRIGGER agent_tasks_counters_update
    AFTER UPDATE ON agent_tasks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION agent_tasks_maintain_counters();

CREATE TRIGGER agent_tasks_counters_delete
    AFTER DELETE ON agent_tasks
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION agent_tasks_maintain_counters();

-- TRUNCATE fires no row or DELETE trigger: reset every counter to "no tasks".
CREATE FUNCTION agent_tasks_reset_counters()
RETURNS TRIGGER AS $$
BEGIN
    PERFORM 1 FROM agent_task_totals ORDER BY agent_id FOR UPDATE;
    UPDATE agent_task_totals
    SET pending = 0, running = 0, completed = 0, failed = 0, cancelled = 0,
        tokens = 0, cost_usd = 0, duration_sum = 0, duration_n = 0,
        completed_duration_sum = 0, completed_duration_n = 0;

    PERFORM 1 FROM agents ORDER BY id FOR NO KEY UPDATE;
    UPDATE agents
    SET total_tasks_completed = 0, total_tokens_used = 0,
        average_latency_ms = 0, success_rate = 100
    WHERE total_tasks_completed IS DISTINCT FROM 0
       OR total_tokens_used IS DISTINCT FROM 0
       OR average_latency_ms IS DISTINCT FROM 0
       OR success_rate IS DISTINCT FROM 100;

    PERFORM 1 FROM workflows ORDER BY id FOR NO KEY UPDATE;
    UPDATE workflows
    SET total_tasks = 0, completed_tasks = 0, failed_tasks = 0,
        total_tokens_used = 0, total_cost_usd = 0
    WHERE total_tasks IS DISTINCT FROM 0
       OR completed_tasks IS DISTINCT FROM 0
       OR failed_tasks IS DISTINCT FROM 0
       OR total_tokens_used IS DISTINCT FROM 0
       OR total_cost_usd IS DISTINCT FROM 0;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER agent_tasks_counters_truncate
    AFTER TRUNCATE ON agent_tasks
    FOR EACH STATEMENT
    EXECUTE FUNCTION agent_tasks_reset_counters();
