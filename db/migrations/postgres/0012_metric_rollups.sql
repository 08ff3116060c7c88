-- 0012_metric_rollups (PostgreSQL)
--
-- Hourly rollups of agent_metrics, so that hour and day series read one row per
-- agent, type and hour instead of every point (docs/operations.md, "Metric
-- partitions, rollups and retention"; the same tables on SQLite: 0010).
--
-- agent_metric_rollups holds, per (agent, metric type, UTC hour): the count, sum,
-- min and max of the points, and a sketch of their distribution: a log-bucketed
-- histogram in the manner of DDSketch (relative accuracy 1%: bucket key
-- ceil(ln|v| / ln((1 + 0.01) / (1 - 0.01))), separate keys for negative values
-- and for |v| < 1e-9), as text "p<key>:<count>,n<key>:<count>,z:<count>".
-- Sketches merge by adding counts, so a day bucket merges its 24 hours.
-- include/tokyoia/metrics.h states the resulting percentile error.
--
-- Who rolls up: tia_metric_rollup (run by `tokyoia maintain`) rolls closed hours
-- and moves metric_rollup_state.rolled_until forward; the insert path (engine
-- completions, the API, the bulk loader) writes raw points only, and a series
-- reads rollups for hours before rolled_until and raw points after it. A point
-- that arrives late, in an hour already claimed for rollup (recorded_at before
-- late_before), marks its hour in metric_rollup_dirty (a statement-level
-- trigger: one cheap statement per INSERT, no row of a shared table is locked
-- unless a point is late), series read that hour from the raw points until the
-- next rollup recomputes it. Deleting points (retention) does not mark hours:
-- rollups outlive the raw points on purpose (their own retention is the setting
-- rollup_retention).
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

CREATE TABLE agent_metric_rollups (
    agent_id VARCHAR(50) NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    metric_type VARCHAR(50) NOT NULL,
    bucket_start TIMESTAMP WITH TIME ZONE NOT NULL,
    count BIGINT NOT NULL CHECK (count > 0),
    sum FLOAT NOT NULL,
    min FLOAT NOT NULL,
    max FLOAT NOT NULL,
    sketch TEXT NOT NULL,
    PRIMARY KEY (agent_id, metric_type, bucket_start)
);

-- Series over every agent read by type and time.
CREATE INDEX idx_metric_rollups_type_time ON agent_metric_rollups(metric_type, bucket_start);

-- One row. late_before: points recorded before it are late (they mark their hour
-- dirty). rolled_until: every hour before it has its rollups, unless dirty.
-- No row (as after migrating, so that a new database holds no row a restore
-- would count as content), or NULL: nothing rolled yet.
CREATE TABLE metric_rollup_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    late_before TIMESTAMP WITH TIME ZONE,
    rolled_until TIMESTAMP WITH TIME ZONE
);

-- Hours whose rollups miss late points; marks counts the late points so that a
-- rollup clears only the marks it has seen.
CREATE TABLE metric_rollup_dirty (
    hour TIMESTAMP WITH TIME ZONE PRIMARY KEY,
    marks BIGINT NOT NULL
);

-- The hours are marked in time order, the order in which a rollup clears them,
-- so that two statements never wait for each other's marks in a cycle.
CREATE FUNCTION agent_metrics_mark_late() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO metric_rollup_dirty AS d (hour, marks)
    SELECT date_trunc('hour', p.recorded_at, 'UTC'), count(*)
    FROM new_points p
    WHERE p.recorded_at < (SELECT late_before FROM metric_rollup_state WHERE id = 1)
    GROUP BY 1
    ORDER BY 1
    ON CONFLICT (hour) DO UPDATE SET marks = d.marks + EXCLUDED.marks;
    RETURN NULL;
END;
$$;

CREATE FUNCTION agent_metrics_mark_late_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO metric_rollup_dirty AS d (hour, marks)
    SELECT date_trunc('hour', p.recorded_at, 'UTC'), count(*)
    FROM (SELECT recorded_at FROM old_points UNION ALL SELECT recorded_at FROM new_points) p
    WHERE p.recorded_at < (SELECT late_before FROM metric_rollup_state WHERE id = 1)
    GROUP BY 1
    ORDER BY 1
    ON CONFLICT (hour) DO UPDATE SET marks = d.marks + EXCLUDED.marks;
    RETURN NULL;
END;
$$;

CREATE TRIGGER agent_metrics_late_insert
    AFTER INSERT ON agent_metrics
    REFERENCING NEW TABLE AS new_points
    FOR EACH STATEMENT EXECUTE FUNCTION agent_metrics_mark_late();

CREATE TRIGGER agent_metrics_late_update
    AFTER UPDATE ON agent_metrics
    REFERENCING OLD TABLE AS old_points NEW TABLE AS new_points
    FOR EACH STATEMENT EXECUTE FUNCTION agent_metrics_mark_late_update();
