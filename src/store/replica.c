/*
 * The read replica of a PostgreSQL store (DATABASE_READ_URL, --read-url): a
 * second, read-only connection that tia__db_read sends the routed reads to, and
 * the replica's health. The replica is in one of three states. Up: routed reads
 * go to it, and at most every lag interval one short query measures how far it
 * is behind the primary. Down (it could not be reached, or a read failed on it):
 * reads go to the primary and the replica is tried again after replica_retry_ms.
 * Lagging (further behind than max_replica_lag_ms): reads go to the primary and
 * the lag is measured again at the lag interval. Each change of state is one call
 * of the store's log hook, so an outage costs one warning, not one per read.
 *
 * Everything here runs on the thread that uses the store (a store is one thread's
 * at a time); only the counters and the published state are atomics, for
 * tia_store_replica_status from other threads (a server's /metrics).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/backend.h"

#define DEFAULT_MAX_LAG_MS 10000
#define DEFAULT_RETRY_MS 30000
/* The lag is checked every half of its bound, within these limits. */
#define LAG_CHECK_MIN_MS 200
#define LAG_CHECK_MAX_MS 5000
/* A reconnection holds up the read that tries it: keep it short. */
#define CONNECT_TIMEOUT_MAX_S 5

struct tia__replica {
    tia_store *conn; /* the replica's own handle; NULL until it first connects */
    char *url;
    tia_store_options opts;  /* connect timeout, lag bound, retry, log hook */
    tia_replica_state state; /* NONE until the first check */
    int64_t next_check_ms;   /* monotonic: the next lag check (up, lagging) or retry (down) */
    int64_t lag_every_ms;    /* between lag checks; INT64_MAX without a lag bound */
    int suspect;             /* the last check alone found it too far behind */
    _Atomic int pub_state;   /* state, for other threads */
    _Atomic int64_t lag_ms;
    _Atomic uint64_t reads_replica, reads_primary, fallbacks;
};

/*
 * How far the replica's replay is behind, in milliseconds. Caught up (everything
 * streamed in is replayed) is 0 even when the last replayed transaction is old:
 * an idle primary sends nothing to replay. ("<=", not "=": a restarted standby
 * streams again from the start of a WAL segment, behind what it has replayed.)
 * Otherwise, and when nothing streams (NULL), it is the age of the last replayed
 * commit, which is what a reader misses at most. A server that is not in
 * recovery (a read URL naming a primary) has no lag. No replayed commit since the
 * replica started counts as 0: it is as new as its base backup. The two servers'
 * clocks are assumed to agree.
 */
