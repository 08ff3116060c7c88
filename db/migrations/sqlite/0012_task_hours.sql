-- 0012_task_hours (SQLite; PostgreSQL: 0014_task_hours)
--
-- agent_task_hours: per agent and UTC hour of created_at (microseconds, a
-- multiple of 3,600,000,000), the completed tasks with their tokens, cost and
-- durations, kept true by row triggers on agent_tasks from any path, like
-- agent_task_totals (0002). The windowed "Get agent statistics" reads at most
-- one partial hour of agent_tasks plus one row per whole hour
-- (src/store/stats.c). Archiving (0011) deletes with a row in archive_guard:
-- like the totals, the hours keep counting archived tasks.

CREATE TABLE agent_task_hours (
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE ON UPDATE CASCADE,
    hour INTEGER NOT NULL,
    completed INTEGER NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd_micros INTEGER NOT NULL DEFAULT 0,
    duration_sum INTEGER NOT NULL DEFAULT 0,
    duration_n INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (agent_id, hour)
) WITHOUT ROWID;

CREATE TRIGGER agent_tasks_window_insert
    AFTER INSERT ON agent_tasks
    FOR EACH ROW
    WHEN NEW.status IS 'completed' AND NEW.created_at IS NOT NULL
BEGIN
    INSERT INTO agent_task_hours (agent_id, hour, completed, tokens, cost_usd_micros,
                                  duration_sum, duration_n)
    VALUES (NEW.agent_id, (NEW.created_at / 3600000000) * 3600000000, 1,
            COALESCE(NEW.tokens_used, 0), COALESCE(NEW.cost_usd_micros, 0),
            COALESCE(NEW.duration_ms, 0), NEW.duration_ms IS NOT NULL)
    ON CONFLICT (agent_id, hour) DO UPDATE
    SET completed = completed + 1, tokens = tokens + excluded.tokens,
        cost_usd_micros = cost_usd_micros + excluded.cost_usd_micros,
        duration_sum = duration_sum + excluded.duration_sum,
        duration_n = duration_n + excluded.duration_n;
END;

-- Only an UPDATE of a counted column of a row that is or was completed: a claim
-- (pending -> running) or a heartbeat does not fire it.
CREATE TRIGGER agent_tasks_window_update
    AFTER UPDATE OF status, tokens_used, cost_usd_micros, duration_ms, created_at, agent_id
    ON agent_tasks
    FOR EACH ROW
    WHEN (OLD.status IS 'completed' AND OLD.created_at IS NOT NULL)
      OR (NEW.status IS 'completed' AND NEW.created_at IS NOT NULL)
BEGIN
    UPDATE agent_task_hours
    SET completed = completed - 1, tokens = tokens - COALESCE(OLD.tokens_used, 0),
        cost_usd_micros = cost_usd_micros - COALESCE(OLD.cost_usd_micros, 0),
        duration_sum = duration_sum - COALESCE(OLD.duration_ms, 0),
        duration_n = duration_n - (OLD.duration_ms IS NOT NULL)
    WHERE OLD.status IS 'completed' AND OLD.created_at IS NOT NULL
      AND agent_id = OLD.agent_id AND hour = (OLD.created_at / 3600000000) * 3600000000;
    INSERT INTO agent_task_hours (agent_id, hour, completed, tokens, cost_usd_micros,
                                  duration_sum, duration_n)
    SELECT NEW.agent_id, (NEW.created_at / 3600000000) * 3600000000, 1,
           COALESCE(NEW.tokens_used, 0), COALESCE(NEW.cost_usd_micros, 0),
           COALESCE(NEW.duration_ms, 0), NEW.duration_ms IS NOT NULL
    WHERE NEW.status IS 'completed' AND NEW.created_at IS NOT NULL
    ON CONFLICT (agent_id, hour) DO UPDATE
    SET completed = completed + 1, tokens = tokens + excluded.tokens,
        cost_usd_micros = cost_usd_micros + excluded.cost_usd_micros,
        duration_sum = duration_sum + excluded.duration_sum,
        duration_n = duration_n + excluded.duration_n;
END;

CREATE TRIGGER agent_tasks_window_delete
    AFTER DELETE ON agent_tasks
    FOR EACH ROW
    WHEN OLD.status IS 'completed' AND OLD.created_at IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM archive_guard)
BEGIN
    UPDATE agent_task_hours
    SET completed = completed - 1, tokens = tokens - COALESCE(OLD.tokens_used, 0),
        cost_usd_micros = cost_usd_micros - COALESCE(OLD.cost_usd_micros, 0),
        duration_sum = duration_sum - COALESCE(OLD.duration_ms, 0),
        duration_n = duration_n - (OLD.duration_ms IS NOT NULL)
    WHERE agent_id = OLD.agent_id AND hour = (OLD.created_at / 3600000000) * 3600000000;
END;

INSERT INTO agent_task_hours (agent_id, hour, completed, tokens, cost_usd_micros, duration_sum,
                              duration_n)
SELECT agent_id, (created_at / 3600000000) * 3600000000, count(*), COALESCE(sum(tokens_used), 0),
       COALESCE(sum(cost_usd_micros), 0), COALESCE(sum(duration_ms), 0), count(duration_ms)
FROM agent_tasks WHERE status = 'completed' AND created_at IS NOT NULL
GROUP BY 1, 2;
