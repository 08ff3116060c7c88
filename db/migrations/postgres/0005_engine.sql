-- 0005_engine (PostgreSQL)
--
-- The engine's durable task queue (see docs/engine.md): scheduling, lease and
-- accounting columns on agent_tasks, idempotency keys on workflows and tasks,
-- the task dependency graph, the model price list (seeded with the seed
-- README's prices), and the two partial indexes of the claim and reaper paths.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

-- ---------------------------------------------------------------------------
-- agent_tasks: queue columns
-- ---------------------------------------------------------------------------

ALTER TABLE agent_tasks
    -- higher is claimed first
    ADD COLUMN priority INTEGER NOT NULL DEFAULT 0,
    -- retries after the first attempt
    ADD COLUMN max_retries INTEGER NOT NULL DEFAULT 3
        CONSTRAINT agent_tasks_max_retries_range CHECK (max_retries BETWEEN 0 AND 100),
    -- the worker kills the task after this long; NULL: no limit
    ADD COLUMN timeout_ms INTEGER
        CONSTRAINT agent_tasks_timeout_ms_positive CHECK (timeout_ms > 0),
    -- not claimable before (retry backoff)
    ADD COLUMN run_after TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    -- dependencies not yet completed; the task is ready when 0
    ADD COLUMN deps_pending INTEGER NOT NULL DEFAULT 0
        CONSTRAINT agent_tasks_deps_pending_nonnegative CHECK (deps_pending >= 0),
    -- subtasks (parent_task_id) not yet finished
    ADD COLUMN children_pending INTEGER NOT NULL DEFAULT 0
        CONSTRAINT agent_tasks_children_pending_nonnegative CHECK (children_pending >= 0),
    -- the worker completed it; it completes when its subtasks finish
    ADD COLUMN awaiting_children BOOLEAN NOT NULL DEFAULT false,
    -- incremented at every claim: the fencing token of a lease
    ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0,
    -- who holds the lease, and until when
    ADD COLUMN worker_id VARCHAR(200),
    ADD COLUMN lease_expires_at TIMESTAMP WITH TIME ZONE,
    -- the worker sees it at its next heartbeat
    ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT false,
    -- when reported separately (tokens_used is their sum)
    ADD COLUMN input_tokens INTEGER
        CONSTRAINT agent_tasks_input_tokens_nonnegative CHECK (input_tokens >= 0),
    ADD COLUMN output_tokens INTEGER
        CONSTRAINT agent_tasks_output_tokens_nonnegative CHECK (output_tokens >= 0),
    -- a repeat submit with the same key returns the first task
    ADD COLUMN idempotency_key VARCHAR(200);

ALTER TABLE workflows
    ADD COLUMN idempotency_key VARCHAR(200);

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
    task_id UUID NOT NULL REFERENCES agent_tasks(id) ON DELETE CASCADE,
    depends_on UUID NOT NULL REFERENCES agent_tasks(id) ON DELETE CASCADE,
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
    model VARCHAR(100) PRIMARY KEY,
    usd_per_1k_tokens NUMERIC(12, 6) NOT NULL
        CONSTRAINT model_prices_usd_per_1k_tokens_nonnegative CHECK (usd_per_1k_tokens >= 0),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP
);

INSERT INTO model_prices (model, usd_per_1k_tokens) VALUES
    ('openai-o3', 0.03),
    ('o3-mini', 0.015),
    ('claude-opus-4.1', 0.015),
    ('claude-sonnet-4.5', 0.008),
    ('gemini-3.0-ultra', 0.01),
    ('grok-4', 0.012),
    ('llama-4-405b', 0.0);
