/*
 * Change events on SQLite (events.h): what NOTIFY does for PostgreSQL, done
 * inside one connection. TEMP triggers (they live and die with the connection,
 * and never touch the database file, so other processes are unaffected) call
 * the application function tia_event() for each task or workflow inserted or
 * whose status changed; it appends the change to the connection's list. The
 * commit hook hands the list to the callback and the rollback hook drops it,
 * so a receiver only ever hears of committed changes. SQLite has one writer at
 * a time and row triggers are cheap there, so a trigger per row costs little.
 *
 * The function is registered SQLITE_DIRECTONLY: only SQL of the application
 * itself (top-level statements and TEMP triggers) may call it, never a view or
 * trigger stored in a database file.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "store/backend.h"
#include "store/events.h"

/* The state of one attached connection (the user data of tia_event). */
typedef struct lite_events {
    tia__store_event_fn fn;
    void (*release)(void *ctx); /* set once the attachment succeeded */
    void *ctx;
    json_t *pending; /* the open transaction's changes, NULL when none */
    int lost;        /* the open transaction had too many (or memory ran out) */
} lite_events;

/* clang-format off */
static const char triggers_sql[] =
    "CREATE TEMP TRIGGER IF NOT EXISTS tia_events_task_insert AFTER INSERT ON main.agent_tasks "
    "BEGIN SELECT tia_event('task', NEW.id, NEW.workflow_id, NEW.agent_id, NEW.status); END;"
    "CREATE TEMP TRIGGER IF NOT EXISTS tia_events_task_status AFTER UPDATE OF status "
    "ON main.agent_tasks WHEN OLD.status IS NOT NEW.status "
    "BEGIN SELECT tia_event('task', NEW.id, NEW.workflow_id, NEW.agent_id, NEW.status); END;"
    "CREATE TEMP TRIGGER IF NOT EXISTS tia_events_workflow_insert AFTER INSERT ON main.workflows "
    "BEGIN SELECT tia_event('workflow', NEW.id, NEW.id, NULL, NEW.status); END;"
    "CREATE TEMP TRIGGER IF NOT EXISTS tia_events_workflow_status AFTER UPDATE OF status "
    "ON main.workflows WHEN OLD.status IS NOT NEW.status "
    "BEGIN SELECT tia_event('workflow', NEW.id, NEW.id, NULL, NEW.status); END;";

static const char drop_sql[] =
    "DROP TRIGGER IF EXISTS temp.tia_events_task_insert;"
    "DROP TRIGGER IF EXISTS temp.tia_events_task_status;"
    "DROP TRIGGER IF EXISTS temp.tia_events_workflow_insert;"
    "DROP TRIGGER IF EXISTS temp.tia_events_workflow_status;";
/* clang-format on */

static void forget(lite_events *e)
{
    json_decref(e->pending);
    e->pending = NULL;
    e->lost = 0;
}

/* Called by SQLite when the function is replaced or deleted, or the connection closes. */
static void events_destroy(void *p)
{
    lite_events *e = p;
    json_decref(e->pending);
    if (e->release)
        e->release(e->ctx);
    free(e);
}

/* A text argument as a JSON string, or null (NULL only when out of memory). */
static json_t *arg_json(sqlite3_value *v)
{
    if (sqlite3_value_type(v) == SQLITE_NULL)
        return json_null();
    const char *t = (const char *)sqlite3_value_text(v);
    if (t == NULL)
        return NULL;
    return json_stringn(t, (size_t)sqlite3_value_bytes(v));
}

/* tia_event(kind, id, workflow_id, agent_id, status): queues one change. */
static void fn_event(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    static const char *const keys[] = {"kind", "id", "workflow_id", "agent_id", "status"};
    lite_events *e = sqlite3_user_data(cx);
    sqlite3_result_null(cx);
    if (e->lost || argc != 5)
        return;
    if (e->pending == NULL && (e->pending = json_array()) == NULL) {
        e->lost = 1;
        return;
    }
    json_t *o = json_array_size(e->pending) < TIA__EVENTS_TXN_MAX ? json_object() : NULL;
    for (int i = 0; o != NULL && i < 5; i++) {
        json_t *v = arg_json(argv[i]);
        if (v == NULL || json_object_set_new(o, keys[i], v) != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    if (o == NULL || json_array_append_new(e->pending, o) != 0) {
        /* Too many to list, or no memory: the receiver will be told to look for itself. */
        json_decref(e->pending);
        e->pending = NULL;
        e->lost = 1;
    }
}

static int on_commit(void *p)
{
    lite_events *e = p;
    if (e->lost) {
        e->fn(e->ctx, NULL);
    } else if (e->pending != NULL && json_array_size(e->pending) > 0) {
        char *text = json_dumps(e->pending, JSON_COMPACT);
        e->fn(e->ctx, text); /* NULL when out of memory: "changes were lost" */
        free(text);
    }
    forget(e);
    return 0; /* never turns the COMMIT into a rollback */
}

static void on_rollback(void *p)
{
    forget(p);
}

/* Removes the triggers, the hooks and the function (whose destructor releases ctx). */
static void detach(sqlite3 *db)
{
    sqlite3_exec(db, drop_sql, NULL, NULL, NULL);
    sqlite3_commit_hook(db, NULL, NULL);
    sqlite3_rollback_hook(db, NULL, NULL);
    sqlite3_create_function_v2(db, "tia_event", 5, SQLITE_UTF8, NULL, NULL, NULL, NULL, NULL);
}

int tia__store_events_attach(tia_store *s, tia__store_event_fn fn, void (*release)(void *ctx),
                             void *ctx, tia_error *err)
{
    if (tia_store_backend(s) != TIA_BACKEND_SQLITE)
        return tia_error_set(err, TIA_EINVAL,
                             "in-process events are for SQLite stores (PostgreSQL has NOTIFY)");
    sqlite3 *db = (sqlite3 *)s->conn;
    if (s->in_txn || !sqlite3_get_autocommit(db))
        return tia_error_set(err, TIA_EINVAL, "cannot attach events inside a transaction");
    if (fn == NULL) {
        detach(db);
        return 0;
    }
    lite_events *e = calloc(1, sizeof *e);
    if (e == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory attaching events");
    e->fn = fn;
    e->ctx = ctx;
    /* Replaces an earlier attachment, whose destructor releases its own ctx. */
    int rc = sqlite3_create_function_v2(db, "tia_event", 5, SQLITE_UTF8 | SQLITE_DIRECTONLY, e,
                                        fn_event, NULL, NULL, events_destroy);
    if (rc != SQLITE_OK) /* SQLite has called events_destroy(e) (release not yet set) */
        return tia_error_set(err, TIA_EDB, "cannot register tia_event: %s", sqlite3_errstr(rc));
    char *msg = NULL;
    rc = sqlite3_exec(db, triggers_sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int code = msg && strncmp(msg, "no such table", 13) == 0 ? TIA_ESCHEMA : TIA_EDB;
        tia_error_set(err, code, "cannot create the event triggers: %s",
                      msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        detach(db); /* frees e without releasing ctx: the caller keeps it */
        return code;
    }
    e->release = release;
    sqlite3_commit_hook(db, on_commit, e);
    sqlite3_rollback_hook(db, on_rollback, e);
    return 0;
}
