-- 0010_event_watchers (PostgreSQL only)
--
-- The live events of 0008 cost every writer something even when no one
-- listens: a NOTIFY from every statement that changes a task's status, and
-- PostgreSQL serialises the commits of all notifying transactions on one lock
-- held through the WAL flush (measured: 30-45 % of the engine's lifecycles at 4
-- and 16 workers). Events are only worth that while someone watches. An API
-- server with at least one open event stream keeps a row here, refreshed well
-- before it expires (src/store/events_watch.c, src/api/events.c); the trigger
-- sends nothing while no row is current. A server that dies leaves a row that
-- expires by itself. A server that starts watching after a pause treats what
-- it held before as lost: a client resuming from before the pause gets
-- "event: reset" and re-fetches.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

CREATE TABLE event_watchers (
    watcher_id VARCHAR(64) PRIMARY KEY,
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL
);

CREATE OR REPLACE FUNCTION tokyoia_events_notify()
RETURNS TRIGGER AS $$
BEGIN
    -- Nobody watching: nothing to send (a seq scan of a table of a few rows).
    IF NOT EXISTS (SELECT 1 FROM event_watchers WHERE expires_at > now()) THEN
        RETURN NULL;
    END IF;
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
