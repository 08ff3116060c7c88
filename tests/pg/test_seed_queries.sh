#!/usr/bin/env bash
# The seed documents' queries run, verbatim, on a database loaded the README's
# way (createdb, then psql < db/schema.sql): every query of "Example Queries"
# (the db README, seed 001) and of "Common Queries" (the schema documentation,
# seed 000), copied byte for byte with only 'your-workflow-id' replaced by the
# workflow the data set below creates. Each runs with ON_ERROR_STOP and must
# return the number of rows the data set implies.
# Environment (set by CTest): TIA_SOURCE_DIR, TIA_TEST_PG_STATE (a file holding
# the admin conninfo of the throwaway cluster).
set -euo pipefail

: "${TIA_SOURCE_DIR:?}" "${TIA_TEST_PG_STATE:?}"
admin=$(cat "$TIA_TEST_PG_STATE")
for kv in $admin; do
    case $kv in
        host=*) export PGHOST=${kv#host=} ;;
        port=*) export PGPORT=${kv#port=} ;;
        user=*) export PGUSER=${kv#user=} ;;
    esac
done
unset PGDATABASE

work=$(mktemp -d)
db=tia_seed_queries_$$
cleanup() {
    psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

createdb "$db"
psql -X -v ON_ERROR_STOP=1 -q "$db" < "$TIA_SOURCE_DIR/db/schema.sql" > /dev/null

# The data set: the workflow 670e9511-... running with 11 recent tasks of akira
# (3 completed) and 2 of yuki, and three interactions; another running workflow
# with one interaction; a completed workflow holding a task akira completed two
# days ago; kenji in maintenance.
psql -X -v ON_ERROR_STOP=1 -q "$db" <<'SQL'
INSERT INTO workflows (id, name, status, workflow_type, initiator, started_at) VALUES
    ('670e9511-f3ac-52e5-b827-557766551111', 'Review PR 42', 'running', 'code_review', 'ci',
     NOW() - INTERVAL '1 hour'),
    ('10000000-0000-4000-8000-000000000002', 'Deploy v2', 'running', 'deployment', 'ops',
     NOW() - INTERVAL '2 hours'),
    ('10000000-0000-4000-8000-000000000003', 'Old review', 'completed', 'code_review', 'ci',
     NOW() - INTERVAL '3 days');

INSERT INTO agent_tasks (agent_id, workflow_id, task_type, description, status, tokens_used,
                         cost_usd, duration_ms, created_at)
SELECT 'akira-001', '670e9511-f3ac-52e5-b827-557766551111', 'code_review', 'review part ' || i,
       CASE WHEN i <= 3 THEN 'completed' ELSE 'pending' END,
       CASE WHEN i <= 3 THEN 1000 * i ELSE 0 END,
       CASE WHEN i <= 3 THEN 0.015 * i ELSE 0 END,
       CASE WHEN i <= 3 THEN 800 * i END,
       NOW() - i * INTERVAL '1 minute'
FROM generate_series(1, 11) AS i;

INSERT INTO agent_tasks (agent_id, workflow_id, task_type, description, status, tokens_used,
                         cost_usd, duration_ms, created_at) VALUES
    ('akira-001', '10000000-0000-4000-8000-000000000003', 'code_review', 'old review',
     'completed', 500, 0.0075, 1200, NOW() - INTERVAL '2 days'),
    ('yuki-002', '670e9511-f3ac-52e5-b827-557766551111', 'unit_tests', 'write tests',
     'running', 0, 0, NULL, NOW()),
    ('yuki-002', '670e9511-f3ac-52e5-b827-557766551111', 'unit_tests', 'run tests',
     'failed', 40, 0.0012, 90, NOW());

INSERT INTO agent_interactions (workflow_id, from_agent_id, to_agent_id, interaction_type,
                                message, created_at) VALUES
    ('670e9511-f3ac-52e5-b827-557766551111', 'akira-001', 'yuki-002', 'handoff',
     'review done, please test', NOW() - INTERVAL '3 minutes'),
    ('670e9511-f3ac-52e5-b827-557766551111', 'yuki-002', 'hiro-003', 'review',
     'tests fail on CI', NOW() - INTERVAL '2 minutes'),
    ('670e9511-f3ac-52e5-b827-557766551111', 'hiro-003', 'akira-001', 'feedback',
     'CI fixed', NOW() - INTERVAL '1 minute'),
    ('10000000-0000-4000-8000-000000000002', 'hiro-003', 'sakura-004', 'collaboration',
     'release notes', NOW());

UPDATE agents SET status = 'maintenance' WHERE id = 'kenji-005';
SQL

failures=0
n=0
# check_query TITLE ROWS < query: runs the query with ON_ERROR_STOP and compares
# the row count of psql's footer with ROWS.
check_query() {
    local title=$1 want=$2
    n=$((n + 1))
    cat > "$work/q$n.sql"
    if ! psql -X -v ON_ERROR_STOP=1 -P pager=off -P footer=on -d "$db" -f "$work/q$n.sql" \
            > "$work/q$n.out" 2>&1; then
        echo "FAIL: $title: the query failed:" >&2
        cat "$work/q$n.sql" "$work/q$n.out" >&2
        failures=$((failures + 1))
        return
    fi
    local got
    got=$(sed -n -E 's/^\(([0-9]+) rows?\)$/\1/p' "$work/q$n.out" | tail -n 1)
    if [ "$got" != "$want" ]; then
        echo "FAIL: $title: $got rows, want $want:" >&2
        cat "$work/q$n.sql" "$work/q$n.out" >&2
        failures=$((failures + 1))
        return
    fi
    echo "ok: $title ($got rows)"
}

# db README, "Example Queries": Get all agents with their stats
check_query "README: Get all agents with their stats" 5 <<'SQL'
SELECT * FROM agent_stats ORDER BY total_tasks DESC;
SQL

# db README, "Example Queries": Get active workflows
check_query "README: Get active workflows" 2 <<'SQL'
SELECT * FROM workflows 
WHERE status = 'running' 
ORDER BY started_at DESC;
SQL

# db README, "Example Queries": Get recent tasks for an agent
check_query "README: Get recent tasks for an agent" 10 <<'SQL'
SELECT * FROM agent_tasks 
WHERE agent_id = 'akira-001' 
ORDER BY created_at DESC 
LIMIT 10;
SQL

# db README, "Example Queries": Get agent interactions in a workflow
check_query "README: Get agent interactions in a workflow" 3 <<'SQL'
SELECT 
    ai.*,
    a1.name as from_agent,
    a2.name as to_agent
FROM agent_interactions ai
JOIN agents a1 ON ai.from_agent_id = a1.id
JOIN agents a2 ON ai.to_agent_id = a2.id
WHERE workflow_id = '670e9511-f3ac-52e5-b827-557766551111'
ORDER BY created_at;
SQL

# schema documentation, "Common Queries": Get active agents
check_query "schema doc: Get active agents" 4 <<'SQL'
SELECT * FROM agents WHERE status = 'active';
SQL

# schema documentation, "Common Queries": Get agent statistics
check_query "schema doc: Get agent statistics" 1 <<'SQL'
SELECT 
    agent_id,
    COUNT(*) as total_tasks,
    AVG(duration_ms) as avg_latency,
    SUM(tokens_used) as total_tokens,
    SUM(cost_usd) as total_cost
FROM agent_tasks
WHERE agent_id = 'akira-001'
  AND status = 'completed'
  AND created_at > NOW() - INTERVAL '24 hours'
GROUP BY agent_id;
SQL

# schema documentation, "Common Queries": Get recent tasks for an agent
check_query "schema doc: Get recent tasks for an agent" 12 <<'SQL'
SELECT * FROM agent_tasks
WHERE agent_id = 'akira-001'
ORDER BY created_at DESC
LIMIT 20;
SQL

# schema documentation, "Common Queries": Get workflow with tasks
check_query "schema doc: Get workflow with tasks" 1 <<'SQL'
SELECT 
    w.*,
    json_agg(t.*) as tasks
FROM workflows w
LEFT JOIN agent_tasks t ON w.id = t.workflow_id
WHERE w.id = '670e9511-f3ac-52e5-b827-557766551111'
GROUP BY w.id;
SQL

if [ "$failures" -ne 0 ]; then
    echo "$failures of $n queries failed" >&2
    exit 1
fi
echo "all $n seed queries passed"
