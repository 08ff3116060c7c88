-- 0007_queue_hot_path (PostgreSQL; SQLite: 0008_queue_hot_path, after its own 0007)
--
-- The engine's claim and completion paths (see docs/engine.md), two changes:
--
-- 1. idx_tasks_ready ends in id. A claim orders by priority DESC, created_at,
--    id; the tasks of one submitted workflow share created_at, so without id
--    in the index every claim read and sorted all the ready tasks of a
--    workflow's agent (a 10,000-task workflow: 10,000 rows per claim) before
--    it could return the first. Now a claim reads exactly the rows it takes.
--    Same name, same predicate: the statements that name it are unchanged.
--
-- 2. The counter triggers of 0002. A claim (pending -> running) changes an
--    agent's pending and running totals only, yet 0002's
--    agent_task_counters_apply also locked and rewrote the agents row of every
--    agent in the delta, recomputing columns (completed, tokens, latency,
--    success rate) that a claim cannot change. Every claim and completion of an
--    agent holds that agent's totals row lock until its COMMIT, so this work
--    was done inside the section that serialises the agent's queue, and wrote
--    a dead agents version per claim. Now the agents rows are locked and
--    updated only for the agents whose delta touches what they derive from
--    (completed, failed, tokens, completed durations). Same lock order as
--    0002: totals, agents, workflows, each in key order. The results are
--    unchanged: an agent's columns are recomputed from its totals whenever an
--    input of theirs changes.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

DROP INDEX idx_tasks_ready;
CREATE INDEX idx_tasks_ready ON agent_tasks(agent_id, priority DESC, created_at, id)
    WHERE status = 'pending' AND deps_pending = 0;

CREATE OR REPLACE FUNCTION agent_task_counters_apply(p_agents agent_task_totals[],
                                                     p_workflows agent_task_workflow_delta[])
RETURNS void AS $$
DECLARE
    v_derived VARCHAR(50)[];
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

        -- The agents whose derived columns can change.
        SELECT array_agg(d.agent_id)
        INTO v_derived
        FROM unnest(p_agents) d
        WHERE (d.completed, d.failed, d.tokens, d.completed_duration_sum, d.completed_duration_n)
              <> (0, 0, 0, 0, 0);

        IF v_derived IS NOT NULL THEN
            PERFORM 1
            FROM agents a
            WHERE a.id = ANY (v_derived)
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
              AND t.agent_id = ANY (v_derived);
        END IF;
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
