-- 0001_initial_schema (SQLite)
--
-- The seed schema with the same meaning as on PostgreSQL; see docs/schema.md,
-- "Types on SQLite":
--   UUID        TEXT, lowercase canonical 8-4-4-4-12 (CHECKed by GLOB); default
--               a random v4 for rows inserted by hand (the library writes v7)
--   TIMESTAMPTZ INTEGER microseconds since 1970-01-01 UTC; default the current
--               time (julianday('now') has millisecond resolution: the default
--               is rounded to the millisecond so that it is exact)
--   DECIMAL     INTEGER *_micros (exact micro-dollars) plus a generated REAL
--               column of the seed's name, for reading by hand
--   JSONB       TEXT CHECK json_valid; TEXT[] a JSON array of strings
--   INET        TEXT CHECKed for the address characters
--   VARCHAR(n)  TEXT CHECK length <= n; INTEGER (int4) CHECKed to its range
-- PRIMARY KEY columns are declared NOT NULL (SQLite would otherwise accept a
-- NULL key in a rowid table). Foreign keys need PRAGMA foreign_keys = ON,
-- which the library sets on every connection.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

-- ---------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------

CREATE TABLE agents (
    id TEXT NOT NULL PRIMARY KEY CHECK (length(id) <= 50),
    name TEXT NOT NULL CHECK (length(name) <= 100),
    role TEXT NOT NULL CHECK (length(role) <= 200),
    model TEXT NOT NULL CHECK (length(model) <= 100),
    specialties TEXT NOT NULL
        CHECK (CASE WHEN json_valid(specialties) THEN json_type(specialties) = 'array' ELSE 0 END),
    backstory TEXT,
    personality_emoji TEXT CHECK (length(personality_emoji) <= 10),
    status TEXT DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'maintenance')),
    total_tasks_completed INTEGER DEFAULT 0 CHECK (total_tasks_completed BETWEEN -2147483648 AND 2147483647),
    total_tokens_used INTEGER DEFAULT 0,
    average_latency_ms REAL DEFAULT 0,
    success_rate REAL DEFAULT 100.0,
    created_at INTEGER DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000),
    updated_at INTEGER DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000),
    metadata TEXT DEFAULT '{}' CHECK (metadata IS NULL OR json_valid(metadata))
);

CREATE TABLE workflows (
    id TEXT NOT NULL PRIMARY KEY DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))))
        CHECK (id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
    name TEXT NOT NULL CHECK (length(name) <= 200),
    description TEXT,
    status TEXT DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    workflow_type TEXT CHECK (length(workflow_type) <= 100),
    initiator TEXT CHECK (length(initiator) <= 100),
    total_tasks INTEGER DEFAULT 0 CHECK (total_tasks BETWEEN -2147483648 AND 2147483647),
    completed_tasks INTEGER DEFAULT 0 CHECK (completed_tasks BETWEEN -2147483648 AND 2147483647),
    failed_tasks INTEGER DEFAULT 0 CHECK (failed_tasks BETWEEN -2147483648 AND 2147483647),
    started_at INTEGER,
    completed_at INTEGER,
    duration_ms INTEGER CHECK (duration_ms BETWEEN -2147483648 AND 2147483647),
    total_tokens_used INTEGER DEFAULT 0 CHECK (total_tokens_used BETWEEN -2147483648 AND 2147483647),
    total_cost_usd_micros INTEGER DEFAULT 0 CHECK (total_cost_usd_micros BETWEEN -9999999999 AND 9999999999),
    total_cost_usd REAL GENERATED ALWAYS AS (total_cost_usd_micros / 1000000.0) VIRTUAL,
    created_at INTEGER DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000),
    updated_at INTEGER DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000),
    metadata TEXT DEFAULT '{}' CHECK (metadata IS NULL OR json_valid(metadata))
);

