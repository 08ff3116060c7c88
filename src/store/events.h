/*
 * Change events of tasks and workflows, for the Registry API's event stream
 * (GET /api/v1/events). Both backends describe a committed change the same
 * way: a JSON array of {"kind": "task"|"workflow", "id", "workflow_id",
 * "agent_id", "status"} objects, one per row inserted or whose status changed,
 * in the order of the changes ({"kind": "reset"} when the changes were too many
 * to list). PostgreSQL sends them with NOTIFY on TIA__EVENTS_CHANNEL from the
 * statement-level triggers of migration 0008, to every listening session.
 * SQLite has no NOTIFY: tia__store_events_attach installs TEMP triggers on one
 * connection that queue its changes and hand them to a callback when its
 * transaction commits, so only the writes made through that connection are
 * seen (the API server attaches every connection of its pool).
 */
#ifndef TIA_STORE_EVENTS_H
#define TIA_STORE_EVENTS_H

#include <tokyoia/error.h>
#include <tokyoia/store.h>

/* The PostgreSQL channel of migration 0008. */
#define TIA__EVENTS_CHANNEL "tokyoia_events"

/*
 * Changes of one transaction past this many are not listed: the callback gets
 * NULL instead (as it does when memory ran out), meaning "changes were lost:
 * look for yourself". Migration 0008 applies the same bound per statement.
 */
#define TIA__EVENTS_TXN_MAX 10000

/*
 * Receives the changes of one committed transaction as the JSON array above,
 * or NULL when some were lost. Called on the thread that commits, from
 * SQLite's commit hook, so it must not use the connection; the text is valid
 * during the call only.
 */
typedef void (*tia__store_event_fn)(void *ctx, const char *json);

/*
 * SQLite: from now on, every transaction committed on s that inserted tasks or
 * workflows or changed their status calls fn(ctx, json) as it commits (a
 * rolled-back transaction calls nothing). On success the connection holds ctx
 * until it is closed or attached again, and then calls release(ctx) (release
 * may be NULL); on failure release is not called. fn NULL detaches (release is
 * called for the previous attachment). The connection must not be in a
 * transaction. TIA_EINVAL for a PostgreSQL store (it has NOTIFY),
 * TIA_ESCHEMA when the tables are missing.
 */
int tia__store_events_attach(tia_store *s, tia__store_event_fn fn, void (*release)(void *ctx),
                             void *ctx, tia_error *err);

/*
 * PostgreSQL (migration 0010): declares that watcher_id (at most 64 characters)
 * watches the events for the next ttl_s seconds; the triggers of 0008 send
 * nothing while no watcher is current. SQLite: does nothing (returns 0).
 */
int tia__events_watch(tia_store *s, const char *watcher_id, int ttl_s, tia_error *err);

/* Withdraws watcher_id at once (PostgreSQL); does nothing on SQLite. */
int tia__events_unwatch(tia_store *s, const char *watcher_id, tia_error *err);

#endif
