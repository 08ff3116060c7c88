#!/usr/bin/env bash
# db/schema.sql is the schema the migrations make, and the way the seed README
# loads it (createdb, then psql < db/schema.sql) gives the same database as
# `tokyoia migrate`:
#   (a) scripts/gen-schema.sh, run on a copy of the tree, writes exactly the
#       committed db/schema.sql (the script only writes in place);
#   (b) database A loaded with psql and database B migrated by the binary have
#       identical `pg_dump --schema-only --no-owner`, the same agents and the same
#       schema_migrations rows (version, name, checksum);
#   (c) `tokyoia migrate` on A applies nothing and changes no row of
#       schema_migrations: A is recognised as migrated.
# Environment (set by CTest): TIA_SOURCE_DIR, TIA_BIN, TIA_TEST_PG_STATE (a file
# holding the admin conninfo of the throwaway cluster). Exits non-zero on any
# difference, printing it.
set -euo pipefail

: "${TIA_SOURCE_DIR:?}" "${TIA_BIN:?}" "${TIA_TEST_PG_STATE:?}"
admin=$(cat "$TIA_TEST_PG_STATE")
# createdb and psql find the cluster through the environment, so that the
# commands below are the README's own.
for kv in $admin; do
    case $kv in
        host=*) export PGHOST=${kv#host=} ;;
        port=*) export PGPORT=${kv#port=} ;;
        user=*) export PGUSER=${kv#user=} ;;
    esac
done
unset PGDATABASE

work=$(mktemp -d)
a=tia_schema_sql_a_$$
b=tia_schema_sql_b_$$
cleanup() {
    for db in "$a" "$b"; do
        psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# Compares two files; prints the diff and counts a failure when they differ.
same() {
    local what=$1 x=$2 y=$3
    if diff -u "$x" "$y" > "$work/diff"; then
        echo "ok: $what"
    else
        fail "$what differs:"
        cat "$work/diff" >&2
    fi
}

conninfo_for() { echo "${admin/dbname=postgres/dbname=$1}"; }
q() { psql -X -v ON_ERROR_STOP=1 -qAt -d "$1" -c "$2"; }

# (a) db/schema.sql is what gen-schema.sh makes of the migrations.
mkdir -p "$work/tree/scripts" "$work/tree/db"
cp "$TIA_SOURCE_DIR/scripts/gen-schema.sh" "$work/tree/scripts/"
cp -r "$TIA_SOURCE_DIR/db/migrations" "$work/tree/db/"
bash "$work/tree/scripts/gen-schema.sh" > /dev/null
same "db/schema.sql is up to date (scripts/gen-schema.sh)" \
    "$TIA_SOURCE_DIR/db/schema.sql" "$work/tree/db/schema.sql"

# (b) A as the seed README says; B by the binary.
createdb "$a"
psql -X -v ON_ERROR_STOP=1 -q "$a" < "$TIA_SOURCE_DIR/db/schema.sql" > "$work/load.out"
echo "ok: psql $a < db/schema.sql"
createdb "$b"
if ! "$TIA_BIN" --db "$(conninfo_for "$b")" migrate > "$work/migrate_b.out" 2>&1; then
    cat "$work/migrate_b.out" >&2
    fail "tokyoia migrate on a new database failed"
fi
n_files=$(find "$TIA_SOURCE_DIR/db/migrations/postgres" -name '[0-9][0-9][0-9][0-9]_*.sql' | wc -l)
n_b=$(q "$b" "SELECT count(*) FROM pg_tables WHERE tablename = 'schema_migrations'")
if [ "$n_b" != 1 ] || [ "$(q "$b" 'SELECT count(*) FROM schema_migrations')" != "$n_files" ]; then
    fail "tokyoia migrate did not apply the $n_files migrations to $b"
fi

# pg_dump 15.14+/16.10+/17.6+ writes \restrict lines with a random key: drop them.
dump() {
    pg_dump --schema-only --no-owner -d "$1" | sed -e '/^\\restrict /d' -e '/^\\unrestrict /d'
}
dump "$a" > "$work/a.schema"
dump "$b" > "$work/b.schema"
same "pg_dump --schema-only of psql-loaded and migrated databases" "$work/a.schema" "$work/b.schema"

agents_sql="SELECT id, name, role, model, specialties, backstory, personality_emoji, status,
                   total_tasks_completed, total_tokens_used, average_latency_ms, success_rate,
                   metadata
            FROM agents ORDER BY id"
migrations_sql="SELECT version, name, checksum FROM schema_migrations ORDER BY version"
totals_sql="SELECT * FROM agent_task_totals ORDER BY agent_id"
for name in agents migrations totals; do
    var=${name}_sql
    q "$a" "${!var}" > "$work/a.$name"
    q "$b" "${!var}" > "$work/b.$name"
    same "rows of $name" "$work/a.$name" "$work/b.$name"
done
if [ "$(wc -l < "$work/a.agents")" != 5 ]; then
    fail "expected the five agents in $a, found $(wc -l < "$work/a.agents")"
fi

# (c) A is recognised as migrated: migrate applies nothing and records nothing.
recorded_sql="SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
q "$a" "$recorded_sql" > "$work/a.before"
if ! "$TIA_BIN" --db "$(conninfo_for "$a")" migrate > "$work/migrate_a.out" 2>&1; then
    cat "$work/migrate_a.out" >&2
    fail "tokyoia migrate on the psql-loaded database failed"
fi
if grep -qi "applied migration" "$work/migrate_a.out"; then
    cat "$work/migrate_a.out" >&2
    fail "tokyoia migrate applied something to the psql-loaded database"
fi
q "$a" "$recorded_sql" > "$work/a.after"
same "schema_migrations of A after tokyoia migrate" "$work/a.before" "$work/a.after"
dump "$a" > "$work/a.schema2"
same "schema of A after tokyoia migrate" "$work/a.schema" "$work/a.schema2"

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "all checks passed"
