-- 0011_metric_partitions (PostgreSQL)
--
-- agent_metrics becomes a table partitioned by RANGE (recorded_at), so that a
-- range query reads only the partitions it covers and retention drops whole
-- partitions instead of deleting rows (docs/operations.md, "Metric partitions,
-- rollups and retention").
--
-- The conversion keeps every row: the old table is renamed, the partitioned one
-- created with the same columns, defaults, CHECK, foreign key and the seed's
-- index idx_metrics_agent_type_time (a partitioned index, so every partition has
-- it), partitions are created over the old rows' range and the recent past and
-- near future, the rows are copied, and the old table dropped. Two changes the
-- partitioning forces:
--   * the primary key is (id, recorded_at): PostgreSQL requires the partition key
--     in every unique constraint. The library's ids are fresh UUIDv7s, so id alone
--     stays unique in practice; it is no longer enforced across partitions.
--   * recorded_at is NOT NULL: a row must have a key to be routed. A row that had
--     NULL gets CURRENT_TIMESTAMP, the column's default, which is what an INSERT
--     that left recorded_at out would have stored (as 0004 did for status).
--
-- Granularity is a setting in the new table tokyoia_settings (key
-- 'metric_partition': 'month', the default, or 'day'), read by
-- tia_metric_partitions_ensure whenever it creates partitions, so a change
-- (`tokyoia maintain --partition day`) applies to partitions created from then on.
-- Partitions are named agent_metrics_pYYYYMMDD after their first UTC day.
--
-- A write never fails for a missing partition: agent_metrics_default (a DEFAULT
-- partition) takes any row no range partition covers (a stray timestamp far in
-- the past or future). Its cost: it is scanned by queries whose range is not
-- wholly covered by range partitions, and creating a partition whose range has
-- rows in it must move them, which tia_metric_partition_create does.
-- `tokyoia maintain` creates partitions ahead, so the default partition stays
-- empty in normal operation, and moves strays it finds into proper partitions.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

CREATE TABLE tokyoia_settings (
    key VARCHAR(64) PRIMARY KEY,
    value TEXT NOT NULL CHECK (length(value) <= 200),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- No rows: a setting that was never set has the library's default
-- (include/tokyoia/maintain.h), so that a new database holds no row a restore
-- would count as content.

UPDATE agent_metrics SET recorded_at = CURRENT_TIMESTAMP WHERE recorded_at IS NULL;

ALTER TABLE agent_metrics RENAME TO agent_metrics_unpartitioned;
ALTER TABLE agent_metrics_unpartitioned
    RENAME CONSTRAINT agent_metrics_pkey TO agent_metrics_unpartitioned_pkey;
ALTER TABLE agent_metrics_unpartitioned
    RENAME CONSTRAINT agent_metrics_agent_id_fkey TO agent_metrics_unpartitioned_agent_id_fkey;
ALTER INDEX idx_metrics_agent_type_time RENAME TO idx_metrics_agent_type_time_unpartitioned;

CREATE TABLE agent_metrics (
    id UUID NOT NULL DEFAULT uuid_generate_v4(),
    agent_id VARCHAR(50) NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    metric_type VARCHAR(50) NOT NULL,
    metric_value FLOAT NOT NULL,
    metric_unit VARCHAR(20),
    recorded_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    context JSONB DEFAULT '{}'::jsonb,
    CONSTRAINT agent_metrics_pkey PRIMARY KEY (id, recorded_at),
    CONSTRAINT agent_metrics_metric_value_finite
        CHECK (metric_value <> 'NaN'::float8
               AND metric_value <> 'Infinity'::float8
               AND metric_value <> '-Infinity'::float8)
) PARTITION BY RANGE (recorded_at);

CREATE INDEX idx_metrics_agent_type_time ON agent_metrics(agent_id, metric_type, recorded_at DESC);

CREATE TABLE agent_metrics_default PARTITION OF agent_metrics DEFAULT;

-- The range partitions of agent_metrics with their bounds, read from the catalog
-- (the bound expression prints as FOR VALUES FROM ('...') TO ('...')).
CREATE VIEW tia_metric_partitions AS
SELECT c.relname::text AS name,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                     'FROM \(''([^'']*)''\) TO \(''([^'']*)''\)'))[1]::timestamptz AS range_start,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                     'FROM \(''([^'']*)''\) TO \(''([^'']*)''\)'))[2]::timestamptz AS range_end
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'agent_metrics'::regclass
  AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT';

