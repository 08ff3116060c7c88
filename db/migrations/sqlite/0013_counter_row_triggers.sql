-- 0013_counter_row_triggers (SQLite)
--
-- The counter triggers of 0002 on UPDATE and INSERT of agent_tasks, same
-- results, a fraction of the work per row (the engine's claims and completions
-- fire them once per task):
--
-- 1. No "IN (OLD.x, NEW.x)". 0002 updated the totals, the agents and the
--    workflows rows "WHERE agent_id IN (OLD.agent_id, NEW.agent_id)" (and
--    "id IN (OLD.workflow_id, NEW.workflow_id)") so that one statement served
--    a task that moved to another agent or workflow. SQLite runs an IN list
--    that drives an index lookup through an ephemeral table, and a trigger's
--    program runs once per row: every claimed or completed task opened three to
--    five in-memory b-trees, each with a fresh page cache (an 88 KB allocation,
--    its pages faulted in, then handed back to the kernel when freed), which
--    was about a third of the CPU time of a lifecycle in bench_engine. Now the
--    usual case (same agent, same workflow) updates one row by its key, and a
--    move has triggers of its own (agent_tasks_counters_move_agent,
--    agent_tasks_counters_move_workflow) that take the old row's share away
--    and add the new one's, each by key.
-- 2. The agents row is recomputed only when what it derives from changes
--    (completed, failed, tokens, completed durations), as PostgreSQL's
--    agent_task_counters_apply does since its 0007: a claim (pending ->
--    running) or the submission of a pending task no longer rewrites its
--    agents row, whose columns it cannot change (and no longer moves
--    agents.updated_at through the seed's trigger, as on PostgreSQL).
--
-- The UPDATE triggers fire under the same conditions as before, split by
-- whether the task kept its agent (workflow) or not. No BEGIN/COMMIT here: the
-- migration runner wraps each file in a transaction.

DROP TRIGGER agent_tasks_counters_insert;
DROP TRIGGER agent_tasks_counters_update_agent;
DROP TRIGGER agent_tasks_counters_update_workflow;

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

    -- Only a task that counts towards the agent's derived columns changes them.
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
      AND (NEW.status IS 'completed' OR NEW.status IS 'failed'
           OR COALESCE(NEW.tokens_used, 0) <> 0)
      AND EXISTS (SELECT 1 FROM agent_task_totals t WHERE t.agent_id = agents.id);

    UPDATE workflows
    SET total_tasks = COALESCE(total_tasks, 0) + 1,
        completed_tasks = COALESCE(completed_tasks, 0) + (NEW.status IS 'completed'),
        failed_tasks = COALESCE(failed_tasks, 0) + (NEW.status IS 'failed'),
        total_tokens_used = COALESCE(total_tokens_used, 0) + COALESCE(NEW.tokens_used, 0),
        total_cost_usd_micros = COALESCE(total_cost_usd_micros, 0) + COALESCE(NEW.cost_usd_micros, 0)
    WHERE id = NEW.workflow_id;
END;

-- Same agent: the row's delta on one totals row, by key.
CREATE TRIGGER agent_tasks_counters_update_agent
    AFTER UPDATE ON agent_tasks
    FOR EACH ROW
    WHEN OLD.agent_id IS NEW.agent_id
     AND (OLD.status IS NOT NEW.status
          OR COALESCE(OLD.tokens_used, 0) IS NOT COALESCE(NEW.tokens_used, 0)
          OR COALESCE(OLD.cost_usd_micros, 0) IS NOT COALESCE(NEW.cost_usd_micros, 0)
          OR OLD.duration_ms IS NOT NEW.duration_ms)
BEGIN
    UPDATE agent_task_totals
    SET pending = pending + (NEW.status IS 'pending') - (OLD.status IS 'pending'),
        running = running + (NEW.status IS 'running') - (OLD.status IS 'running'),
        completed = completed + (NEW.status IS 'completed') - (OLD.status IS 'completed'),
        failed = failed + (NEW.status IS 'failed') - (OLD.status IS 'failed'),
        cancelled = cancelled + (NEW.status IS 'cancelled') - (OLD.status IS 'cancelled'),
        tokens = tokens + COALESCE(NEW.tokens_used, 0) - COALESCE(OLD.tokens_used, 0),
        cost_usd_micros = cost_usd_micros
            + COALESCE(NEW.cost_usd_micros, 0) - COALESCE(OLD.cost_usd_micros, 0),
        duration_sum = duration_sum + COALESCE(NEW.duration_ms, 0) - COALESCE(OLD.duration_ms, 0),
        duration_n = duration_n + (NEW.duration_ms IS NOT NULL) - (OLD.duration_ms IS NOT NULL),
        completed_duration_sum = completed_duration_sum
            + CASE WHEN NEW.status IS 'completed' THEN COALESCE(NEW.duration_ms, 0) ELSE 0 END
            - CASE WHEN OLD.status IS 'completed' THEN COALESCE(OLD.duration_ms, 0) ELSE 0 END,
        completed_duration_n = completed_duration_n
            + (NEW.status IS 'completed' AND NEW.duration_ms IS NOT NULL)
            - (OLD.status IS 'completed' AND OLD.duration_ms IS NOT NULL)
    WHERE agent_id = NEW.agent_id;

    -- Only when a delta of completed, failed, tokens or the completed durations
    -- is not zero (the same test as PostgreSQL's agent_task_counters_apply).
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
      AND ((NEW.status IS 'completed') <> (OLD.status IS 'completed')
           OR (NEW.status IS 'failed') <> (OLD.status IS 'failed')
           OR COALESCE(NEW.tokens_used, 0) <> COALESCE(OLD.tokens_used, 0)
           OR CASE WHEN NEW.status IS 'completed' THEN COALESCE(NEW.duration_ms, 0) ELSE 0 END
              <> CASE WHEN OLD.status IS 'completed' THEN COALESCE(OLD.duration_ms, 0) ELSE 0 END
           OR (NEW.status IS 'completed' AND NEW.duration_ms IS NOT NULL)
              <> (OLD.status IS 'completed' AND OLD.duration_ms IS NOT NULL))
      AND EXISTS (SELECT 1 FROM agent_task_totals t WHERE t.agent_id = agents.id);
END;

-- Another agent: the old row's share taken from the old agent, the new row's
-- added to the new one, and both agents recomputed, as 0002 did.
CREATE TRIGGER agent_tasks_counters_move_agent
    AFTER UPDATE ON agent_tasks
    FOR EACH ROW
    WHEN OLD.agent_id IS NOT NEW.agent_id
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
    WHERE id = OLD.agent_id
      AND EXISTS (SELECT 1 FROM agent_task_totals t WHERE t.agent_id = agents.id);

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
END;

-- Same workflow: the row's delta on its workflows row, by key (total_tasks
-- is rewritten as it was, COALESCEd as 0002 did).
CREATE TRIGGER agent_tasks_counters_update_workflow
    AFTER UPDATE ON agent_tasks
    FOR EACH ROW
    WHEN OLD.workflow_id IS NEW.workflow_id
     AND ((OLD.status IS 'completed') IS NOT (NEW.status IS 'completed')
          OR (OLD.status IS 'failed') IS NOT (NEW.status IS 'failed')
          OR COALESCE(OLD.tokens_used, 0) IS NOT COALESCE(NEW.tokens_used, 0)
          OR COALESCE(OLD.cost_usd_micros, 0) IS NOT COALESCE(NEW.cost_usd_micros, 0))
BEGIN
    UPDATE workflows
    SET total_tasks = COALESCE(total_tasks, 0),
        completed_tasks = COALESCE(completed_tasks, 0)
            + (NEW.status IS 'completed') - (OLD.status IS 'completed'),
        failed_tasks = COALESCE(failed_tasks, 0)
            + (NEW.status IS 'failed') - (OLD.status IS 'failed'),
        total_tokens_used = COALESCE(total_tokens_used, 0)
            + COALESCE(NEW.tokens_used, 0) - COALESCE(OLD.tokens_used, 0),
        total_cost_usd_micros = COALESCE(total_cost_usd_micros, 0)
            + COALESCE(NEW.cost_usd_micros, 0) - COALESCE(OLD.cost_usd_micros, 0)
    WHERE id = NEW.workflow_id;
END;

-- Another workflow: the task leaves the old one's counters and joins the new one's.
CREATE TRIGGER agent_tasks_counters_move_workflow
    AFTER UPDATE ON agent_tasks
    FOR EACH ROW
    WHEN OLD.workflow_id IS NOT NEW.workflow_id
BEGIN
    UPDATE workflows
    SET total_tasks = COALESCE(total_tasks, 0) - 1,
        completed_tasks = COALESCE(completed_tasks, 0) - (OLD.status IS 'completed'),
        failed_tasks = COALESCE(failed_tasks, 0) - (OLD.status IS 'failed'),
        total_tokens_used = COALESCE(total_tokens_used, 0) - COALESCE(OLD.tokens_used, 0),
        total_cost_usd_micros = COALESCE(total_cost_usd_micros, 0) - COALESCE(OLD.cost_usd_micros, 0)
    WHERE id = OLD.workflow_id;

    UPDATE workflows
    SET total_tasks = COALESCE(total_tasks, 0) + 1,
        completed_tasks = COALESCE(completed_tasks, 0) + (NEW.status IS 'completed'),
        failed_tasks = COALESCE(failed_tasks, 0) + (NEW.status IS 'failed'),
        total_tokens_used = COALESCE(total_tokens_used, 0) + COALESCE(NEW.tokens_used, 0),
        total_cost_usd_micros = COALESCE(total_cost_usd_micros, 0) + COALESCE(NEW.cost_usd_micros, 0)
    WHERE id = NEW.workflow_id;
END;
