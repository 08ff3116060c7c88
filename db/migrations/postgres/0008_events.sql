-- 0008_events (PostgreSQL only; SQLite produces the same events in-process,
-- see src/store/events_sqlite.c)
--
-- Live events for the Registry API's GET /api/v1/events: every statement that
-- inserts tasks or workflows, or changes their status, sends NOTIFY
-- tokyoia_events with the changed rows as a compact JSON array:
--
--   [{"kind":"task","id":"...","workflow_id":"..."|null,"agent_id":"...","status":"running"},
--    {"kind":"workflow","id":"...","workflow_id":"<its own id>","agent_id":null,"status":"..."}]
--
-- The triggers are statement-level with transition tables, like the counters
-- of 0002: a claim or completion of a batch costs one trigger call, not one per
-- row. An UPDATE that changes no status (a heartbeat, a lease) sends nothing.
-- A payload must be shorter than 8000 bytes, so a batch is split into several
-- notifications, each a JSON array of whole rows, in order. More than 10000
-- rows in one statement (a bulk load) send one [{"kind":"reset"}] instead:
-- listing them would cost the writer more than listeners gain, who re-fetch.
--
-- NOTIFY is transactional: listeners hear of a change only when it commits,
-- never after a rollback; within a transaction PostgreSQL drops a notification
-- identical to one already sent, so a row flipping A -> B -> A -> B in one
-- transaction is heard as B, A.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

-- Sends p_events (JSON objects as text) on tokyoia_events, in arrays below
-- PostgreSQL's payload limit, in order. This runs on every claim and
-- completion, so the usual case (up to about 40 rows) is one concatenation
-- and one notification, and a larger batch is split by one query rather than
-- a PL/pgSQL loop (microseconds per row): a chunk is the run of elements whose
-- running total of bytes falls in one 7000-byte window; an element is at most
-- a few hundred bytes (two UUIDs, an agent id of at most 50 characters, a
-- status), so a chunk always stays under 8000 bytes.
CREATE FUNCTION tokyoia_events_send(p_events text[])
RETURNS void AS $$
DECLARE
    v_all text;
BEGIN
    IF cardinality(p_events) > 10000 THEN
        PERFORM pg_notify('tokyoia_events', '[{"kind":"reset"}]');
        RETURN;
    END IF;
    v_all := array_to_string(p_events, ',');
    IF v_all = '' THEN
        RETURN;
    ELSIF octet_length(v_all) < 7900 THEN -- the common case: one notification
        PERFORM pg_notify('tokyoia_events', '[' || v_all || ']');
    ELSE
        PERFORM pg_notify('tokyoia_events', c.payload)
        FROM (SELECT w.chunk, '[' || string_agg(w.e, ',' ORDER BY w.n) || ']' AS payload
              FROM (SELECT u.e, u.n,
                           sum(octet_length(u.e) + 1) OVER (ORDER BY u.n) / 7000 AS chunk
                    FROM unnest(p_events) WITH ORDINALITY AS u(e, n)) w
              GROUP BY w.chunk
              ORDER BY w.chunk) c;
    END IF;
END;
$$ LANGUAGE plpgsql;

-- One change as compact JSON. Only agent_id can hold characters that need
-- escaping (to_json does it); ids are UUIDs and status is one of five words
-- (CHECK and NOT NULL since 0004). STABLE, as to_json is: PostgreSQL inlines
-- a SQL function into the calling query only when it is declared no less
-- volatile than its body, and inlined it costs about a sixth (1.5 us a row,
-- not 8).
CREATE FUNCTION tokyoia_event_json(p_kind text, p_id uuid, p_workflow_id uuid,
                                   p_agent_id text, p_status text)
RETURNS text AS $$
    SELECT '{"kind":"' || p_kind || '","id":"' || p_id::text
        || '","workflow_id":' || COALESCE('"' || p_workflow_id::text || '"', 'null')
        || ',"agent_id":' || COALESCE(to_json(p_agent_id)::text, 'null')
        || ',"status":"' || p_status || '"}'
$$ LANGUAGE sql STABLE;

-- One function for the four triggers; each branch reads only the transition
-- tables its trigger has (new_rows for INSERT, both for UPDATE). LIMIT 10001:
-- past 10000 rows tokyoia_events_send sends a reset, so a bulk load never
-- formats more rows than that.
CREATE FUNCTION tokyoia_events_notify()
RETURNS TRIGGER AS $$
BEGIN
    IF TG_TABLE_NAME = 'agent_tasks' THEN
        IF TG_OP = 'INSERT' THEN
            PERFORM tokyoia_events_send(ARRAY(
                SELECT tokyoia_event_json('task', n.id, n.workflow_id, n.agent_id, n.status)
                FROM new_rows n
                LIMIT 10001));
        ELSE
            PERFORM tokyoia_events_send(ARRAY(
                SELECT tokyoia_event_json('task', n.id, n.workflow_id, n.agent_id, n.status)
                FROM new_rows n
                JOIN old_rows o ON o.id = n.id
                WHERE n.status IS DISTINCT FROM o.status
                LIMIT 10001));
        END IF;
    ELSE -- workflows
        IF TG_OP = 'INSERT' THEN
            PERFORM tokyoia_events_send(ARRAY(
                SELECT tokyoia_event_json('workflow', n.id, n.id, NULL, n.status)
                FROM new_rows n
                LIMIT 10001));
        ELSE
            PERFORM tokyoia_events_send(ARRAY(
                SELECT tokyoia_event_json('workflow', n.id, n.id, NULL, n.status)
                FROM new_rows n
                JOIN old_rows o ON o.id = n.id
                WHERE n.status IS DISTINCT FROM o.status
                LIMIT 10001));
        END IF;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER agent_tasks_events_insert
    AFTER INSERT ON agent_tasks
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION tokyoia_events_notify();

CREATE TRIGGER agent_tasks_events_update
    AFTER UPDATE ON agent_tasks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION tokyoia_events_notify();

CREATE TRIGGER workflows_events_insert
    AFTER INSERT ON workflows
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION tokyoia_events_notify();

CREATE TRIGGER workflows_events_update
    AFTER UPDATE ON workflows
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION tokyoia_events_notify();
