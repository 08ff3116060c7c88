-- 0014_task_hours (PostgreSQL; SQLite: 0012_task_hours)
--
-- agent_task_hours: per agent and UTC hour of created_at, the completed tasks
-- with their tokens, cost and durations, kept true by statement triggers on
-- agent_tasks from any path, like agent_task_totals (0002). The seed's "Get
-- agent statistics" over a window (completed tasks created in the last N
-- hours) then reads at most one partial hour of agent_tasks plus one row per
-- whole hour, instead of every task of the window: at 100,000 tasks a day a
-- 24-hour window was a scan of 100,000 rows (src/store/stats.c).
--
-- Lock order: these triggers are named agent_tasks_window_* so that they fire
-- after agent_tasks_counters_* (same event, alphabetical order), which row-lock
-- the agent's agent_task_totals row whenever a task enters or leaves
-- 'completed'. A transaction therefore holds the agent's totals row before it
-- locks any of the agent's hour rows, and two transactions cannot wait for
-- each other's hour rows. Within a statement, rows are upserted in (agent_id,
-- hour) order. A task without created_at is in no window and in no hour.
--
-- Archiving (0013) moves tasks out with tokyoia.archiving = 'on': like the
-- totals, the hours keep counting archived tasks (the DELETE trigger is skipped).
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

CREATE TABLE agent_task_hours (
    agent_id VARCHAR(50) NOT NULL REFERENCES agents(id) ON DELETE CASCADE ON UPDATE CASCADE,
    hour TIMESTAMP WITH TIME ZONE NOT NULL,
    completed BIGINT NOT NULL DEFAULT 0,
    tokens BIGINT NOT NULL DEFAULT 0,
    cost_usd NUMERIC(20, 6) NOT NULL DEFAULT 0,
    duration_sum BIGINT NOT NULL DEFAULT 0,
    duration_n BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (agent_id, hour)
);

-- The delta of one statement: +1 per new completed row, -1 per old one, summed
-- per agent and hour; hours whose sums do not move are left alone, so a claim
-- (pending -> running) or a heartbeat writes nothing here.
CREATE FUNCTION agent_task_hours_maintain()
RETURNS TRIGGER AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- Never an INSERT: during an ON DELETE CASCADE from agents the agent
        -- and its hour rows may already be gone.
        UPDATE agent_task_hours h
        SET completed = h.completed - d.completed, tokens = h.tokens - d.tokens,
            cost_usd = h.cost_usd - d.cost_usd, duration_sum = h.duration_sum - d.duration_sum,
            duration_n = h.duration_n - d.duration_n
        FROM (SELECT agent_id, date_bin('1 hour', created_at, TIMESTAMPTZ 'epoch') AS hour,
                     count(*) AS completed, COALESCE(sum(tokens_used), 0) AS tokens,
                     COALESCE(sum(cost_usd), 0) AS cost_usd,
                     COALESCE(sum(duration_ms), 0) AS duration_sum, count(duration_ms) AS duration_n
              FROM old_rows WHERE status = 'completed' AND created_at IS NOT NULL
              GROUP BY 1, 2) d
        WHERE h.agent_id = d.agent_id AND h.hour = d.hour;
        RETURN NULL;
    END IF;
    INSERT INTO agent_task_hours AS h (agent_id, hour, completed, tokens, cost_usd,
                                       duration_sum, duration_n)
    SELECT agent_id, hour, sum(sign), COALESCE(sum(sign::bigint * tokens_used), 0),
           COALESCE(sum(sign * cost_usd), 0), COALESCE(sum(sign::bigint * duration_ms), 0),
           COALESCE(sum(sign) FILTER (WHERE duration_ms IS NOT NULL), 0)
    FROM (SELECT 1 AS sign, agent_id, date_bin('1 hour', created_at, TIMESTAMPTZ 'epoch') AS hour,
                 tokens_used, cost_usd, duration_ms
          FROM new_rows WHERE status = 'completed' AND created_at IS NOT NULL
          UNION ALL
          SELECT -1, agent_id, date_bin('1 hour', created_at, TIMESTAMPTZ 'epoch'),
                 tokens_used, cost_usd, duration_ms
          FROM old_rows WHERE status = 'completed' AND created_at IS NOT NULL) r
    GROUP BY agent_id, hour
    HAVING (sum(sign), COALESCE(sum(sign::bigint * tokens_used), 0), COALESCE(sum(sign * cost_usd), 0),
            COALESCE(sum(sign::bigint * duration_ms), 0),
            COALESCE(sum(sign) FILTER (WHERE duration_ms IS NOT NULL), 0)) <> (0, 0, 0, 0, 0)
    ORDER BY agent_id, hour
    ON CONFLICT (agent_id, hour) DO UPDATE
    SET completed = h.completed + EXCLUDED.completed, tokens = h.tokens + EXCLUDED.tokens,
        cost_usd = h.cost_usd + EXCLUDED.cost_usd,
        duration_sum = h.duration_sum + EXCLUDED.duration_sum,
        duration_n = h.duration_n + EXCLUDED.duration_n;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- INSERT has no old rows: a transition table named old_rows exists only for
-- UPDATE and DELETE triggers, so INSERT gets a function of its own.
CREATE FUNCTION agent_task_hours_insert()
RETURNS TRIGGER AS $$
BEGIN
    INSERT INTO agent_task_hours AS h (agent_id, hour, completed, tokens, cost_usd,
                                       duration_sum, duration_n)
    SELECT agent_id, date_bin('1 hour', created_at, TIMESTAMPTZ 'epoch'), count(*),
           COALESCE(sum(tokens_used), 0), COALESCE(sum(cost_usd), 0),
           COALESCE(sum(duration_ms), 0), count(duration_ms)
    FROM new_rows WHERE status = 'completed' AND created_at IS NOT NULL
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (agent_id, hour) DO UPDATE
    SET completed = h.completed + EXCLUDED.completed, tokens = h.tokens + EXCLUDED.tokens,
        cost_usd = h.cost_usd + EXCLUDED.cost_usd,
        duration_sum = h.duration_sum + EXCLUDED.duration_sum,
        duration_n = h.duration_n + EXCLUDED.duration_n;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION agent_task_hours_truncate()
RETURNS TRIGGER AS $$
BEGIN
    DELETE FROM agent_task_hours;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER agent_tasks_window_insert
    AFTER INSERT ON agent_tasks
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION agent_task_hours_insert();

CREATE TRIGGER agent_tasks_window_update
    AFTER UPDATE ON agent_tasks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION agent_task_hours_maintain();

CREATE TRIGGER agent_tasks_window_delete
    AFTER DELETE ON agent_tasks
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    WHEN (current_setting('tokyoia.archiving', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION agent_task_hours_maintain();

CREATE TRIGGER agent_tasks_window_truncate
    AFTER TRUNCATE ON agent_tasks
    FOR EACH STATEMENT
    EXECUTE FUNCTION agent_task_hours_truncate();

INSERT INTO agent_task_hours (agent_id, hour, completed, tokens, cost_usd, duration_sum, duration_n)
SELECT agent_id, date_bin('1 hour', created_at, TIMESTAMPTZ 'epoch'), count(*),
       COALESCE(sum(tokens_used), 0), COALESCE(sum(cost_usd), 0),
       COALESCE(sum(duration_ms), 0), count(duration_ms)
FROM agent_tasks WHERE status = 'completed' AND created_at IS NOT NULL
GROUP BY 1, 2;