-- Creates the partition [lo, hi) and returns its name. The table is created on
-- its own and then attached: ATTACH PARTITION takes only a SHARE UPDATE
-- EXCLUSIVE lock on agent_metrics, so writers go on, where CREATE TABLE ...
-- PARTITION OF would take an ACCESS EXCLUSIVE one and queue every writer behind
-- it. Rows of that range waiting in the default partition are moved into it
-- first (PostgreSQL refuses a partition whose rows sit in the default one).
CREATE FUNCTION tia_metric_partition_create(lo TIMESTAMP WITH TIME ZONE,
                                            hi TIMESTAMP WITH TIME ZONE)
RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
    part TEXT := 'agent_metrics_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
    EXECUTE format('CREATE TABLE %I (LIKE agent_metrics INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   part);
    IF EXISTS (SELECT 1 FROM agent_metrics_default WHERE recorded_at >= lo AND recorded_at < hi) THEN
        EXECUTE format('WITH moved AS (DELETE FROM agent_metrics_default WHERE recorded_at >= $1 '
                       'AND recorded_at < $2 RETURNING *) INSERT INTO %I SELECT * FROM moved', part)
            USING lo, hi;
    END IF;
    EXECUTE format('ALTER TABLE agent_metrics ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   part, lo, hi);
    RETURN part;
END;
$$;

-- Creates the partitions that cover [lo, hi) where none exists yet, at the
-- granularity the setting 'metric_partition' names now, aligned on UTC months or
-- days, and returns their names. A month only partly covered (the setting went
-- from day to month) is completed with day partitions. Idempotent.
CREATE FUNCTION tia_metric_partitions_ensure(lo TIMESTAMP WITH TIME ZONE,
                                             hi TIMESTAMP WITH TIME ZONE)
RETURNS SETOF TEXT LANGUAGE plpgsql AS $$
DECLARE
    gran TEXT := COALESCE((SELECT value FROM tokyoia_settings WHERE key = 'metric_partition'),
                          'month');
    a TIMESTAMP;  -- UTC wall time, so that day and month arithmetic ignores TimeZone
    b TIMESTAMP;
    d TIMESTAMP;
BEGIN
    IF gran NOT IN ('day', 'month') THEN
        RAISE EXCEPTION 'setting metric_partition must be day or month, not %', gran;
    END IF;
    a := date_trunc(gran, lo AT TIME ZONE 'UTC');
    WHILE a < hi AT TIME ZONE 'UTC' LOOP
        b := a + CASE gran WHEN 'day' THEN interval '1 day' ELSE interval '1 month' END;
        IF NOT EXISTS (SELECT 1 FROM tia_metric_partitions p
                       WHERE p.range_start < b AT TIME ZONE 'UTC'
                         AND p.range_end > a AT TIME ZONE 'UTC') THEN
            RETURN NEXT tia_metric_partition_create(a AT TIME ZONE 'UTC', b AT TIME ZONE 'UTC');
        ELSE
            d := a;
            WHILE d < b LOOP
                IF NOT EXISTS (SELECT 1 FROM tia_metric_partitions p
                               WHERE p.range_start < (d + interval '1 day') AT TIME ZONE 'UTC'
                                 AND p.range_end > d AT TIME ZONE 'UTC') THEN
                    RETURN NEXT tia_metric_partition_create(d AT TIME ZONE 'UTC',
                                                            (d + interval '1 day') AT TIME ZONE 'UTC');
                END IF;
                d := d + interval '1 day';
            END LOOP;
        END IF;
        a := b;
    END LOOP;
END;
$$;

-- Partitions for the old rows (those within ten years back and one year ahead;
-- any farther stray goes to the default partition), the retention window before
-- now (90 days, the default) and the default 30 days ahead.
SELECT count(*) FROM tia_metric_partitions_ensure(
    LEAST(CURRENT_TIMESTAMP - interval '90 days',
          (SELECT min(recorded_at) FROM agent_metrics_unpartitioned
           WHERE recorded_at >= CURRENT_TIMESTAMP - interval '10 years')),
    GREATEST(CURRENT_TIMESTAMP + interval '30 days',
             (SELECT max(recorded_at) + interval '1 microsecond' FROM agent_metrics_unpartitioned
              WHERE recorded_at < CURRENT_TIMESTAMP + interval '1 year')));

INSERT INTO agent_metrics (id, agent_id, metric_type, metric_value, metric_unit, recorded_at, context)
SELECT id, agent_id, metric_type, metric_value, metric_unit, recorded_at, context
FROM agent_metrics_unpartitioned;

DROP TABLE agent_metrics_unpartitioned;
