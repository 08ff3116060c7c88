#!/usr/bin/env bash
# Smoke checks of the database migrations on PostgreSQL and SQLite.
#
#   scripts/check-migrations.sh
#
# PostgreSQL: starts a throw-away server (initdb in a temporary directory, Unix
# socket only, as the postgres user when run as root), loads db/schema.sql the
# way the seed README says (createdb tokyoia; psql tokyoia < db/schema.sql),
# runs every example query of the seed documents, checks the five agents and
# their emoji bytes, exercises the counter triggers (checking every counter
# against a recomputation from agent_tasks after each step), the cascades and
# every CHECK; then applies the migrations one by one on a database holding
# data (backfill, hashing of clear session tokens, refusal of bad data), and
# runs a short concurrent pgbench to catch deadlocks.
# SQLite: the same on the sqlite3 shell, plus 0003 through python3's sqlite3
# module with a stand-in for the library's tia_sha256() function.
# Finally the counters and agent_stats left by the same scenario on both
# backends are compared.
#
# Needs: PostgreSQL server binaries (PG_BIN, default the newest
# /usr/lib/postgresql/*/bin), sqlite3, python3, sha256sum.
# SKIP_PG=1 or SKIP_SQLITE=1 leave one backend out.
# Exits non-zero when any check fails.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pgmig="$root/db/migrations/postgres"
slmig="$root/db/migrations/sqlite"

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $*"; }
# expect_eq DESCRIPTION GOT WANT
expect_eq() {
    if [ "$2" == "$3" ]; then ok "$1"; else
        not_ok "$1"
        printf '    got:  %s\n    want: %s\n' "$2" "$3" | head -40
    fi
}