CREATE TABLE agent_tasks (
    id TEXT NOT NULL PRIMARY KEY DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))))
        CHECK (id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE CHECK (length(agent_id) <= 50),
    workflow_id TEXT REFERENCES workflows(id) ON DELETE CASCADE
        CHECK (workflow_id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
    task_type TEXT NOT NULL CHECK (length(task_type) <= 100),
    description TEXT NOT NULL,
    status TEXT DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    input_data TEXT CHECK (input_data IS NULL OR json_valid(input_data)),
    output_data TEXT CHECK (output_data IS NULL OR json_valid(output_data)),
    error_message TEXT,
    started_at INTEGER,
    completed_at INTEGER,
    duration_ms INTEGER CHECK (duration_ms BETWEEN -2147483648 AND 2147483647),
    tokens_used INTEGER DEFAULT 0 CHECK (tokens_used BETWEEN -2147483648 AND 2147483647),
    cost_usd_micros INTEGER DEFAULT 0 CHECK (cost_usd_micros BETWEEN -9999999999 AND 9999999999),
    cost_usd REAL GENERATED ALWAYS AS (cost_usd_micros / 1000000.0) VIRTUAL,
    retry_count INTEGER DEFAULT 0 CHECK (retry_count BETWEEN -2147483648 AND 2147483647),
    parent_task_id TEXT REFERENCES agent_tasks(id)
        CHECK (parent_task_id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
    created_at INTEGER DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000),
    metadata TEXT DEFAULT '{}' CHECK (metadata IS NULL OR json_valid(metadata))
);

CREATE TABLE agent_metrics (
    id TEXT NOT NULL PRIMARY KEY DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))))
        CHECK (id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE CHECK (length(agent_id) <= 50),
    metric_type TEXT NOT NULL CHECK (length(metric_type) <= 50),
    metric_value REAL NOT NULL,
    metric_unit TEXT CHECK (length(metric_unit) <= 20),
    recorded_at INTEGER DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000),
    context TEXT DEFAULT '{}' CHECK (context IS NULL OR json_valid(context))
);

CREATE TABLE agent_interactions (
    id TEXT NOT NULL PRIMARY KEY DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))))
        CHECK (id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
    workflow_id TEXT REFERENCES workflows(id) ON DELETE CASCADE
        CHECK (workflow_id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
    from_agent_id TEXT NOT NULL REFERENCES agents(id) CHECK (length(from_agent_id) <= 50),
    to_agent_id TEXT NOT NULL REFERENCES agents(id) CHECK (length(to_agent_id) <= 50),
    interaction_type TEXT NOT NULL CHECK (length(interaction_type) <= 50),
    message TEXT,
    payload TEXT CHECK (payload IS NULL OR json_valid(payload)),
    created_at INTEGER DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000)
);

CREATE TABLE user_sessions (
    id TEXT NOT NULL PRIMARY KEY DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))))
        CHECK (id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
    user_id TEXT NOT NULL CHECK (length(user_id) <= 100),
    session_token TEXT UNIQUE NOT NULL CHECK (length(session_token) <= 255),
    device_info TEXT CHECK (device_info IS NULL OR json_valid(device_info)),
    -- IPv4 or IPv6, optional /prefix, in the lowercase canonical form the library writes
    ip_address TEXT
        CHECK (length(ip_address) BETWEEN 2 AND 49 AND ip_address NOT GLOB '*[^0-9a-f:./]*' AND ip_address GLOB '*[.:]*'),
    started_at INTEGER DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000),
    last_activity_at INTEGER DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000),
    expires_at INTEGER,
    status TEXT DEFAULT 'active' CHECK (status IN ('active', 'expired', 'revoked'))
);

-- specialties is TEXT[] on PostgreSQL: every element must be a string. A CHECK
-- cannot hold a subquery, so this CHECK is a pair of triggers.
CREATE TRIGGER agents_specialties_strings_insert
    BEFORE INSERT ON agents
    FOR EACH ROW
    WHEN EXISTS (SELECT 1
                 FROM json_each(CASE WHEN json_valid(NEW.specialties) AND json_type(NEW.specialties) = 'array'
                                    THEN NEW.specialties ELSE '[]' END)
                 WHERE type <> 'text')
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: agents_specialties_strings');
END;

CREATE TRIGGER agents_specialties_strings_update
    BEFORE UPDATE OF specialties ON agents
    FOR EACH ROW
    WHEN EXISTS (SELECT 1
                 FROM json_each(CASE WHEN json_valid(NEW.specialties) AND json_type(NEW.specialties) = 'array'
                                    THEN NEW.specialties ELSE '[]' END)
                 WHERE type <> 'text')
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: agents_specialties_strings');
END;

-- ---------------------------------------------------------------------------
-- Performance indexes
-- ---------------------------------------------------------------------------

-- Agent queries
CREATE INDEX idx_agents_status ON agents(status);

-- Workflow queries
CREATE INDEX idx_workflows_status ON workflows(status);
CREATE INDEX idx_workflows_created_at ON workflows(created_at DESC);
CREATE INDEX idx_workflows_type ON workflows(workflow_type);

-- Task queries
CREATE INDEX idx_tasks_agent_status ON agent_tasks(agent_id, status, created_at DESC);
CREATE INDEX idx_tasks_workflow ON agent_tasks(workflow_id);
CREATE INDEX idx_tasks_status ON agent_tasks(status);
CREATE INDEX idx_tasks_created_at ON agent_tasks(created_at DESC);

-- Metrics queries (time-series)
CREATE INDEX idx_metrics_agent_type_time ON agent_metrics(agent_id, metric_type, recorded_at DESC);