static const tia__sql sql_lag = {
    "replica.lag",
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0 "
    "WHEN pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0 "
    "ELSE COALESCE(greatest(0, (extract(epoch FROM now() - pg_last_xact_replay_timestamp()) "
    "* 1000))::int8, 0) END",
    "SELECT 0",
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *tia_replica_state_name(tia_replica_state st)
{
    switch (st) {
    case TIA_REPLICA_UP: return "up";
    case TIA_REPLICA_DOWN: return "down";
    case TIA_REPLICA_LAGGING: return "lagging";
    default: return "none";
    }
}

/* why on one line: libpq's messages span several, with a tab before the hint. */
static void one_line(char *dst, size_t n, const char *why)
{
    size_t k = 0;
    int space = 0;
    for (const char *p = why ? why : ""; *p && k + 1 < n; p++) {
        int ws = *p == '\n' || *p == '\r' || *p == '\t' || *p == ' ';
        if (!ws && space && k > 0)
            dst[k++] = ' ';
        if (!ws && k + 1 < n)
            dst[k++] = *p;
        space = ws;
    }
    dst[k] = '\0';
}

/* Moves to st; each change, the first included, is said once through the hook. */
static void set_state(struct tia__replica *r, tia_replica_state st, const char *why)
{
    tia_replica_state from = r->state;
    if (st == from)
        return;
    r->state = st;
    atomic_store(&r->pub_state, (int)st);
    if (r->opts.log == NULL)
        return;
    char msg[TIA_ERROR_MSG_MAX + 160], reason[TIA_ERROR_MSG_MAX];
    int64_t lag = atomic_load(&r->lag_ms);
    one_line(reason, sizeof reason, why);
    if (st == TIA_REPLICA_DOWN)
        snprintf(msg, sizeof msg,
                 "read replica unavailable (%s): reads go to the primary; retrying every %d s",
                 reason, (r->opts.replica_retry_ms + 999) / 1000);
    else if (st == TIA_REPLICA_LAGGING)
        snprintf(msg, sizeof msg,
                 "read replica %.1f s behind the primary (more than %.1f s allowed): reads go "
                 "to the primary until it catches up",
                 (double)lag / 1000.0, (double)r->opts.max_replica_lag_ms / 1000.0);
    else
        snprintf(msg, sizeof msg, "read replica up (%.1f s behind): reads go to it",
                 (double)lag / 1000.0);
    r->opts.log(r->opts.log_arg, from, st, msg);
}

/* Connects (the first time) and measures the lag: 0 with *lag_ms, else TIA_E* in err. */
static int probe(struct tia__replica *r, int64_t *lag_ms, tia_error *err)
{
    tia__rows *rows = NULL;
    int rc = 0;
    if (r->conn == NULL) {
        tia_store *c = calloc(1, sizeof *c);
        if (c == NULL)
            return tia_error_set(err, TIA_ENOMEM, "out of memory");
        c->backend = TIA_BACKEND_POSTGRES;
        if ((rc = tia__pg_open(c, r->url, &r->opts, 1, err)) != 0) {
            free(c);
            return rc;
        }
        r->conn = c;
    }
    if ((rc = tia__db_query(r->conn, &sql_lag, NULL, 0, &rows, err)) != 0)
        goto done;
    if ((rc = tia__rows_next(rows, err)) <= 0) {
        if (rc == 0)
            rc = tia_error_set(err, TIA_EDB, "replica.lag returned no row");
        goto done;
    }
    *lag_ms = tia__col_int(rows, 0);
    rc = 0;
done:
    tia__rows_free(rows);
    return rc;
}

/* 1 when routed reads may go to the replica now; checks it first when a check is due. */
static int usable(struct tia__replica *r)
{
    int64_t now = mono_ms();
    if (now < r->next_check_ms)
        return r->state == TIA_REPLICA_UP;
    tia_error e = {0};
    int64_t lag = -1;
    if (probe(r, &lag, &e) != 0) {
        r->next_check_ms = now + r->opts.replica_retry_ms;
        set_state(r, TIA_REPLICA_DOWN, e.message);
        return 0;
    }
    atomic_store(&r->lag_ms, lag);
    r->next_check_ms = r->lag_every_ms == INT64_MAX ? INT64_MAX : now + r->lag_every_ms;
    if (r->opts.max_replica_lag_ms >= 0 && lag > r->opts.max_replica_lag_ms) {
        /*
         * Once is not enough: the first commit after an idle hour reads as an
         * hour behind while it replays, for a few milliseconds. Seen again a
         * moment later, the lag is real.
         */
        if (!r->suspect && r->state != TIA_REPLICA_LAGGING) {
            r->suspect = 1;
            r->next_check_ms = now + LAG_CHECK_MIN_MS;
            return r->state == TIA_REPLICA_UP;
        }
        r->suspect = 0;
        set_state(r, TIA_REPLICA_LAGGING, NULL);
        return 0;
    }
    r->suspect = 0;
    set_state(r, TIA_REPLICA_UP, NULL);
    return 1;
}

int tia__db_read(tia_store *s, const tia__sql *q, const tia__param *params, int n, tia__rows **out,
                 tia_error *err)
{
    struct tia__replica *r = s->replica;
    *out = NULL;
    /* Straight to the backend: a routed read never pins the handle. */
    if (r == NULL)
        return s->ops->query(s, q, params, n, out, err);
    if (s->in_txn || s->pinned || !usable(r)) {
        atomic_fetch_add(&r->reads_primary, 1);
        return s->ops->query(s, q, params, n, out, err);
    }
    tia_error rerr = {0};
    int rc = r->conn->ops->query(r->conn, q, params, n, out, &rerr);
    if (rc == 0) {
        atomic_fetch_add(&r->reads_replica, 1);
        return 0;
    }
    /* Bad input or no memory: the primary would say the same. */
    if (rc == TIA_EINVAL || rc == TIA_ENOMEM) {
        if (err != NULL)
            *err = rerr;
        return rc;
    }
    /*
     * A query cancelled by a recovery conflict or a timeout is the replica being
     * busy, not gone: only this read moves. Anything else (lost connection, a
     * schema that has not arrived yet) marks it down until the next retry.
     */
    if (rc != TIA_ECONFLICT && rc != TIA_EBUSY) {
        r->next_check_ms = mono_ms() + r->opts.replica_retry_ms;
        set_state(r, TIA_REPLICA_DOWN, rerr.message);
    }
    atomic_fetch_add(&r->fallbacks, 1);
    atomic_fetch_add(&r->reads_primary, 1);
    return s->ops->query(s, q, params, n, out, err);
}

int tia__replica_check(tia_backend primary, const tia_store_options *o, tia_error *err)
{
    if (primary != TIA_BACKEND_POSTGRES)
        return tia_error_set(err, TIA_EINVAL,
                             "a read replica URL is set (--read-url or DATABASE_READ_URL), but "
                             "read replicas need PostgreSQL and this database is SQLite");
    if (!tia__url_is_postgres(o->read_url))
        return tia_error_set(err, TIA_EINVAL,
                             "the read replica URL is not a PostgreSQL URL (postgres://... or "
                             "'host=... dbname=...')");
    tia_error perr = {0};
    if (!tia__pg_conninfo_ok(o->read_url, &perr))
        return tia_error_set(err, TIA_EINVAL, "the read replica URL does not parse: %s",
                             perr.message);
    return 0;
}

int tia__replica_open(tia_store *s, const tia_store_options *o, tia_error *err)
{
    struct tia__replica *r = calloc(1, sizeof *r);
    if (r == NULL || (r->url = strdup(o->read_url)) == NULL) {
        free(r);
        return tia_error_set(err, TIA_ENOMEM, "out of memory");
    }
    r->opts = *o;
    r->opts.read_url = r->url;
    if (r->opts.max_replica_lag_ms == 0)
        r->opts.max_replica_lag_ms = DEFAULT_MAX_LAG_MS;
    if (r->opts.replica_retry_ms <= 0)
        r->opts.replica_retry_ms = DEFAULT_RETRY_MS;
    if (r->opts.connect_timeout_s > CONNECT_TIMEOUT_MAX_S)
        r->opts.connect_timeout_s = CONNECT_TIMEOUT_MAX_S;
    int64_t every = r->opts.max_replica_lag_ms / 2;
    r->lag_every_ms = r->opts.max_replica_lag_ms < 0 ? INT64_MAX
                      : every < LAG_CHECK_MIN_MS     ? LAG_CHECK_MIN_MS
                      : every > LAG_CHECK_MAX_MS     ? LAG_CHECK_MAX_MS
                                                     : every;
    atomic_init(&r->lag_ms, -1);
    s->replica = r;
    /* Now, so that a replica down at the start is said at the start. */
    (void)usable(r);
    return 0;
}

void tia__replica_close(tia_store *s)
{
    struct tia__replica *r = s->replica;
    if (r == NULL)
        return;
    tia_store_close(r->conn);
    free(r->url);
    free(r);
    s->replica = NULL;
}

void tia_store_replica_status(const tia_store *s, tia_replica_status *out)
{
    const struct tia__replica *r = s->replica;
    memset(out, 0, sizeof *out);
    out->lag_ms = -1;
    if (r == NULL)
        return;
    out->state = (tia_replica_state)atomic_load(&r->pub_state);
    out->lag_ms = atomic_load(&r->lag_ms);
    out->reads_replica = atomic_load(&r->reads_replica);
    out->reads_primary = atomic_load(&r->reads_primary);
    out->fallbacks = atomic_load(&r->fallbacks);
}
