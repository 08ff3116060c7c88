-- 0010_metric_rollups (SQLite)
--
-- The settings of `tokyoia maintain` and the hourly rollups of agent_metrics, as
-- PostgreSQL's 0011 (tokyoia_settings) and 0012 (the rollups) make them; read
-- db/migrations/postgres/0012_metric_rollups.sql for the design. Timestamps are
-- integer microseconds since the epoch, as everywhere on SQLite; an hour starts
-- at a multiple of 3,600,000,000. SQLite has one writer at a time, so the late
-- point check is a row trigger whose WHEN clause reads the one-row state table.
-- SQLite tables are not partitioned: retention deletes expired points in
-- bounded batches.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

CREATE TABLE tokyoia_settings (
    key TEXT PRIMARY KEY CHECK (length(key) <= 64),
    value TEXT NOT NULL CHECK (length(value) <= 200),
    updated_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000)
);

-- No rows: a setting never set has the library's default
-- (include/tokyoia/maintain.h). metric_partition and metric_partition_ahead
-- apply to PostgreSQL only.

CREATE TABLE agent_metric_rollups (
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    metric_type TEXT NOT NULL,
    bucket_start INTEGER NOT NULL,
    count INTEGER NOT NULL CHECK (count > 0),
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    sketch TEXT NOT NULL,
    PRIMARY KEY (agent_id, metric_type, bucket_start)
);

CREATE INDEX idx_metric_rollups_type_time ON agent_metric_rollups(metric_type, bucket_start);

CREATE TABLE metric_rollup_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    late_before INTEGER,
    rolled_until INTEGER
);

CREATE TABLE metric_rollup_dirty (
    hour INTEGER PRIMARY KEY,
    marks INTEGER NOT NULL
);

CREATE TRIGGER agent_metrics_late_insert
    AFTER INSERT ON agent_metrics
    WHEN NEW.recorded_at < (SELECT late_before FROM metric_rollup_state WHERE id = 1)
BEGIN
    INSERT INTO metric_rollup_dirty (hour, marks)
    VALUES (NEW.recorded_at - ((NEW.recorded_at % 3600000000) + 3600000000) % 3600000000, 1)
    ON CONFLICT (hour) DO UPDATE SET marks = marks + 1;
END;

CREATE TRIGGER agent_metrics_late_update_old
    AFTER UPDATE OF recorded_at, metric_value, metric_type, agent_id ON agent_metrics
    WHEN OLD.recorded_at < (SELECT late_before FROM metric_rollup_state WHERE id = 1)
BEGIN
    INSERT INTO metric_rollup_dirty (hour, marks)
    VALUES (OLD.recorded_at - ((OLD.recorded_at % 3600000000) + 3600000000) % 3600000000, 1)
    ON CONFLICT (hour) DO UPDATE SET marks = marks + 1;
END;

CREATE TRIGGER agent_metrics_late_update_new
    AFTER UPDATE OF recorded_at, metric_value, metric_type, agent_id ON agent_metrics
    WHEN NEW.recorded_at < (SELECT late_before FROM metric_rollup_state WHERE id = 1)
BEGIN
    INSERT INTO metric_rollup_dirty (hour, marks)
    VALUES (NEW.recorded_at - ((NEW.recorded_at % 3600000000) + 3600000000) % 3600000000, 1)
    ON CONFLICT (hour) DO UPDATE SET marks = marks + 1;
END;
