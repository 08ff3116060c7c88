/*
 * Opening a tokyoia database and managing its schema. One interface, two
 * backends: PostgreSQL through libpq (production) and SQLite (embedded default).
 * A tia_store is one connection (two with a read replica) and must be used by one
 * thread at a time; open one store per thread.
 */
#ifndef TOKYOIA_STORE_H
#define TOKYOIA_STORE_H

#include <tokyoia/error.h>
#include <tokyoia/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tia_backend { TIA_BACKEND_SQLITE = 0, TIA_BACKEND_POSTGRES } tia_backend;

/* What a store's read replica is doing (tia_store_replica_status). */
typedef enum tia_replica_state {
    TIA_REPLICA_NONE = 0, /* no read URL: every read goes to the primary */
    TIA_REPLICA_UP,       /* routed reads go to the replica */
    TIA_REPLICA_DOWN,     /* unreachable or failing: reads go to the primary, retried later */
    TIA_REPLICA_LAGGING   /* further behind than max_replica_lag_ms: reads go to the primary */
} tia_replica_state;

/*
 * Called with one line each time the read replica's state changes (never once
 * per read), the first state at open included (from TIA_REPLICA_NONE): up, down,
 * lagging, up again. A hook that warns keeps quiet about NONE -> UP. arg is the
 * options' log_arg. Called from within the store call that noticed the change,
 * on its thread; must not call back into the store.
 */
typedef void (*tia_store_log_fn)(void *arg, tia_replica_state from, tia_replica_state to,
                                 const char *message);

typedef struct tia_store_options {
    int busy_timeout_ms; /* SQLite: wait this long for a lock (default 5000) */
    int connect_timeout_s; /* PostgreSQL: libpq connect_timeout (default 10) */
    /*
     * PostgreSQL only: a streaming replica of the same database (URL or key=value).
     * The store opens a second, read-only connection to it and sends the routed
     * reads there: tia_stats_agents, tia_stats_agent_window, tia_stats_totals,
     * tia_agent_list, tia_workflow_list, tia_task_list,
     * tia_interaction_list_for_workflow, tia_metric_list and
     * tia_metric_query_series (the dashboard's overview and costs are made of
     * these). Writes, engine calls, gets (tia_*_get*) and session checks stay on
     * the primary, and so do routed reads in a transaction or on a pinned handle
     * (tia_store_read_primary). NULL or "": none.
     */
    const char *read_url;
    int max_replica_lag_ms; /* a replica further behind is not used (default 10000; <0: no check) */
    int replica_retry_ms;   /* how soon a down replica is tried again (default 30000) */
    tia_store_log_fn log;   /* warnings about the replica; NULL: none */
    void *log_arg;
    /*
     * SQLite: 1 opens only a file that exists (TIA_ENOTFOUND when there is none)
     * instead of creating an empty one, for a caller that needs a database that is
     * already there and must not leave a file behind when it is not.
     */
    int must_exist;
} tia_store_options;

/*
 * The read replica's state and the routed reads so far. Counters are per store
 * handle, since it was opened.
 */
typedef struct tia_replica_status {
    tia_replica_state state;
    int64_t lag_ms;          /* at the last check; -1 when unknown */
    uint64_t reads_replica;  /* routed reads the replica answered */
    uint64_t reads_primary;  /* routed reads the primary answered (replica down, lagging,
                                or the handle pinned to the primary) */
    uint64_t fallbacks;      /* reads that failed on the replica and were re-run on the primary */
} tia_replica_status;

/*
 * Chooses the database: url if not NULL or empty, else $DATABASE_URL if set and
 * not empty, else "./tokyoia.db". Never NULL; the result points into url or the
 * environment or a static string.
 */
const char *tia_store_default_url(const char *url);

/*
 * The read replica's URL: url if not NULL or empty, else $DATABASE_READ_URL if set
 * and not empty, else NULL (no replica). The result points into url or the
 * environment.
 */
const char *tia_store_default_read_url(const char *url);

/*
 * Opens a database. "postgres://...", "postgresql://..." and libpq key=value
 * strings ("host=... dbname=...") go to PostgreSQL; "sqlite:PATH" or any other
 * text is a SQLite file path (created if missing; WAL, foreign keys on, busy
 * timeout). url NULL means tia_store_default_url(NULL). opts may be NULL.
 * On success *out owns the connection (close with tia_store_close).
 * Errors: TIA_EUNAVAIL (cannot connect or open), TIA_ENOMEM, TIA_EINVAL.
 * Opening does not migrate: call tia_store_migrate.
 * With opts->read_url: TIA_EINVAL when the database is SQLite or the read URL is
 * not a PostgreSQL one or does not parse. A replica that cannot be reached does
 * not fail the open: the store starts with it down (one warning through
 * opts->log) and tries it again every replica_retry_ms.
 */
int tia_store_open(const char *url, const tia_store_options *opts, tia_store **out, tia_error *err);

/*
 * Read-your-own-writes. While a handle is pinned, the reads that would go to the
 * read replica go to the primary. A handle pins itself when it writes (any
 * statement but a SELECT, or a transaction), so that a command or request that
 * reads back what it wrote sees it; on=1 pins explicitly (a health check of the
 * primary), on=0 unpins (a pool does it when a handle is given back). No effect
 * without a read replica.
 */
void tia_store_read_primary(tia_store *s, int on);

/*
 * The read replica's state and counters into *out (state TIA_REPLICA_NONE and
 * zeros without one). Reads only atomics: may be called from any thread, also
 * while another thread uses the store.
 */
void tia_store_replica_status(const tia_store *s, tia_replica_status *out);

/* "none", "up", "down" or "lagging". */
const char *tia_replica_state_name(tia_replica_state st);

/* Closes and frees; NULL is accepted. */
void tia_store_close(tia_store *s);

tia_backend tia_store_backend(const tia_store *s);

/* "postgresql" or "sqlite". */
const char *tia_backend_name(tia_backend b);

/*
 * Applies every embedded migration not yet applied, each in its own transaction,
 * recording it in schema_migrations with the SHA-256 of its text. Refuses with
 * TIA_ECHECKSUM, applying nothing, when an applied migration's text differs from
 * the embedded one, and with TIA_ESCHEMA when the database has a migration this
 * binary does not know. *applied (may be NULL) receives the number applied.
 */
int tia_store_migrate(tia_store *s, int *applied, tia_error *err);

typedef struct tia_migration_status {
    int version;
    char name[64];
    int applied;              /* 1 when recorded in schema_migrations */
    int changed;              /* 1 when applied with a different checksum */
    int unknown;              /* 1 when recorded but not embedded in this binary */
    tia_time_us applied_at;   /* TIA_TIME_NONE when not applied */
    char checksum[65];        /* of the embedded text (of the recorded one if unknown) */
} tia_migration_status;

/*
 * Lists every embedded migration, and any unknown recorded one, by version.
 * *items is malloc'd (free with free()); *n its length.
 */
int tia_store_migration_status(tia_store *s, tia_migration_status **items, size_t *n,
                               tia_error *err);

#ifdef __cplusplus
}
#endif
#endif