-- Interaction queries
CREATE INDEX idx_interactions_workflow ON agent_interactions(workflow_id);
CREATE INDEX idx_interactions_agents ON agent_interactions(from_agent_id, to_agent_id);

-- ---------------------------------------------------------------------------
-- Triggers (same meaning as the seed's PL/pgSQL ones)
-- ---------------------------------------------------------------------------
-- SQLite has no BEFORE trigger that can change NEW, so these are AFTER UPDATE
-- triggers that update the row again; with recursive_triggers off (the
-- default, which the library keeps) they do not fire themselves.

CREATE TRIGGER update_agents_updated_at
    AFTER UPDATE ON agents
    FOR EACH ROW
BEGIN
    UPDATE agents SET updated_at = (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000) WHERE id = NEW.id;
END;

CREATE TRIGGER update_workflows_updated_at
    AFTER UPDATE ON workflows
    FOR EACH ROW
BEGIN
    UPDATE workflows SET updated_at = (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000) WHERE id = NEW.id;
END;

-- PostgreSQL: duration_ms = EXTRACT(EPOCH FROM completed_at - started_at) * 1000,
-- assigned to an INTEGER (rounded half away from zero); NULL when completed_at
-- is NULL.
CREATE TRIGGER calc_workflow_duration
    AFTER UPDATE ON workflows
    FOR EACH ROW
    WHEN NEW.status = 'completed' AND NEW.started_at IS NOT NULL
BEGIN
    UPDATE workflows
    SET duration_ms = CAST(round((NEW.completed_at - NEW.started_at) / 1000.0) AS INTEGER)
    WHERE id = NEW.id;
END;

-- ---------------------------------------------------------------------------
-- agent_stats: per agent, over all of its tasks
-- ---------------------------------------------------------------------------

CREATE VIEW agent_stats AS
SELECT
    a.id,
    a.name,
    a.role,
    a.status,
    COUNT(t.id) AS total_tasks,
    COUNT(t.id) FILTER (WHERE t.status = 'completed') AS completed_tasks,
    COUNT(t.id) FILTER (WHERE t.status = 'failed') AS failed_tasks,
    COALESCE(SUM(t.tokens_used), 0) AS total_tokens,
    COALESCE(SUM(t.cost_usd_micros), 0) / 1000000.0 AS total_cost,
    COALESCE(AVG(t.duration_ms), 0.0) AS avg_duration_ms,
    CASE
        WHEN COUNT(t.id) = 0 THEN 100.0
        ELSE ROUND(100.0 * COUNT(t.id) FILTER (WHERE t.status = 'completed') / COUNT(t.id), 2)
    END AS success_rate
FROM agents a
LEFT JOIN agent_tasks t ON t.agent_id = a.id
GROUP BY a.id, a.name, a.role, a.status;

-- ---------------------------------------------------------------------------
-- The five agents
-- ---------------------------------------------------------------------------
-- The emoji are built with char() from their code points so that the bytes
-- stored are the right UTF-8 whatever reads this file:
--   akira 侍 U+4F8D, yuki ❄️ U+2744 U+FE0F, hiro 🛡️ U+1F6E1 U+FE0F,
--   sakura 🌸 U+1F338, kenji 🏗️ U+1F3D7 U+FE0F.

INSERT INTO agents (id, name, role, model, specialties, personality_emoji, backstory) VALUES
    ('akira-001', 'Akira', 'Code Review Master', 'claude-opus-4.1',
     '["security","performance","architecture","code-quality"]',
     char(0x4F8D),
     'A meticulous reviewer who reads every diff like a samurai inspects a blade, looking for the flaw before it cuts.'),
    ('yuki-002', 'Yuki', 'Test Engineering Specialist', 'openai-o3',
     '["unit-testing","integration-testing","e2e-testing","test-automation"]',
     char(0x2744, 0xFE0F),
     'A calm, precise tester who believes no feature exists until a test proves it.'),
    ('hiro-003', 'Hiro', 'SRE & DevOps Guardian', 'llama-4-405b',
     '["kubernetes","ci-cd","monitoring","infrastructure","reliability"]',
     char(0x1F6E1, 0xFE0F),
     'A steady guardian of production who keeps the pipelines green and the pagers quiet.'),
    ('sakura-004', 'Sakura', 'Documentation Artist', 'gemini-3.0-ultra',
     '["technical-writing","documentation","diagrams","api-docs"]',
     char(0x1F338),
     'A writer who turns tangled systems into clear pages and diagrams anyone can follow.'),
    ('kenji-005', 'Kenji', 'Architecture Visionary', 'openai-o3',
     '["system-design","architecture","design-patterns","scalability"]',
     char(0x1F3D7, 0xFE0F),
     'A patient architect who designs systems to grow for years without being rebuilt.');
