-- 0001_initial_schema (PostgreSQL)
--
-- The seed schema exactly: six tables, every index of "Performance Indexes",
-- the two trigger functions and their three triggers, the agent_stats view and
-- the five agents. See docs/schema.md.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

CREATE EXTENSION IF NOT EXISTS "uuid-ossp";

-- ---------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------

CREATE TABLE agents (
    id VARCHAR(50) PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    role VARCHAR(200) NOT NULL,
    model VARCHAR(100) NOT NULL,
    specialties TEXT[] NOT NULL,
    backstory TEXT,
    personality_emoji VARCHAR(10),
    status VARCHAR(20) DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'maintenance')),
    total_tasks_completed INTEGER DEFAULT 0,
    total_tokens_used BIGINT DEFAULT 0,
    average_latency_ms FLOAT DEFAULT 0,
    success_rate FLOAT DEFAULT 100.0,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    metadata JSONB DEFAULT '{}'::jsonb
);

CREATE TABLE workflows (
    id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    name VARCHAR(200) NOT NULL,
    description TEXT,
    status VARCHAR(20) DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    workflow_type VARCHAR(100),
    initiator VARCHAR(100),
    total_tasks INTEGER DEFAULT 0,
    completed_tasks INTEGER DEFAULT 0,
    failed_tasks INTEGER DEFAULT 0,
    started_at TIMESTAMP WITH TIME ZONE,
    completed_at TIMESTAMP WITH TIME ZONE,
    duration_ms INTEGER,
    total_tokens_used INTEGER DEFAULT 0,
    total_cost_usd DECIMAL(10, 6) DEFAULT 0,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    metadata JSONB DEFAULT '{}'::jsonb
);

CREATE TABLE agent_tasks (
    id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    agent_id VARCHAR(50) NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    workflow_id UUID REFERENCES workflows(id) ON DELETE CASCADE,
    task_type VARCHAR(100) NOT NULL,
    description TEXT NOT NULL,
    status VARCHAR(20) DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    input_data JSONB,
    output_data JSONB,
    error_message TEXT,
    started_at TIMESTAMP WITH TIME ZONE,
    completed_at TIMESTAMP WITH TIME ZONE,
    duration_ms INTEGER,
    tokens_used INTEGER DEFAULT 0,
    cost_usd DECIMAL(10, 6) DEFAULT 0,
    retry_count INTEGER DEFAULT 0,
    parent_task_id UUID REFERENCES agent_tasks(id),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    metadata JSONB DEFAULT '{}'::jsonb
);

CREATE TABLE agent_metrics (
    id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    agent_id VARCHAR(50) NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    metric_type VARCHAR(50) NOT NULL,
    metric_value FLOAT NOT NULL,
    metric_unit VARCHAR(20),
    recorded_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    context JSONB DEFAULT '{}'::jsonb
);

CREATE TABLE agent_interactions (
    id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    workflow_id UUID REFERENCES workflows(id) ON DELETE CASCADE,
    from_agent_id VARCHAR(50) NOT NULL REFERENCES agents(id),
    to_agent_id VARCHAR(50) NOT NULL REFERENCES agents(id),
    interaction_type VARCHAR(50) NOT NULL,
    message TEXT,
    payload JSONB,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE user_sessions (
    id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    user_id VARCHAR(100) NOT NULL,
    session_token VARCHAR(255) UNIQUE NOT NULL,
    device_info JSONB,
    ip_address INET,
    started_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    last_activity_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    expires_at TIMESTAMP WITH TIME ZONE,
    status VARCHAR(20) DEFAULT 'active' CHECK (status IN ('active', 'expired', 'revoked'))
);

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
-- Functions and triggers
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = CURRENT_TIMESTAMP;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER update_agents_updated_at
    BEFORE UPDATE ON agents
    FOR EACH ROW
    EXECUTE FUNCTION update_updated_at_column();

CREATE TRIGGER update_workflows_updated_at
    BEFORE UPDATE ON workflows
    FOR EACH ROW
    EXECUTE FUNCTION update_updated_at_column();

CREATE OR REPLACE FUNCTION calculate_workflow_duration()
RETURNS TRIGGER AS $$
BEGIN
    IF NEW.status = 'completed' AND NEW.started_at IS NOT NULL THEN
        NEW.duration_ms = EXTRACT(EPOCH FROM (NEW.completed_at - NEW.started_at)) * 1000;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER calc_workflow_duration
    BEFORE UPDATE ON workflows
    FOR EACH ROW
    EXECUTE FUNCTION calculate_workflow_duration();

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
    COALESCE(SUM(t.cost_usd), 0)::numeric AS total_cost,
    COALESCE(AVG(t.duration_ms), 0)::float8 AS avg_duration_ms,
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
-- The emoji are written as Unicode escapes so that the bytes stored are the
-- right UTF-8 whatever the client encoding of the session loading this file:
--   akira 侍 U+4F8D, yuki ❄️ U+2744 U+FE0F, hiro 🛡️ U+1F6E1 U+FE0F,
--   sakura 🌸 U+1F338, kenji 🏗️ U+1F3D7 U+FE0F.

INSERT INTO agents (id, name, role, model, specialties, personality_emoji, backstory) VALUES
    ('akira-001', 'Akira', 'Code Review Master', 'claude-opus-4.1',
     ARRAY['security', 'performance', 'architecture', 'code-quality'],
     U&'\4F8D',
     'A meticulous reviewer who reads every diff like a samurai inspects a blade, looking for the flaw before it cuts.'),
    ('yuki-002', 'Yuki', 'Test Engineering Specialist', 'openai-o3',
     ARRAY['unit-testing', 'integration-testing', 'e2e-testing', 'test-automation'],
     U&'\2744\FE0F',
     'A calm, precise tester who believes no feature exists until a test proves it.'),
    ('hiro-003', 'Hiro', 'SRE & DevOps Guardian', 'llama-4-405b',
     ARRAY['kubernetes', 'ci-cd', 'monitoring', 'infrastructure', 'reliability'],
     U&'\+01F6E1\FE0F',
     'A steady guardian of production who keeps the pipelines green and the pagers quiet.'),
    ('sakura-004', 'Sakura', 'Documentation Artist', 'gemini-3.0-ultra',
     ARRAY['technical-writing', 'documentation', 'diagrams', 'api-docs'],
     U&'\+01F338',
     'A writer who turns tangled systems into clear pages and diagrams anyone can follow.'),
    ('kenji-005', 'Kenji', 'Architecture Visionary', 'openai-o3',
     ARRAY['system-design', 'architecture', 'design-patterns', 'scalability'],
     U&'\+01F3D7\FE0F',
     'A patient architect who designs systems to grow for years without being rebuilt.');