work=$(mktemp -d "${TMPDIR:-/tmp}/check-migrations.XXXXXX")
pg_started=0
cleanup() {
    if [ "$pg_started" = 1 ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$work/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
echo "# db/schema.sql"
if "$root/scripts/gen-schema.sh" --check >/dev/null 2>&1; then
    ok "db/schema.sql is what scripts/gen-schema.sh generates"
else
    not_ok "db/schema.sql is out of date (run scripts/gen-schema.sh)"
fi
for f in "$pgmig"/*.sql "$slmig"/*.sql; do
    if grep -Eiq '^[[:space:]]*(BEGIN|COMMIT|ROLLBACK)[[:space:]]*;' "$f"; then
        not_ok "$(basename "$(dirname "$f")")/$(basename "$f") has no BEGIN/COMMIT"
    fi
done
pgl=$(cd "$pgmig" && ls -- *.sql); sll=$(cd "$slmig" && ls -- *.sql)
expect_eq "postgres and sqlite migrations have the same files" "$sll" "$pgl"

# ===========================================================================
# PostgreSQL
# ===========================================================================

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg DB SQL: run SQL (unaligned, tuples only), stop at the first error
pg() { psql -X -q -v ON_ERROR_STOP=1 -At -d "$1" -c "$2"; }
# pg_fails DESCRIPTION DB SQL PATTERN: SQL must fail with an error matching PATTERN
pg_fails() {
    local err
    if err=$(psql -X -q -v ON_ERROR_STOP=1 -At -d "$2" -c "$3" 2>&1 >/dev/null); then
        not_ok "$1 (succeeded)"
    elif grep -Eq "$4" <<<"$err"; then
        ok "$1"
    else
        not_ok "$1 (wrong error)"; echo "    $err" | head -5
    fi
}
# pg_apply DB FILE: apply one migration in its own transaction, as the runner does
pg_apply() { psql -X -q -v ON_ERROR_STOP=1 -d "$1" -1 -f "$2" >/dev/null; }

# Counters that differ from a recomputation from agent_tasks (0 when all true).
PG_MISMATCH_VIEW=$(cat <<'EOF'
CREATE VIEW test_counter_mismatches AS
WITH r AS (
    SELECT a.id,
           COUNT(t.id) FILTER (WHERE t.status = 'pending') AS p,
           COUNT(t.id) FILTER (WHERE t.status = 'running') AS ru,
           COUNT(t.id) FILTER (WHERE t.status = 'completed') AS c,
           COUNT(t.id) FILTER (WHERE t.status = 'failed') AS f,
           COUNT(t.id) FILTER (WHERE t.status = 'cancelled') AS ca,
           COALESCE(SUM(t.tokens_used), 0) AS tok,
           COALESCE(SUM(t.cost_usd), 0) AS cost,
           COALESCE(SUM(t.duration_ms), 0) AS ds,
           COUNT(t.duration_ms) AS dn,
           COALESCE(SUM(t.duration_ms) FILTER (WHERE t.status = 'completed'), 0) AS cds,
           COUNT(t.duration_ms) FILTER (WHERE t.status = 'completed') AS cdn
    FROM agents a LEFT JOIN agent_tasks t ON t.agent_id = a.id
    GROUP BY a.id
)
SELECT
    (SELECT COUNT(*) FROM agents a JOIN r ON r.id = a.id
            LEFT JOIN agent_task_totals x ON x.agent_id = a.id
     WHERE x.agent_id IS NULL
        OR (x.pending, x.running, x.completed, x.failed, x.cancelled, x.tokens, x.cost_usd,
            x.duration_sum, x.duration_n, x.completed_duration_sum, x.completed_duration_n)
           IS DISTINCT FROM (r.p, r.ru, r.c, r.f, r.ca, r.tok, r.cost, r.ds, r.dn, r.cds, r.cdn)
        OR a.total_tasks_completed IS DISTINCT FROM r.c
        OR a.total_tokens_used IS DISTINCT FROM r.tok
        OR a.average_latency_ms IS DISTINCT FROM
           (CASE WHEN r.cdn = 0 THEN 0::float8 ELSE r.cds::float8 / r.cdn END)
        OR a.success_rate IS DISTINCT FROM
           (CASE WHEN r.c + r.f = 0 THEN 100::float8 ELSE 100::float8 * r.c / (r.c + r.f) END))
  + (SELECT COUNT(*) FROM agent_task_totals x
     WHERE NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = x.agent_id))
  + (SELECT COUNT(*) FROM workflows w,
            LATERAL (SELECT COUNT(*) AS n,
                            COUNT(*) FILTER (WHERE t.status = 'completed') AS c,
                            COUNT(*) FILTER (WHERE t.status = 'failed') AS f,
                            COALESCE(SUM(t.tokens_used), 0) AS tok,
                            COALESCE(SUM(t.cost_usd), 0) AS cost
                     FROM agent_tasks t WHERE t.workflow_id = w.id) s
     WHERE (w.total_tasks, w.completed_tasks, w.failed_tasks, w.total_tokens_used, w.total_cost_usd)
           IS DISTINCT FROM (s.n, s.c, s.f, s.tok, s.cost)) AS mismatches;
EOF
)

# The state the scenario leaves, in a form both backends print alike.
PG_DUMP=$(cat <<'EOF'
SELECT line FROM (
    SELECT 'agent|' || id || '|' || total_tasks_completed || '|' || total_tokens_used || '|'
           || round(average_latency_ms::numeric, 6) || '|' || round(success_rate::numeric, 6) AS line
    FROM agents
    UNION ALL
    SELECT 'totals|' || agent_id || '|' || pending || '|' || running || '|' || completed || '|'
           || failed || '|' || cancelled || '|' || tokens || '|' || round(cost_usd, 6) || '|'
           || duration_sum || '|' || duration_n || '|' || completed_duration_sum || '|'
           || completed_duration_n
    FROM agent_task_totals
    UNION ALL
    SELECT 'workflow|' || id || '|' || total_tasks || '|' || completed_tasks || '|' || failed_tasks
           || '|' || total_tokens_used || '|' || round(total_cost_usd, 6) || '|'
           || COALESCE(duration_ms::text, 'null')
    FROM workflows
    UNION ALL
    SELECT 'stats|' || id || '|' || name || '|' || role || '|' || status || '|' || total_tasks || '|'
           || completed_tasks || '|' || failed_tasks || '|' || total_tokens || '|'
           || round(total_cost, 6) || '|' || round(avg_duration_ms::numeric, 6) || '|'
           || round(success_rate, 6)
    FROM agent_stats
) s ORDER BY line COLLATE "C";
EOF
)

W1=11111111-1111-4111-8111-111111111111
W2=22222222-2222-4222-8222-222222222222
W3=33333333-3333-4333-8333-333333333333
T1=aaaaaaaa-0000-4000-8000-000000000001
T2=aaaaaaaa-0000-4000-8000-000000000002
T3=aaaaaaaa-0000-4000-8000-000000000003
T4=aaaaaaaa-0000-4000-8000-000000000004
T5=aaaaaaaa-0000-4000-8000-000000000005
T6=aaaaaaaa-0000-4000-8000-000000000006
T7=aaaaaaaa-0000-4000-8000-000000000007
T8=aaaaaaaa-0000-4000-8000-000000000008
T9=aaaaaaaa-0000-4000-8000-000000000009
T10=aaaaaaaa-0000-4000-8000-000000000010

# The scenario's steps, as (description, PostgreSQL SQL, SQLite SQL). Costs
# are DECIMAL on PostgreSQL and micro-dollars on SQLite.
scenario_pg=()
scenario_sl=()
scenario_desc=()
step() { scenario_desc+=("$1"); scenario_pg+=("$2"); scenario_sl+=("$3"); }

step "insert three workflows" \
"INSERT INTO workflows (id, name, workflow_type, status) VALUES
   ('$W1', 'review', 'code_review', 'running'),
   ('$W2', 'feature', 'feature_development', 'pending'),
   ('$W3', 'deploy', 'deployment', 'pending');" \
"INSERT INTO workflows (id, name, workflow_type, status) VALUES
   ('$W1', 'review', 'code_review', 'running'),
   ('$W2', 'feature', 'feature_development', 'pending'),
   ('$W3', 'deploy', 'deployment', 'pending');"

step "multi-row task insert" \
"INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description, status, duration_ms, tokens_used, cost_usd) VALUES
   ('$T1', 'akira-001', '$W1', 'security_audit', 'd', 'completed', 1200, 1000, 0.015),
   ('$T2', 'yuki-002', '$W1', 'unit_tests', 'd', 'failed', 300, 200, 0.006),
   ('$T3', 'hiro-003', '$W1', 'ci_cd', 'd', 'pending', NULL, 0, 0),
   ('$T4', 'akira-001', '$W2', 'code_review', 'd', 'completed', 801, 500, 0.0075),
   ('$T5', 'sakura-004', NULL, 'documentation', 'd', 'running', NULL, DEFAULT, DEFAULT),
   ('$T6', 'kenji-005', '$W2', 'architecture', 'd', 'cancelled', 50, NULL, NULL),
   ('$T7', 'akira-001', '$W3', 'code_review', 'd', 'completed', NULL, 10, 0.000001);" \
"INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description, status, duration_ms, tokens_used, cost_usd_micros) VALUES
   ('$T1', 'akira-001', '$W1', 'security_audit', 'd', 'completed', 1200, 1000, 15000),
   ('$T2', 'yuki-002', '$W1', 'unit_tests', 'd', 'failed', 300, 200, 6000),
   ('$T3', 'hiro-003', '$W1', 'ci_cd', 'd', 'pending', NULL, 0, 0),
   ('$T4', 'akira-001', '$W2', 'code_review', 'd', 'completed', 801, 500, 7500),
   ('$T5', 'sakura-004', NULL, 'documentation', 'd', 'running', NULL, 0, 0),
   ('$T6', 'kenji-005', '$W2', 'architecture', 'd', 'cancelled', 50, NULL, NULL),
   ('$T7', 'akira-001', '$W3', 'code_review', 'd', 'completed', NULL, 10, 1);"

step "single-row insert with defaults" \
"INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description) VALUES ('$T8', 'yuki-002', '$W2', 'test_planning', 'd');" \
"INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description) VALUES ('$T8', 'yuki-002', '$W2', 'test_planning', 'd');"

step "status updates" \
"UPDATE agent_tasks SET status = 'running' WHERE id = '$T3';
 UPDATE agent_tasks SET status = 'completed', duration_ms = 700, tokens_used = 70, cost_usd = 0.0021 WHERE id = '$T5';" \
"UPDATE agent_tasks SET status = 'running' WHERE id = '$T3';
 UPDATE agent_tasks SET status = 'completed', duration_ms = 700, tokens_used = 70, cost_usd_micros = 2100 WHERE id = '$T5';"

step "move a task to another agent and workflow" \
"UPDATE agent_tasks SET agent_id = 'kenji-005', workflow_id = '$W2' WHERE id = '$T1';" \
"UPDATE agent_tasks SET agent_id = 'kenji-005', workflow_id = '$W2' WHERE id = '$T1';"

step "multi-row update of tokens" \
"UPDATE agent_tasks SET tokens_used = COALESCE(tokens_used, 0) + 1 WHERE agent_id IN ('akira-001', 'kenji-005');" \
"UPDATE agent_tasks SET tokens_used = COALESCE(tokens_used, 0) + 1 WHERE agent_id IN ('akira-001', 'kenji-005');"

step "delete a task" \
"DELETE FROM agent_tasks WHERE id = '$T2';" \
"DELETE FROM agent_tasks WHERE id = '$T2';"

step "upsert: one update, one insert" \
"INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description, status, tokens_used, duration_ms) VALUES
   ('$T4', 'akira-001', '$W2', 'code_review', 'd', 'completed', 500, 801),
   ('$T9', 'hiro-003', '$W3', 'kubernetes', 'd', 'failed', 40, 90)
 ON CONFLICT (id) DO UPDATE SET status = 'failed';" \
"INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description, status, tokens_used, duration_ms) VALUES
   ('$T4', 'akira-001', '$W2', 'code_review', 'd', 'completed', 500, 801),
   ('$T9', 'hiro-003', '$W3', 'kubernetes', 'd', 'failed', 40, 90)
 ON CONFLICT (id) DO UPDATE SET status = 'failed';"

step "subtask of another agent's task" \
"INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description, status, parent_task_id, tokens_used) VALUES ('$T10', 'yuki-002', '$W3', 'testing', 'd', 'completed', '$T7', 5);" \
"INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description, status, parent_task_id, tokens_used) VALUES ('$T10', 'yuki-002', '$W3', 'testing', 'd', 'completed', '$T7', 5);"

step "delete a workflow (cascades to its tasks, parent and child)" \
"DELETE FROM workflows WHERE id = '$W3';" \
"DELETE FROM workflows WHERE id = '$W3';"

step "new agent with tasks, deleted (cascades to totals, tasks, metrics)" \
"INSERT INTO agents (id, name, role, model, specialties) VALUES ('test-006', 'Test', 'Tester', 'o3-mini', ARRAY['x']);
 INSERT INTO agent_tasks (agent_id, workflow_id, task_type, description, status, tokens_used, cost_usd, duration_ms)
   VALUES ('test-006', '$W1', 't', 'd', 'completed', 300, 0.0045, 10), ('test-006', '$W2', 't', 'd', 'failed', 7, 0, 3);
 INSERT INTO agent_metrics (agent_id, metric_type, metric_value) VALUES ('test-006', 'latency', 12.5);
 DELETE FROM agents WHERE id = 'test-006';" \
"INSERT INTO agents (id, name, role, model, specialties) VALUES ('test-006', 'Test', 'Tester', 'o3-mini', '[\"x\"]');
 INSERT INTO agent_tasks (agent_id, workflow_id, task_type, description, status, tokens_used, cost_usd_micros, duration_ms)
   VALUES ('test-006', '$W1', 't', 'd', 'completed', 300, 4500, 10), ('test-006', '$W2', 't', 'd', 'failed', 7, 0, 3);
 INSERT INTO agent_metrics (agent_id, metric_type, metric_value) VALUES ('test-006', 'latency', 12.5);
 DELETE FROM agents WHERE id = 'test-006';"

step "workflow completed: duration computed" \
"UPDATE workflows SET status = 'completed', started_at = '2025-01-01 00:00:00+00', completed_at = '2025-01-01 00:00:01.234568+00' WHERE id = '$W1';
 UPDATE workflows SET status = 'completed', started_at = '2025-01-01 00:00:00+00', completed_at = NULL, duration_ms = 5 WHERE id = '$W2';" \
"UPDATE workflows SET status = 'completed', started_at = 1735689600000000, completed_at = 1735689601234568 WHERE id = '$W1';
 UPDATE workflows SET status = 'completed', started_at = 1735689600000000, completed_at = NULL, duration_ms = 5 WHERE id = '$W2';"

# The seed documents' example queries, unchanged.
SEED_QUERIES=(
"SELECT * FROM agents WHERE status = 'active';"
"SELECT 
    agent_id,
    COUNT(*) as total_tasks,
    AVG(duration_ms) as avg_latency,
    SUM(tokens_used) as total_tokens,
    SUM(cost_usd) as total_cost
FROM agent_tasks
WHERE agent_id = 'akira-001'
  AND status = 'completed'
  AND created_at > NOW() - INTERVAL '24 hours'
GROUP BY agent_id;"
"SELECT * FROM agent_tasks
WHERE agent_id = 'akira-001'
ORDER BY created_at DESC
LIMIT 20;"
"SELECT 
    w.*,
    json_agg(t.*) as tasks
FROM workflows w
LEFT JOIN agent_tasks t ON w.id = t.workflow_id
WHERE w.id = '670e9511-f3ac-52e5-b827-557766551111'
GROUP BY w.id;"
"SELECT * FROM agent_stats ORDER BY total_tasks DESC;"
"SELECT * FROM workflows 
WHERE status = 'running' 
ORDER BY started_at DESC;"
"SELECT * FROM agent_tasks 
WHERE agent_id = 'akira-001' 
ORDER BY created_at DESC 
LIMIT 10;"
)
# Its literal 'your-workflow-id' is a placeholder: not a UUID on PostgreSQL.
INTERACTIONS_QUERY="SELECT 
    ai.*,
    a1.name as from_agent,
    a2.name as to_agent
FROM agent_interactions ai
JOIN agents a1 ON ai.from_agent_id = a1.id
JOIN agents a2 ON ai.to_agent_id = a2.id
WHERE workflow_id = 'your-workflow-id'
ORDER BY created_at;"

AGENTS_EXPECTED='akira-001|Akira|Code Review Master|claude-opus-4.1|{security,performance,architecture,code-quality}|e4be8d
hiro-003|Hiro|SRE & DevOps Guardian|llama-4-405b|{kubernetes,ci-cd,monitoring,infrastructure,reliability}|f09f9ba1efb88f
kenji-005|Kenji|Architecture Visionary|openai-o3|{system-design,architecture,design-patterns,scalability}|f09f8f97efb88f
sakura-004|Sakura|Documentation Artist|gemini-3.0-ultra|{technical-writing,documentation,diagrams,api-docs}|f09f8cb8
yuki-002|Yuki|Test Engineering Specialist|openai-o3|{unit-testing,integration-testing,e2e-testing,test-automation}|e29d84efb88f'

pg_dump_state=""
run_pg() {
    echo "# PostgreSQL"
    if [ -z "${PG_BIN:-}" ]; then
        PG_BIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1)
    fi
    if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
        not_ok "PostgreSQL server binaries not found (set PG_BIN, or SKIP_PG=1)"
        return
    fi
    export PATH="$PG_BIN:$PATH"
    mkdir -p "$work/pg"
    [ "$(id -u)" = 0 ] && chown postgres "$work/pg" && chmod 755 "$work"
    if ! as_pg "$PG_BIN/initdb" -D "$work/pg/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 \
            >"$work/pg/initdb.log" 2>&1; then
        not_ok "initdb"; tail -5 "$work/pg/initdb.log"; return
    fi
    local port=${PG_TEST_PORT:-$((50000 + RANDOM % 10000))}
    if ! as_pg "$PG_BIN/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" \
            -o "-k $work/pg -p $port -c listen_addresses='' -c fsync=off" -w start >/dev/null; then
        not_ok "PostgreSQL server start"; tail -5 "$work/pg/server.log"; return
    fi
    pg_started=1
    export PGHOST="$work/pg" PGPORT="$port" PGUSER=postgres
    unset PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS PGCLIENTENCODING

    # --- load db/schema.sql as the seed README says ------------------------
    createdb tokyoia
    if psql -X -q -v ON_ERROR_STOP=1 tokyoia < "$root/db/schema.sql" >"$work/pg/load.log" 2>&1; then
        ok "psql tokyoia < db/schema.sql"
    else
        not_ok "psql tokyoia < db/schema.sql"; tail -5 "$work/pg/load.log"; return
    fi
    local want got f
    want=$(for f in "$pgmig"/*.sql; do
        b=$(basename "$f" .sql); printf '%d|%s|%s\n' "$((10#${b%%_*}))" "${b#*_}" "$(sha256sum "$f" | cut -d' ' -f1)"
    done)
    got=$(pg tokyoia "SELECT version || '|' || name || '|' || checksum FROM schema_migrations ORDER BY version")
    expect_eq "schema_migrations rows (version, name, checksum)" "$got" "$want"

    got=$(pg tokyoia "SELECT id || '|' || name || '|' || role || '|' || model || '|' || specialties::text || '|'
                        || encode(convert_to(personality_emoji, 'UTF8'), 'hex') FROM agents ORDER BY id")
    expect_eq "the five agents and their emoji bytes" "$got" "$AGENTS_EXPECTED"
    got=$(pg tokyoia "SELECT count(*) FROM agents WHERE backstory IS NULL OR backstory = ''
                        OR status <> 'active' OR total_tasks_completed <> 0 OR success_rate <> 100")
    expect_eq "agents have a backstory and default counters" "$got" "0"

    got=$(pg tokyoia "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes
                        WHERE schemaname = 'public' AND indexname LIKE 'idx_%'")
    expect_eq "indexes" "$got" "idx_agents_status,idx_interactions_agents,idx_interactions_workflow,idx_metrics_agent_type_time,idx_tasks_agent_created,idx_tasks_agent_status,idx_tasks_created_at,idx_tasks_parent,idx_tasks_status,idx_tasks_workflow,idx_workflows_created_at,idx_workflows_status,idx_workflows_type"
    got=$(pg tokyoia "SELECT conrelid::regclass || '.' || a.attname || ':' || confdeltype::text
                        FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
                        WHERE contype = 'f' ORDER BY 1")
    expect_eq "foreign keys and their ON DELETE rules (c cascade, a no action)" "$got" "agent_interactions.from_agent_id:a
agent_interactions.to_agent_id:a
agent_interactions.workflow_id:c
agent_metrics.agent_id:c
agent_task_totals.agent_id:c
agent_tasks.agent_id:c
agent_tasks.parent_task_id:a
agent_tasks.workflow_id:c"

    for q in "${SEED_QUERIES[@]}"; do
        if pg tokyoia "$q" >/dev/null 2>"$work/pg/q.err"; then
            ok "seed query: $(head -1 <<<"$q" | cut -c1-60)"
        else
            not_ok "seed query: $(head -1 <<<"$q")"; cat "$work/pg/q.err"
        fi
    done
    pg_fails "seed query with the placeholder 'your-workflow-id' fails only on the placeholder" \
        tokyoia "$INTERACTIONS_QUERY" 'invalid input syntax for type uuid: "your-workflow-id"'
    if pg tokyoia "${INTERACTIONS_QUERY//your-workflow-id/$W1}" >/dev/null; then
        ok "seed interactions query with a real workflow id"
    else not_ok "seed interactions query with a real workflow id"; fi

    # --- counters ---------------------------------------------------------------
    pg tokyoia "$PG_MISMATCH_VIEW"
    expect_eq "counters true on the fresh schema" "$(pg tokyoia 'SELECT mismatches FROM test_counter_mismatches')" 0
    local i
    for i in "${!scenario_pg[@]}"; do
        if ! pg tokyoia "${scenario_pg[$i]}" >/dev/null 2>"$work/pg/step.err"; then
            not_ok "step: ${scenario_desc[$i]}"; cat "$work/pg/step.err"; continue
        fi
        expect_eq "counters true after: ${scenario_desc[$i]}" \
            "$(pg tokyoia 'SELECT mismatches FROM test_counter_mismatches')" 0
    done
    expect_eq "workflow duration: rounded ms, NULL without completed_at" \
        "$(pg tokyoia "SELECT string_agg(COALESCE(duration_ms::text, 'null'), ',' ORDER BY id) FROM workflows")" "1235,null"
    expect_eq "cascade: deleted workflow's tasks gone" \
        "$(pg tokyoia "SELECT count(*) FROM agent_tasks WHERE id IN ('$T7', '$T9', '$T10')")" 0
    expect_eq "cascade: deleted agent's totals, tasks, metrics gone" \
        "$(pg tokyoia "SELECT (SELECT count(*) FROM agent_task_totals WHERE agent_id = 'test-006')
                             + (SELECT count(*) FROM agent_tasks WHERE agent_id = 'test-006')
                             + (SELECT count(*) FROM agent_metrics WHERE agent_id = 'test-006')")" 0
    pg_dump_state=$(pg tokyoia "$PG_DUMP")

    # a metadata-only update touches no counter and no agent/workflow row
    local before after
    before=$(pg tokyoia "SELECT string_agg(id || updated_at::text, ',' ORDER BY id) FROM agents")
    before+=$(pg tokyoia "SELECT string_agg(id || updated_at::text, ',' ORDER BY id) FROM workflows")
    pg tokyoia "UPDATE agent_tasks SET metadata = '{\"note\": 1}', output_data = '{\"ok\": true}'"
    pg tokyoia "UPDATE agent_tasks SET tokens_used = tokens_used WHERE tokens_used IS NOT NULL"
    after=$(pg tokyoia "SELECT string_agg(id || updated_at::text, ',' ORDER BY id) FROM agents")
    after+=$(pg tokyoia "SELECT string_agg(id || updated_at::text, ',' ORDER BY id) FROM workflows")
    expect_eq "metadata-only update leaves agents and workflows untouched" "$after" "$before"
    expect_eq "state unchanged by metadata-only update" "$(pg tokyoia "$PG_DUMP")" "$pg_dump_state"

    # refusals
    pg tokyoia "INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description) VALUES ('$T7', 'akira-001', '$W1', 'x', 'parent');
                INSERT INTO agent_tasks (agent_id, workflow_id, task_type, description, parent_task_id) VALUES ('yuki-002', '$W1', 'x', 'child', '$T7');
                INSERT INTO agent_interactions (workflow_id, from_agent_id, to_agent_id, interaction_type) VALUES ('$W1', 'hiro-003', 'sakura-004', 'handoff');"
    pg_fails "deleting an agent whose task is another agent's parent task is refused" tokyoia \
        "DELETE FROM agents WHERE id = 'akira-001'" 'agent_tasks_parent_task_id_fkey'
    pg_fails "deleting an agent that took part in an interaction is refused" tokyoia \
        "DELETE FROM agents WHERE id = 'hiro-003'" 'agent_interactions_from_agent_id_fkey'
    pg_fails "task for an unknown agent is refused" tokyoia \
        "INSERT INTO agent_tasks (agent_id, task_type, description) VALUES ('nobody', 'x', 'y')" 'agent_tasks_agent_id_fkey'
    local c
    for c in \
        "agents_status_check|UPDATE agents SET status = 'sleeping' WHERE id = 'akira-001'" \
        "workflows_status_check|INSERT INTO workflows (name, status) VALUES ('x', 'done')" \
        "agent_tasks_status_check|UPDATE agent_tasks SET status = 'done'" \
        "user_sessions_status_check|INSERT INTO user_sessions (user_id, session_token, status) VALUES ('u', repeat('a', 64), 'gone')" \
        "agent_tasks_tokens_used_nonnegative|INSERT INTO agent_tasks (agent_id, task_type, description, tokens_used) VALUES ('akira-001', 'x', 'y', -1)" \
        "agent_tasks_tokens_used_nonnegative|UPDATE agent_tasks SET tokens_used = -1 WHERE id = '$T1'" \
        "agent_tasks_cost_usd_nonnegative|INSERT INTO agent_tasks (agent_id, task_type, description, cost_usd) VALUES ('akira-001', 'x', 'y', -0.000001)" \
        "agent_tasks_retry_count_nonnegative|UPDATE agent_tasks SET retry_count = -1 WHERE id = '$T1'" \
        "agent_tasks_duration_ms_nonnegative|INSERT INTO agent_tasks (agent_id, task_type, description, duration_ms) VALUES ('akira-001', 'x', 'y', -5)" \
        "workflows_total_tokens_used_nonnegative|INSERT INTO workflows (name, total_tokens_used) VALUES ('x', -1)" \
        "workflows_total_cost_usd_nonnegative|UPDATE workflows SET total_cost_usd = -1" \
        "workflows_duration_ms_nonnegative|INSERT INTO workflows (name, duration_ms) VALUES ('x', -1)" \
        "workflows_duration_ms_nonnegative|UPDATE workflows SET status = 'completed', started_at = '2025-01-02', completed_at = '2025-01-01' WHERE id = '$W1'" \
        "agent_metrics_metric_value_finite|INSERT INTO agent_metrics (agent_id, metric_type, metric_value) VALUES ('akira-001', 'latency', 'NaN')" \
        "agent_metrics_metric_value_finite|INSERT INTO agent_metrics (agent_id, metric_type, metric_value) VALUES ('akira-001', 'latency', 'Infinity')" \
        "agent_metrics_metric_value_finite|INSERT INTO agent_metrics (agent_id, metric_type, metric_value) VALUES ('akira-001', 'latency', '-Infinity')" \
        "agent_interactions_interaction_type_valid|INSERT INTO agent_interactions (from_agent_id, to_agent_id, interaction_type) VALUES ('akira-001', 'yuki-002', 'gossip')" \
        "user_sessions_token_is_hash|INSERT INTO user_sessions (user_id, session_token) VALUES ('u', 'clear-token')" \
        "user_sessions_token_is_hash|INSERT INTO user_sessions (user_id, session_token) VALUES ('u', repeat('A', 64))" \
        "user_sessions_token_is_hash|INSERT INTO user_sessions (user_id, session_token) VALUES ('u', repeat('a', 63))" \
        ; do
        pg_fails "CHECK ${c%%|*} refuses: ${c#*|}" tokyoia "${c#*|}" "check constraint \"${c%%|*}\""
    done
    if pg tokyoia "INSERT INTO agent_metrics (agent_id, metric_type, metric_value) VALUES ('akira-001', 'latency', 1.7976931348623157e308);
                   INSERT INTO user_sessions (user_id, session_token, ip_address) VALUES ('u', encode(sha256('t'), 'hex'), '192.168.0.1');
                   INSERT INTO agent_interactions (from_agent_id, to_agent_id, interaction_type) VALUES ('akira-001', 'yuki-002', 'review')" >/dev/null; then
        ok "valid metric, session and interaction accepted"
    else not_ok "valid metric, session and interaction accepted"; fi
    expect_eq "counters still true after refusals" "$(pg tokyoia 'SELECT mismatches FROM test_counter_mismatches')" 0

    # --- concurrency: no deadlock, counters true -----------------------------
    cat >"$work/pg/bench.sql" <<'EOF'
\set a random(1, 5)
\set b random(1, 5)
\set w random(1, 2)
\set op random(1, 4)
INSERT INTO agent_tasks (agent_id, workflow_id, task_type, description, status, tokens_used, cost_usd, duration_ms)
SELECT (ARRAY['akira-001','yuki-002','hiro-003','sakura-004','kenji-005'])[x],
       (SELECT id FROM workflows ORDER BY id OFFSET :w - 1 LIMIT 1),
       'bench', 'b',
       (ARRAY['pending','running','completed','failed','cancelled'])[1 + (x + :op) % 5],
       x * 10, x * 0.001, x * 100
FROM unnest(ARRAY[:a, :b, 1 + (:a + :b) % 5]) AS x
WHERE :op <= 2;
UPDATE agent_tasks SET status = 'completed', agent_id = (ARRAY['akira-001','yuki-002','hiro-003','sakura-004','kenji-005'])[:b]
WHERE id = (SELECT id FROM agent_tasks WHERE task_type = 'bench' AND agent_id = (ARRAY['akira-001','yuki-002','hiro-003','sakura-004','kenji-005'])[:a] LIMIT 1)
  AND :op = 3;
DELETE FROM agent_tasks
WHERE id = (SELECT id FROM agent_tasks WHERE task_type = 'bench' AND agent_id = (ARRAY['akira-001','yuki-002','hiro-003','sakura-004','kenji-005'])[:b] LIMIT 1)
  AND :op = 4;
EOF
    if "$PG_BIN/pgbench" -n -c 8 -j 2 -T "${PGBENCH_SECONDS:-4}" -f "$work/pg/bench.sql" tokyoia \
            >"$work/pg/bench.log" 2>&1 \
            && ! grep -Eqi 'deadlock|aborted|failed transactions: [1-9]' "$work/pg/bench.log"; then
        ok "8 concurrent clients writing tasks: no error, no deadlock ($(grep -o 'number of transactions actually processed: [0-9]*' "$work/pg/bench.log" | grep -o '[0-9]*$') transactions)"
    else
        not_ok "concurrent pgbench"; grep -Ei 'error|deadlock|abort|failed' "$work/pg/bench.log" | head -5
    fi
    expect_eq "counters true after concurrent writes" "$(pg tokyoia 'SELECT mismatches FROM test_counter_mismatches')" 0

    pg tokyoia "DELETE FROM agent_interactions; UPDATE agent_tasks SET parent_task_id = NULL; TRUNCATE agent_tasks"
    expect_eq "counters reset by TRUNCATE agent_tasks" "$(pg tokyoia 'SELECT mismatches FROM test_counter_mismatches')" 0

    # --- migrations one by one on a database holding data ----------------------
    createdb migrated
    pg_apply migrated "$pgmig/0001_initial_schema.sql" || not_ok "0001 applies"
    pg migrated "INSERT INTO workflows (id, name) VALUES ('$W1', 'w'), ('$W2', 'w2');
                 INSERT INTO agent_tasks (agent_id, workflow_id, task_type, description, status, tokens_used, cost_usd, duration_ms) VALUES
                   ('akira-001', '$W1', 'a', 'b', 'completed', 100, 0.5, 1000),
                   ('akira-001', '$W1', 'a', 'b', 'failed', 10, 0.25, 3),
                   ('yuki-002', '$W2', 'a', 'b', 'completed', 7, 0.000001, NULL),
                   ('hiro-003', NULL, 'a', 'b', 'running', NULL, NULL, 5);
                 INSERT INTO user_sessions (user_id, session_token) VALUES ('u1', 'clear-token-1'), ('u2', 'tök€n-2');" >/dev/null
    if pg_apply migrated "$pgmig/0002_counters.sql"; then ok "0002 applies on a database with tasks"; else not_ok "0002 applies on a database with tasks"; fi
    pg migrated "$PG_MISMATCH_VIEW"
    expect_eq "0002 backfill: counters true" "$(pg migrated 'SELECT mismatches FROM test_counter_mismatches')" 0
    expect_eq "0002 backfill: akira" \
        "$(pg migrated "SELECT total_tasks_completed || '|' || total_tokens_used || '|' || average_latency_ms || '|' || success_rate FROM agents WHERE id = 'akira-001'")" \
        "1|110|1000|50"
    if pg_apply migrated "$pgmig/0003_session_token_hash.sql"; then ok "0003 applies on a database with sessions"; else not_ok "0003 applies on a database with sessions"; fi
    expect_eq "0003: clear tokens replaced by their SHA-256 hex" \
        "$(pg migrated "SELECT string_agg(session_token, ',' ORDER BY user_id) FROM user_sessions")" \
        "$(printf 'clear-token-1' | sha256sum | cut -d' ' -f1),$(printf 'tök€n-2' | sha256sum | cut -d' ' -f1)"

    createdb baddata
    pg_apply baddata "$pgmig/0001_initial_schema.sql"
    pg baddata "INSERT INTO agent_tasks (agent_id, task_type, description, tokens_used) VALUES ('akira-001', 'a', 'b', -5)" >/dev/null
    if psql -X -q -v ON_ERROR_STOP=1 -d baddata -1 -f "$pgmig/0002_counters.sql" >/dev/null 2>"$work/pg/bad.err"; then
        not_ok "0002 refuses a database with a negative tokens_used"
    elif grep -q agent_tasks_tokens_used_nonnegative "$work/pg/bad.err" \
            && [ "$(pg baddata "SELECT count(*) FROM pg_tables WHERE tablename = 'agent_task_totals'")" = 0 ]; then
        ok "0002 refuses a database with a negative tokens_used, and rolls back"
    else not_ok "0002 refusal"; cat "$work/pg/bad.err"; fi
}

# ===========================================================================
# SQLite
# ===========================================================================

SL_MISMATCH_VIEW=$(cat <<'EOF'
CREATE VIEW test_counter_mismatches AS
WITH r AS (
    SELECT a.id,
           COUNT(t.id) FILTER (WHERE t.status = 'pending') AS p,
           COUNT(t.id) FILTER (WHERE t.status = 'running') AS ru,
           COUNT(t.id) FILTER (WHERE t.status = 'completed') AS c,
           COUNT(t.id) FILTER (WHERE t.status = 'failed') AS f,
           COUNT(t.id) FILTER (WHERE t.status = 'cancelled') AS ca,
           COALESCE(SUM(t.tokens_used), 0) AS tok,
           COALESCE(SUM(t.cost_usd_micros), 0) AS cost,
           COALESCE(SUM(t.duration_ms), 0) AS ds,
           COUNT(t.duration_ms) AS dn,
           COALESCE(SUM(t.duration_ms) FILTER (WHERE t.status = 'completed'), 0) AS cds,
           COUNT(t.duration_ms) FILTER (WHERE t.status = 'completed') AS cdn
    FROM agents a LEFT JOIN agent_tasks t ON t.agent_id = a.id
    GROUP BY a.id
)
SELECT
    (SELECT COUNT(*) FROM agents a JOIN r ON r.id = a.id
            LEFT JOIN agent_task_totals x ON x.agent_id = a.id
     WHERE x.agent_id IS NULL
        OR (x.pending, x.running, x.completed, x.failed, x.cancelled, x.tokens, x.cost_usd_micros,
            x.duration_sum, x.duration_n, x.completed_duration_sum, x.completed_duration_n)
           IS NOT (r.p, r.ru, r.c, r.f, r.ca, r.tok, r.cost, r.ds, r.dn, r.cds, r.cdn)
        OR a.total_tasks_completed IS NOT r.c
        OR a.total_tokens_used IS NOT r.tok
        OR a.average_latency_ms IS NOT
           (CASE WHEN r.cdn = 0 THEN 0.0 ELSE CAST(r.cds AS REAL) / r.cdn END)
        OR a.success_rate IS NOT
           (CASE WHEN r.c + r.f = 0 THEN 100.0 ELSE 100.0 * r.c / (r.c + r.f) END))
  + (SELECT COUNT(*) FROM agent_task_totals x
     WHERE NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = x.agent_id))
  + (SELECT COUNT(*) FROM workflows w
     WHERE (w.total_tasks, w.completed_tasks, w.failed_tasks, w.total_tokens_used, w.total_cost_usd_micros)
           IS NOT (SELECT COUNT(*),
                          COUNT(*) FILTER (WHERE t.status = 'completed'),
                          COUNT(*) FILTER (WHERE t.status = 'failed'),
                          COALESCE(SUM(t.tokens_used), 0),
                          COALESCE(SUM(t.cost_usd_micros), 0)
                   FROM agent_tasks t WHERE t.workflow_id = w.id)) AS mismatches;
EOF
)

SL_DUMP=$(cat <<'EOF'
SELECT line FROM (
    SELECT 'agent|' || id || '|' || total_tasks_completed || '|' || total_tokens_used || '|'
           || printf('%.6f', average_latency_ms) || '|' || printf('%.6f', success_rate) AS line
    FROM agents
    UNION ALL
    SELECT 'totals|' || agent_id || '|' || pending || '|' || running || '|' || completed || '|'
           || failed || '|' || cancelled || '|' || tokens || '|'
           || printf('%d.%06d', cost_usd_micros / 1000000, cost_usd_micros % 1000000) || '|'
           || duration_sum || '|' || duration_n || '|' || completed_duration_sum || '|'
           || completed_duration_n
    FROM agent_task_totals
    UNION ALL
    SELECT 'workflow|' || id || '|' || total_tasks || '|' || completed_tasks || '|' || failed_tasks
           || '|' || total_tokens_used || '|'
           || printf('%d.%06d', total_cost_usd_micros / 1000000, total_cost_usd_micros % 1000000) || '|'
           || COALESCE(duration_ms, 'null')
    FROM workflows
    UNION ALL
    SELECT 'stats|' || id || '|' || name || '|' || role || '|' || status || '|' || total_tasks || '|'
           || completed_tasks || '|' || failed_tasks || '|' || total_tokens || '|'
           || printf('%.6f', total_cost) || '|' || printf('%.6f', avg_duration_ms) || '|'
           || printf('%.6f', success_rate)
    FROM agent_stats
) ORDER BY line;
EOF
)

# sl DB SQL: run SQL on the sqlite3 shell with foreign keys on, stop at the first error
sl() { sqlite3 -batch -bail -cmd 'PRAGMA foreign_keys = ON' "$1" "$2"; }
# sl_fails DESCRIPTION DB SQL PATTERN
sl_fails() {
    local err
    if err=$(sqlite3 -batch -bail -cmd 'PRAGMA foreign_keys = ON' "$2" "$3" 2>&1 >/dev/null); then
        not_ok "$1 (succeeded)"
    elif grep -Eq "$4" <<<"$err"; then
        ok "$1"
    else
        not_ok "$1 (wrong error)"; echo "    $err" | head -5
    fi
}
# sl_apply DB FILE: apply one migration in its own transaction
sl_apply() {
    { echo 'BEGIN;'; cat "$2"; echo; echo 'COMMIT;'; } |
        sqlite3 -batch -bail -cmd 'PRAGMA foreign_keys = ON' "$1" >/dev/null
}
# sl_apply_py DB FILE: the same through python3, with tia_sha256() registered
# as the library registers it
sl_apply_py() {
    python3 - "$1" "$2" <<'EOF'
import hashlib, sqlite3, sys
db, path = sys.argv[1], sys.argv[2]
con = sqlite3.connect(db, isolation_level=None)
con.execute("PRAGMA foreign_keys = ON")
def tia_sha256(s):
    if s is None:
        return None
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s) if isinstance(s, bytes) else str(s).encode()
    return hashlib.sha256(b).hexdigest()
con.create_function("tia_sha256", 1, tia_sha256, deterministic=True)
sql = open(path, encoding="utf-8").read()
try:
    con.executescript("BEGIN;\n" + sql + "\nCOMMIT;")
except sqlite3.Error as e:
    if con.in_transaction:
        con.execute("ROLLBACK")
    print(e, file=sys.stderr)
    sys.exit(1)
EOF
}

SL_AGENTS_EXPECTED='akira-001|Akira|Code Review Master|claude-opus-4.1|["security","performance","architecture","code-quality"]|E4BE8D
hiro-003|Hiro|SRE & DevOps Guardian|llama-4-405b|["kubernetes","ci-cd","monitoring","infrastructure","reliability"]|F09F9BA1EFB88F
kenji-005|Kenji|Architecture Visionary|openai-o3|["system-design","architecture","design-patterns","scalability"]|F09F8F97EFB88F
sakura-004|Sakura|Documentation Artist|gemini-3.0-ultra|["technical-writing","documentation","diagrams","api-docs"]|F09F8CB8
yuki-002|Yuki|Test Engineering Specialist|openai-o3|["unit-testing","integration-testing","e2e-testing","test-automation"]|E29D84EFB88F'

sl_dump_state=""
run_sqlite() {
    echo "# SQLite ($(sqlite3 --version | cut -d' ' -f1))"
    if ! command -v sqlite3 >/dev/null || ! command -v python3 >/dev/null; then
        not_ok "sqlite3 and python3 needed (or SKIP_SQLITE=1)"; return
    fi
    local db="$work/sl.db" f got want
    for f in "$slmig"/0001_*.sql "$slmig"/0002_*.sql; do
        if sl_apply "$db" "$f" 2>"$work/sl.err"; then ok "sqlite3 shell applies $(basename "$f")"
        else not_ok "sqlite3 shell applies $(basename "$f")"; cat "$work/sl.err"; return; fi
    done
    if sl_apply_py "$db" "$slmig"/0003_*.sql 2>"$work/sl.err"; then ok "applies 0003 (tia_sha256 stand-in)"
    else not_ok "applies 0003 (tia_sha256 stand-in)"; cat "$work/sl.err"; return; fi
    expect_eq "PRAGMA foreign_key_check" "$(sl "$db" 'PRAGMA foreign_key_check')" ""
    expect_eq "PRAGMA integrity_check" "$(sl "$db" 'PRAGMA integrity_check')" "ok"

    got=$(sl "$db" "SELECT id || '|' || name || '|' || role || '|' || model || '|' || specialties || '|'
                     || hex(personality_emoji) FROM agents ORDER BY id")
    expect_eq "the five agents and their emoji bytes" "$got" "$SL_AGENTS_EXPECTED"
    got=$(sl "$db" "SELECT count(*) FROM agents WHERE backstory IS NULL OR backstory = ''
                     OR status <> 'active' OR total_tasks_completed <> 0 OR success_rate <> 100
                     OR typeof(created_at) <> 'integer' OR abs(created_at / 1000000 - unixepoch()) > 60")
    expect_eq "agents have a backstory, default counters, created_at in µs" "$got" "0"
    got=$(sl "$db" "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_schema WHERE type = 'index' AND name LIKE 'idx_%' ORDER BY name)")
    expect_eq "indexes" "$got" "idx_agents_status,idx_interactions_agents,idx_interactions_workflow,idx_metrics_agent_type_time,idx_tasks_agent_created,idx_tasks_agent_status,idx_tasks_created_at,idx_tasks_parent,idx_tasks_status,idx_tasks_workflow,idx_workflows_created_at,idx_workflows_status,idx_workflows_type"
    got=$(sl "$db" "SELECT m.name || '.' || f.\"from\" || ':' || f.on_delete FROM sqlite_schema m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table' ORDER BY 1")
    expect_eq "foreign keys and their ON DELETE rules" "$got" "agent_interactions.from_agent_id:NO ACTION
agent_interactions.to_agent_id:NO ACTION
agent_interactions.workflow_id:CASCADE
agent_metrics.agent_id:CASCADE
agent_task_totals.agent_id:CASCADE
agent_tasks.agent_id:CASCADE
agent_tasks.parent_task_id:NO ACTION
agent_tasks.workflow_id:CASCADE"

    # seed queries that are plain SQL run unchanged on SQLite too
    local q
    for q in "SELECT * FROM agents WHERE status = 'active';" "${SEED_QUERIES[2]}" \
             "SELECT * FROM agent_stats ORDER BY total_tasks DESC;" "${SEED_QUERIES[5]}" \
             "${SEED_QUERIES[6]}" "$INTERACTIONS_QUERY"; do
        if sl "$db" "$q" >/dev/null 2>"$work/sl.err"; then ok "seed query on SQLite: $(head -1 <<<"$q" | cut -c1-50)"
        else not_ok "seed query on SQLite: $(head -1 <<<"$q")"; cat "$work/sl.err"; fi
    done

    # default UUIDs and timestamps
    sl "$db" "INSERT INTO workflows (name) VALUES ('uuid-test'); INSERT INTO workflows (name) VALUES ('uuid-test');"
    got=$(sl "$db" "SELECT count(DISTINCT id) || '|' || min(id GLOB '????????-????-4???-[89ab]???-????????????') || '|'
                     || min(created_at % 1000 = 0) FROM workflows WHERE name = 'uuid-test'")
    expect_eq "default ids are distinct random v4 UUIDs; default timestamps whole ms in µs" "$got" "2|1|1"
    sl "$db" "DELETE FROM workflows WHERE name = 'uuid-test'"

    # --- counters -------------------------------------------------------------
    sl "$db" "$SL_MISMATCH_VIEW"
    expect_eq "counters true on the fresh schema" "$(sl "$db" 'SELECT mismatches FROM test_counter_mismatches')" 0
    local i
    for i in "${!scenario_sl[@]}"; do
        if ! sl "$db" "${scenario_sl[$i]}" >/dev/null 2>"$work/sl.err"; then
            not_ok "step: ${scenario_desc[$i]}"; cat "$work/sl.err"; continue
        fi
        expect_eq "counters true after: ${scenario_desc[$i]}" \
            "$(sl "$db" 'SELECT mismatches FROM test_counter_mismatches')" 0
    done
    expect_eq "workflow duration: rounded ms, NULL without completed_at" \
        "$(sl "$db" "SELECT group_concat(COALESCE(duration_ms, 'null'), ',') FROM (SELECT duration_ms FROM workflows ORDER BY id)")" "1235,null"
    expect_eq "cascade: deleted workflow's tasks gone" \
        "$(sl "$db" "SELECT count(*) FROM agent_tasks WHERE id IN ('$T7', '$T9', '$T10')")" 0
    expect_eq "cascade: deleted agent's totals, tasks, metrics gone" \
        "$(sl "$db" "SELECT (SELECT count(*) FROM agent_task_totals WHERE agent_id = 'test-006')
                          + (SELECT count(*) FROM agent_tasks WHERE agent_id = 'test-006')
                          + (SELECT count(*) FROM agent_metrics WHERE agent_id = 'test-006')")" 0
    sl_dump_state=$(sl "$db" "$SL_DUMP")
    expect_eq "generated cost_usd = cost_usd_micros / 1e6" \
        "$(sl "$db" "SELECT count(*) FROM agent_tasks WHERE cost_usd IS NOT cost_usd_micros / 1000000.0")" 0

    local before after
    before=$(sl "$db" "SELECT group_concat(id || updated_at, ',') FROM (SELECT id, updated_at FROM agents UNION ALL SELECT id, updated_at FROM workflows ORDER BY 1)")
    sleep 0.01
    sl "$db" "UPDATE agent_tasks SET metadata = '{\"note\": 1}', output_data = '{\"ok\": true}'"
    sl "$db" "UPDATE agent_tasks SET tokens_used = tokens_used WHERE tokens_used IS NOT NULL"
    after=$(sl "$db" "SELECT group_concat(id || updated_at, ',') FROM (SELECT id, updated_at FROM agents UNION ALL SELECT id, updated_at FROM workflows ORDER BY 1)")
    expect_eq "metadata-only update leaves agents and workflows untouched" "$after" "$before"
    expect_eq "state unchanged by metadata-only update" "$(sl "$db" "$SL_DUMP")" "$sl_dump_state"
    before=$(sl "$db" "SELECT updated_at FROM agents WHERE id = 'akira-001'")
    sleep 0.01
    sl "$db" "UPDATE agents SET backstory = 'changed' WHERE id = 'akira-001'"
    after=$(sl "$db" "SELECT updated_at > $before FROM agents WHERE id = 'akira-001'")
    expect_eq "updating an agent sets updated_at" "$after" 1

    sl "$db" "INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description) VALUES ('$T7', 'akira-001', '$W1', 'x', 'parent');
              INSERT INTO agent_tasks (agent_id, workflow_id, task_type, description, parent_task_id) VALUES ('yuki-002', '$W1', 'x', 'child', '$T7');
              INSERT INTO agent_interactions (workflow_id, from_agent_id, to_agent_id, interaction_type) VALUES ('$W1', 'hiro-003', 'sakura-004', 'handoff');"
    sl_fails "deleting an agent whose task is another agent's parent task is refused" "$db" \
        "DELETE FROM agents WHERE id = 'akira-001'" 'FOREIGN KEY constraint failed'
    sl_fails "deleting an agent that took part in an interaction is refused" "$db" \
        "DELETE FROM agents WHERE id = 'hiro-003'" 'FOREIGN KEY constraint failed'
    sl_fails "task for an unknown agent is refused" "$db" \
        "INSERT INTO agent_tasks (agent_id, task_type, description) VALUES ('nobody', 'x', 'y')" 'FOREIGN KEY constraint failed'
    local H='abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789' c
    for c in \
        "status IN|UPDATE agents SET status = 'sleeping' WHERE id = 'akira-001'" \
        "status IN|INSERT INTO workflows (name, status) VALUES ('x', 'done')" \
        "status IN|UPDATE agent_tasks SET status = 'done'" \
        "status IN|INSERT INTO user_sessions (user_id, session_token, status) VALUES ('u', '$H', 'gone')" \
        "id GLOB|INSERT INTO workflows (id, name) VALUES ('11111111-1111-4111-8111-11111111111', 'x')" \
        "id GLOB|INSERT INTO workflows (id, name) VALUES ('1111111A-1111-4111-8111-111111111111', 'x')" \
        "workflow_id GLOB|INSERT INTO agent_interactions (workflow_id, from_agent_id, to_agent_id, interaction_type) VALUES ('nope', 'akira-001', 'yuki-002', 'review')" \
        "length\\(name\\) <= 100|INSERT INTO agents (id, name, role, model, specialties) VALUES ('x', printf('%101s', 'x'), 'r', 'm', '[]')" \
        "metadata IS NULL OR json_valid\\(metadata\\)|UPDATE workflows SET metadata = '{bad'" \
        "CASE WHEN json_valid\\(specialties\\) THEN json_type\\(specialties\\) = 'array'|INSERT INTO agents (id, name, role, model, specialties) VALUES ('x', 'n', 'r', 'm', '{\"a\": 1}')" \
        "agents_specialties_strings|INSERT INTO agents (id, name, role, model, specialties) VALUES ('x', 'n', 'r', 'm', '[\"a\", 1]')" \
        "agents_specialties_strings|UPDATE agents SET specialties = '[null]' WHERE id = 'akira-001'" \
        "length\\(ip_address\\) BETWEEN 2 AND 49|INSERT INTO user_sessions (user_id, session_token, ip_address) VALUES ('u', '$H', '10.0.0.1; DROP')" \
        "cost_usd_micros BETWEEN|UPDATE agent_tasks SET cost_usd_micros = 10000000000" \
        "tokens_used BETWEEN|UPDATE agent_tasks SET tokens_used = 2147483648" \
        "agent_tasks_tokens_used_nonnegative|INSERT INTO agent_tasks (agent_id, task_type, description, tokens_used) VALUES ('akira-001', 'x', 'y', -1)" \
        "agent_tasks_tokens_used_nonnegative|UPDATE agent_tasks SET tokens_used = -1 WHERE id = '$T1'" \
        "agent_tasks_cost_usd_nonnegative|INSERT INTO agent_tasks (agent_id, task_type, description, cost_usd_micros) VALUES ('akira-001', 'x', 'y', -1)" \
        "agent_tasks_retry_count_nonnegative|UPDATE agent_tasks SET retry_count = -1 WHERE id = '$T1'" \
        "agent_tasks_duration_ms_nonnegative|INSERT INTO agent_tasks (agent_id, task_type, description, duration_ms) VALUES ('akira-001', 'x', 'y', -5)" \
        "workflows_total_tokens_used_nonnegative|INSERT INTO workflows (name, total_tokens_used) VALUES ('x', -1)" \
        "workflows_total_cost_usd_nonnegative|UPDATE workflows SET total_cost_usd_micros = -1" \
        "workflows_duration_ms_nonnegative|INSERT INTO workflows (name, duration_ms) VALUES ('x', -1)" \
        "workflows_duration_ms_nonnegative|UPDATE workflows SET status = 'completed', started_at = 1735776000000000, completed_at = 1735689600000000 WHERE id = '$W1'" \
        "agent_metrics_metric_value_finite|INSERT INTO agent_metrics (agent_id, metric_type, metric_value) VALUES ('akira-001', 'latency', 9e999)" \
        "agent_metrics_metric_value_finite|INSERT INTO agent_metrics (agent_id, metric_type, metric_value) VALUES ('akira-001', 'latency', -9e999)" \
        "NOT NULL constraint failed: agent_metrics.metric_value|INSERT INTO agent_metrics (agent_id, metric_type, metric_value) VALUES ('akira-001', 'latency', 0.0 / 0.0)" \
        "agent_interactions_interaction_type_valid|INSERT INTO agent_interactions (from_agent_id, to_agent_id, interaction_type) VALUES ('akira-001', 'yuki-002', 'gossip')" \
        "user_sessions_token_is_hash|INSERT INTO user_sessions (user_id, session_token) VALUES ('u', 'clear-token')" \
        "user_sessions_token_is_hash|INSERT INTO user_sessions (user_id, session_token) VALUES ('u', upper('$H'))" \
        "user_sessions_token_is_hash|INSERT INTO user_sessions (user_id, session_token) VALUES ('u', substr('$H', 2))" \
        ; do
        local pat="${c%%|*}"
        case "$pat" in NOT\ NULL*) ;; *) pat="CHECK constraint failed: $pat" ;; esac
        sl_fails "refused: ${c#*|}" "$db" "${c#*|}" "$pat"
    done
    if sl "$db" "INSERT INTO agent_metrics (agent_id, metric_type, metric_value) VALUES ('akira-001', 'latency', 1.7976931348623157e308);
                 INSERT INTO user_sessions (user_id, session_token, ip_address) VALUES ('u', '$H', '::ffff:192.168.0.1/128');
                 INSERT INTO agent_interactions (from_agent_id, to_agent_id, interaction_type) VALUES ('akira-001', 'yuki-002', 'review')" >/dev/null; then
        ok "valid metric, session and interaction accepted"
    else not_ok "valid metric, session and interaction accepted"; fi
    expect_eq "counters still true after refusals" "$(sl "$db" 'SELECT mismatches FROM test_counter_mismatches')" 0

    # --- migrations one by one on a database holding data ------------------------
    local mdb="$work/sl-migrated.db"
    sl_apply "$mdb" "$slmig"/0001_*.sql
    sl "$mdb" "INSERT INTO workflows (id, name) VALUES ('$W1', 'w'), ('$W2', 'w2');
               INSERT INTO agent_tasks (agent_id, workflow_id, task_type, description, status, tokens_used, cost_usd_micros, duration_ms) VALUES
                 ('akira-001', '$W1', 'a', 'b', 'completed', 100, 500000, 1000),
                 ('akira-001', '$W1', 'a', 'b', 'failed', 10, 250000, 3),
                 ('yuki-002', '$W2', 'a', 'b', 'completed', 7, 1, NULL),
                 ('hiro-003', NULL, 'a', 'b', 'running', NULL, NULL, 5);
               INSERT INTO user_sessions (user_id, session_token) VALUES ('u1', 'clear-token-1'), ('u2', 'tök€n-2');"
    if sl_apply "$mdb" "$slmig"/0002_*.sql; then ok "0002 applies on a database with tasks"; else not_ok "0002 applies on a database with tasks"; fi
    sl "$mdb" "$SL_MISMATCH_VIEW"
    expect_eq "0002 backfill: counters true" "$(sl "$mdb" 'SELECT mismatches FROM test_counter_mismatches')" 0
    expect_eq "0002 backfill: akira" \
        "$(sl "$mdb" "SELECT total_tasks_completed || '|' || total_tokens_used || '|' || average_latency_ms || '|' || success_rate FROM agents WHERE id = 'akira-001'")" \
        "1|110|1000.0|50.0"
    if sl_apply_py "$mdb" "$slmig"/0003_*.sql; then ok "0003 applies on a database with sessions"; else not_ok "0003 applies on a database with sessions"; fi
    expect_eq "0003: clear tokens replaced by their SHA-256 hex" \
        "$(sl "$mdb" "SELECT group_concat(session_token, ',') FROM (SELECT session_token FROM user_sessions ORDER BY user_id)")" \
        "$(printf 'clear-token-1' | sha256sum | cut -d' ' -f1),$(printf 'tök€n-2' | sha256sum | cut -d' ' -f1)"

    local bdb="$work/sl-bad.db"
    sl_apply "$bdb" "$slmig"/0001_*.sql
    sl "$bdb" "INSERT INTO agent_tasks (agent_id, task_type, description, tokens_used) VALUES ('akira-001', 'a', 'b', -5)"
    if sl_apply "$bdb" "$slmig"/0002_*.sql 2>"$work/sl-bad.err"; then
        not_ok "0002 refuses a database with a negative tokens_used"
    elif grep -q 'CHECK constraint failed: agent_tasks_tokens_used_nonnegative' "$work/sl-bad.err" \
            && [ "$(sl "$bdb" "SELECT count(*) FROM sqlite_schema WHERE name = 'agent_task_totals'")" = 0 ]; then
        ok "0002 refuses a database with a negative tokens_used, and rolls back"
    else not_ok "0002 refusal"; cat "$work/sl-bad.err"; fi
}

[ "${SKIP_PG:-0}" = 1 ] || run_pg
[ "${SKIP_SQLITE:-0}" = 1 ] || run_sqlite

if [ "${SKIP_PG:-0}" != 1 ] && [ "${SKIP_SQLITE:-0}" != 1 ]; then
    echo "# both backends"
    [ -n "${SHOW_STATE:-}" ] && printf "%s\n" "$pg_dump_state"
    if [ -n "$pg_dump_state" ] && [ "$pg_dump_state" == "$sl_dump_state" ]; then
        ok "same counters, totals, workflows and agent_stats after the same scenario ($(wc -l <<<"$pg_dump_state") rows)"
    else
        not_ok "same counters, totals, workflows and agent_stats after the same scenario"
        diff <(echo "$pg_dump_state") <(echo "$sl_dump_state") | head -20
    fi
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
