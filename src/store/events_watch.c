/*
 * Whether anyone watches the live events (PostgreSQL, migration 0010): an API
 * server with open event streams keeps a row in event_watchers, and the event
 * triggers send nothing while no row is current. SQLite produces its events in
 * the process that watches them, so there these calls do nothing.
 */
#include <string.h>

#include "store/db.h"
#include "store/events.h"

static const tia__sql sql_watch = {
    "events.watch",
    "INSERT INTO event_watchers (watcher_id, expires_at) "
    "VALUES ($1, now() + $2 * interval '1 second') "
    "ON CONFLICT (watcher_id) DO UPDATE SET expires_at = EXCLUDED.expires_at",
    "SELECT 1",
};

static const tia__sql sql_unwatch = {
    "events.unwatch",
    "DELETE FROM event_watchers WHERE watcher_id = $1",
    "SELECT 1",
};

int tia__events_watch(tia_store *s, const char *watcher_id, int ttl_s, tia_error *err)
{
    if (tia_store_backend(s) != TIA_BACKEND_POSTGRES)
        return 0;
    if (watcher_id == NULL || strlen(watcher_id) > 64 || ttl_s < 1)
        return tia_error_set(err, TIA_EINVAL, "bad watcher id or time to live");
    tia__param p[] = {tia__p_text(watcher_id), tia__p_int(ttl_s)};
    return tia__db_exec(s, &sql_watch, p, 2, NULL, err);
}

int tia__events_unwatch(tia_store *s, const char *watcher_id, tia_error *err)
{
    if (tia_store_backend(s) != TIA_BACKEND_POSTGRES)
        return 0;
    tia__param p[] = {tia__p_text(watcher_id)};
    return tia__db_exec(s, &sql_unwatch, p, 1, NULL, err);
}
