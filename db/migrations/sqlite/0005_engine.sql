-- 0005_engine (SQLite)
--
-- The engine's durable task queue (see docs/engine.md and the PostgreSQL file):
-- scheduling, lease and accounting columns on agent_tasks, idempotency keys on
-- workflows and tasks, the task dependency graph, the model price list (seeded
-- with the seed README's prices), and the partial indexes of the claim and
-- reaper paths. Types as in docs/schema.md: BOOLEAN is INTEGER 0/1 (CHECKed),
-- TIMESTAMPTZ INTEGER microseconds, NUMERIC money INTEGER *_micros plus a
-- generated REAL column of the PostgreSQL name, INTEGER CHECKed to int4.
--
-- ALTER TABLE ADD COLUMN can carry a CHECK and a constant DEFAULT but not a
-- non-constant one: run_after defaults to 0 (the epoch), which means
-- "claimable now" exactly as PostgreSQL's default of the current time does for
-- every claim that follows. The named CHECKs fail with the PostgreSQL names.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

-- ---------------------------------------------------------------------------
-- agent_tasks: queue columns
-- ---------------------------------------------------------------------------

-- higher is claimed first
ALTER TABLE agent_tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0
    CHECK (priority BETWEEN -2147483648 AND 2147483647);
-- retries after the first attempt
ALTER TABLE agent_tasks ADD COLUMN max_retries INTEGER NOT NULL DEFAULT 3
    CONSTRAINT agent_tasks_max_retries_range CHECK (max_retries BETWEEN 0 AND 100);
-- the worker kills the task after this long; NULL: no limit
ALTER TABLE agent_tasks ADD COLUMN timeout_ms INTEGER
    CONSTRAINT agent_tasks_timeout_ms_positive CHECK (timeout_ms BETWEEN 1 AND 2147483647);
-- not claimable before (retry backoff); 0: claimable now (see above)
ALTER TABLE agent_tasks ADD COLUMN run_after INTEGER NOT NULL DEFAULT 0;
-- dependencies not yet completed; the task is ready when 0
ALTER TABLE agent_tasks ADD COLUMN deps_pending INTEGER NOT NULL DEFAULT 0
    CONSTRAINT agent_tasks_deps_pending_nonnegative CHECK (deps_pending BETWEEN 0 AND 2147483647);
-- subtasks (parent_task_id) not yet finished
ALTER TABLE agent_tasks ADD COLUMN children_pending INTEGER NOT NULL DEFAULT 0
    CONSTRAINT agent_tasks_children_pending_nonnegative CHECK (children_pending BETWEEN 0 AND 2147483647);
-- the worker completed it; it completes when its subtasks finish
ALTER TABLE agent_tasks ADD COLUMN awaiting_children INTEGER NOT NULL DEFAULT 0
    CHECK (awaiting_children IN (0, 1));
-- incremented at every claim: the fencing token of a lease
ALTER TABLE agent_tasks ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0
    CHECK (attempt BETWEEN -2147483648 AND 2147483647);
-- who holds the lease, and until when
ALTER TABLE agent_tasks ADD COLUMN worker_id TEXT CHECK (length(worker_id) <= 200);
ALTER TABLE agent_tasks ADD COLUMN lease_expires_at INTEGER;
-- the worker sees it at its next heartbeat
ALTER TABLE agent_tasks ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0
    CHECK (cancel_requested IN (0, 1));
-- when reported separately (tokens_used is their sum)
ALTER TABLE agent_tasks ADD COLUMN input_tokens INTEGER
    CONSTRAINT agent_tasks_input_tokens_nonnegative CHECK (input_tokens BETWEEN 0 AND 2147483647);
ALTER TABLE agent_tasks ADD COLUMN output_tokens INTEGER
    CONSTRAINT agent_tasks_output_tokens_nonnegative CHECK (output_tokens BETWEEN 0 AND 2147483647);
-- a repeat submit with the same key returns the first task
ALTER TABLE agent_tasks ADD COLUMN idempotency_key TEXT CHECK (length(idempotency_key) <= 200);

ALTER TABLE workflows ADD COLUMN idempotency_key TEXT CHECK (length(idempotency_key) <= 200);

CREATE UNIQUE INDEX idx_tasks_idempotency_key ON agent_tasks(idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX idx_workflows_idempotency_key ON workflows(idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- The claim path: partial, so it holds only the ready work.
CREATE INDEX idx_tasks_ready ON agent_tasks(agent_id, priority DESC, created_at)
    WHERE status = 'pending' AND deps_pending = 0;
-- The reaper: running tasks by lease expiry.
CREATE INDEX idx_tasks_lease ON agent_tasks(lease_expires_at)
    WHERE status = 'running';

-- ---------------------------------------------------------------------------
-- task_dependencies: task_id runs after depends_on completes
-- ---------------------------------------------------------------------------

CREATE TABLE task_dependencies (
    task_id TEXT NOT NULL REFERENCES agent_tasks(id) ON DELETE CASCADE
        CHECK (task_id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
    depends_on TEXT NOT NULL REFERENCES agent_tasks(id) ON DELETE CASCADE
        CHECK (depends_on GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
    PRIMARY KEY (task_id, depends_on),
    -- a task waiting for itself would never be ready
    CONSTRAINT task_dependencies_not_self CHECK (task_id <> depends_on)
);

-- Completing a task looks its dependents up; deleting one cascades through here.
CREATE INDEX idx_task_dependencies_depends_on ON task_dependencies(depends_on);

-- ---------------------------------------------------------------------------
-- model_prices: USD per 1,000 tokens, for the cost of tasks that report tokens
-- ---------------------------------------------------------------------------

CREATE TABLE model_prices (
    model TEXT NOT NULL PRIMARY KEY CHECK (length(model) <= 100),
    -- NUMERIC(12,6) on PostgreSQL: at most 999999.999999
    usd_per_1k_micros INTEGER NOT NULL
        CONSTRAINT model_prices_usd_per_1k_tokens_nonnegative
        CHECK (usd_per_1k_micros BETWEEN 0 AND 999999999999),
    usd_per_1k_tokens REAL GENERATED ALWAYS AS (usd_per_1k_micros / 1000000.0) VIRTUAL,
    updated_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000)
);

INSERT INTO model_prices (model, usd_per_1k_micros) VALUES
    ('openai-o3', 30000),
    ('o3-mini', 15000),
    ('claude-opus-4.1', 15000),
    ('claude-sonnet-4.5', 8000),
    ('gemini-3.0-ultra', 10000),
    ('grok-4', 12000),
    ('llama-4-405b', 0);
