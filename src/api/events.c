/*
 * GET /api/v1/events: task and workflow changes as Server-Sent Events, and the
 * hub that feeds the streams.
 *
 * Sources. PostgreSQL: the hub LISTENs on tokyoia_events (migration 0008) on a
 * connection of its own, so it hears every writer of the database, whatever
 * process. SQLite has no NOTIFY: at start the hub attaches every connection of
 * the server's pool (store/events.h), whose commits then hand it their
 * changes; writes by other processes on the same file are not seen. Either
 * way a change arrives as a JSON array of {kind, id, workflow_id, agent_id,
 * status}, or as "changes were lost" (a re-established LISTEN connection, a
 * bulk load), which becomes an "event: reset" telling clients to re-fetch.
 *
 * The hub numbers events from one counter per server, starting at the start
 * time in microseconds, so that an id from an earlier run of the server is
 * older than anything this one has and gets a reset rather than wrong events.
 * It keeps the last RING events for Last-Event-ID resume.
 *
 * Streams never block or poll an MHD thread: a stream's content reader copies
 * what is waiting and, when nothing is, suspends its connection
 * (MHD_suspend_connection, allowed from a content reader); the hub resumes it
 * when a matching event arrives, when its heartbeat is due (a comment every
 * 15 s, which also finds clients that went away), and at stop. Whether a
 * stream is suspended is decided under the hub's lock by the reader itself, so
 * a resume is never lost nor given to a running connection. The hub's thread
 * waits in poll() on the LISTEN socket and a self-pipe, with the next
 * heartbeat as its timeout.
 *
 * Lifetime: the hub is freed when the last of its holders lets go: the server
 * (tia__hub_stop), each open stream (its response's free callback) and, on
 * SQLite, each pool connection (which may still commit after the stop).
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tokyoia/sessions.h>

#include "api/api.h"
#include "core/uuid.h"
#include "core/validate.h"
#include "store/events.h"
#include "store/listen.h"

#define RING 10000                       /* events kept for resume */
#define HEARTBEAT_US (INT64_C(15000000)) /* a comment when nothing was sent this long */
#define SESSION_CHECK_US (INT64_C(5000000)) /* each stream's session is checked this often */
#define RELISTEN_MS 1000                 /* retry of a lost LISTEN connection */
#define RETRY_MS 2000                    /* the client's reconnection delay ("retry:") */
#define FILL_MAX 8192                    /* a stream's buffer is refilled up to this */
#define AGENT_BUF (TIA_AGENT_ID_MAX * 4 + 1)
#define STATUS_MAX 20
#define WATCH_TTL_S 60                    /* event_watchers row lifetime (PostgreSQL) */
#define WATCH_REFRESH_US (INT64_C(30000000)) /* refreshed when less than this is left */

typedef enum ev_kind { EV_TASK, EV_WORKFLOW, EV_RESET } ev_kind;

static const char *const kind_names[] = {"task", "workflow", "reset"};
static const char reset_data[] = "{\"kind\":\"reset\"}";

typedef struct ev {
    uint64_t id;
    ev_kind kind;
    char workflow_id[TIA_UUID_BUF]; /* "" when none */
    char agent_id[AGENT_BUF];       /* "" when none */
    char *data;                     /* the data line's JSON (NULL for a reset) */
} ev;

typedef struct stream stream;
struct stream {
    tia__hub *hub;
    struct MHD_Connection *conn;
    uint64_t last_id;               /* every event up to this one was sent or skipped */
    char workflow_id[TIA_UUID_BUF]; /* filters; "" when absent */
    char agent_id[AGENT_BUF];
    int reset;     /* send "event: reset" next */
    int suspended; /* the reader suspended the connection; only the hub resumes it */
    int heartbeat; /* a heartbeat is due */
    int ended;     /* its session is no longer active: the stream ends */
    char session_id[TIA_UUID_BUF]; /* the token's session; "" without one */
    int64_t last_write_us;
    char *out; /* bytes waiting for the client */
    size_t out_len, out_pos, out_cap;
    stream *prev, *next;
};

struct tia__hub {
    tia__api *api;
    pthread_mutex_t lock;
    int refs;
    int stopped;
    uint64_t last_id; /* the newest event's id (the base while there is none) */
    size_t n;         /* events in the ring */
    ev ring[RING];    /* event id lives at ring[id % RING] */
    stream *streams;
    pthread_t thread;
    int thread_started;
    int pipe[2];
    atomic_int quit;
    tia__listener *listener; /* PostgreSQL */
    int64_t next_session_check_us; /* monotonic */
    int listen_failed;       /* the last reconnection failed (logged once) */
    char watcher_id[TIA_UUID_BUF]; /* this server's row in event_watchers (PostgreSQL) */
    int64_t watch_until_us;        /* monotonic; 0: not watching */
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------------------- */
/* Hub life cycle                                                            */
/* ------------------------------------------------------------------------- */

static void hub_free(tia__hub *h)
{
    for (size_t i = 0; i < RING; i++)
        free(h->ring[i].data);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* Drops one reference taken under the lock; the last one frees the hub. */
static void hub_unref(tia__hub *h)
{
    pthread_mutex_lock(&h->lock);
    int last = --h->refs == 0;
    pthread_mutex_unlock(&h->lock);
    if (last)
        hub_free(h);
}

/* The release callback of a SQLite pool connection (store/events.h). */
static void hub_release(void *ctx)
{
    hub_unref(ctx);
}

/* ------------------------------------------------------------------------- */
/* Publishing                                                                */
/* ------------------------------------------------------------------------- */

/* A change parsed and encoded outside the lock, waiting for its id. */
typedef struct incoming {
    ev_kind kind;
    char workflow_id[TIA_UUID_BUF];
    char agent_id[AGENT_BUF];
    char *data;
} incoming;

/* An optional string member of at most max bytes: 0 ok (NULL when absent or null), -1 bad. */
static int member(json_t *o, const char *key, size_t max, const char **out)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v))
        return -1;
    *out = json_string_value(v);
    return 0;
}

/* Reads one element of a payload; -1 when it is not a change we know (skipped). */
static int parse_change(json_t *o, incoming *in)
{
    const char *kind, *id, *wf, *agent, *status;
    memset(in, 0, sizeof *in);
    if (!json_is_object(o) || member(o, "kind", 16, &kind) != 0 || kind == NULL)
        return -1;
    if (strcmp(kind, "reset") == 0) {
        in->kind = EV_RESET;
        return 0;
    }
    if (strcmp(kind, "task") == 0)
        in->kind = EV_TASK;
    else if (strcmp(kind, "workflow") == 0)
        in->kind = EV_WORKFLOW;
    else
        return -1;
    if (member(o, "id", TIA_UUID_BUF - 1, &id) != 0 || id == NULL || !tia__uuid_valid(id) ||
        member(o, "workflow_id", TIA_UUID_BUF - 1, &wf) != 0 ||
        (wf != NULL && !tia__uuid_valid(wf)) || member(o, "agent_id", AGENT_BUF - 1, &agent) != 0 ||
        member(o, "status", STATUS_MAX, &status) != 0 || status == NULL)
        return -1;
    char idl[TIA_UUID_BUF];
    tia__uuid_lower(id, idl);
    if (wf != NULL)
        tia__uuid_lower(wf, in->workflow_id);
    if (agent != NULL)
        snprintf(in->agent_id, sizeof in->agent_id, "%s", agent);
    json_t *d = json_pack("{s:s,s:s,s:s?,s:s?,s:s}", "kind", kind, "id", idl, "workflow_id",
                          wf ? in->workflow_id : NULL, "agent_id", agent, "status", status);
    in->data = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    return in->data ? 0 : -1;
}

static int matches(const stream *s, const ev *e)
{
    if (e->kind == EV_RESET)
        return 1;
    if (s->workflow_id[0] && strcmp(s->workflow_id, e->workflow_id) != 0)
        return 0;
    if (s->agent_id[0] && strcmp(s->agent_id, e->agent_id) != 0)
        return 0;
    return 1;
}

/* Under the lock: resumes a suspended stream. */
static void wake(stream *s)
{
    if (!s->suspended)
        return;
    s->suspended = 0;
    MHD_resume_connection(s->conn);
}

/* Under the lock: gives the changes their ids, keeps them and wakes whoever they concern. */
static void append(tia__hub *h, incoming *in, size_t n)
{
    uint64_t first = h->last_id + 1;
    for (size_t i = 0; i < n; i++) {
        ev *e = &h->ring[++h->last_id % RING];
        free(e->data);
        e->id = h->last_id;
        e->kind = in[i].kind;
        memcpy(e->workflow_id, in[i].workflow_id, sizeof e->workflow_id);
        memcpy(e->agent_id, in[i].agent_id, sizeof e->agent_id);
        e->data = in[i].data;
        in[i].data = NULL;
        if (h->n < RING)
            h->n++;
    }
    for (stream *s = h->streams; s; s = s->next) {
        if (!s->suspended)
            continue;
        if (n >= RING) { /* the batch pushed out what the stream had not read */
            wake(s);
            continue;
        }
        for (uint64_t id = first; id <= h->last_id; id++)
            if (matches(s, &h->ring[id % RING])) {
                wake(s);
                break;
            }
    }
}

/*
 * Receives one payload (both sources): a JSON array of changes, or NULL when
 * changes were lost. Called by the hub's thread (PostgreSQL) or by whichever
 * request thread commits (SQLite).
 */
static void hub_publish(void *ctx, const char *payload)
{
    tia__hub *h = ctx;
    json_t *arr = payload ? json_loads(payload, 0, NULL) : NULL;
    incoming reset = {EV_RESET, "", "", NULL}, *in = NULL;
    size_t n = 0, k = 0;
    /* Anything but a listable array means changes were lost: clients re-fetch. */
    int lost = !json_is_array(arr) || json_array_size(arr) > TIA__EVENTS_TXN_MAX;
    if (!lost && (n = json_array_size(arr)) > 0 && (in = calloc(n, sizeof *in)) == NULL)
        lost = 1;
    for (size_t i = 0; in != NULL && i < n; i++)
        if (parse_change(json_array_get(arr, i), &in[k]) == 0)
            k++;
    if (!lost && n > k)
        fprintf(stderr, "tokyoia serve: events: %zu malformed change(s) skipped\n", n - k);
    if (lost) {
        free(in);
        in = &reset;
        k = 1;
    }
    if (k > 0) {
        pthread_mutex_lock(&h->lock);
        if (!h->stopped)
            append(h, in, k);
        pthread_mutex_unlock(&h->lock);
    }
    for (size_t i = 0; i < k; i++)
        free(in[i].data);
    if (in != &reset)
        free(in);
    json_decref(arr);
}

/* ------------------------------------------------------------------------- */
/* The hub's thread: LISTEN and heartbeats                                   */
/* ------------------------------------------------------------------------- */

/* Marks the streams whose heartbeat is due; *next_us gets the next due time. */
static void heartbeats(tia__hub *h, int64_t now, int64_t *next_us)
{
    pthread_mutex_lock(&h->lock);
    for (stream *s = h->streams; s; s = s->next) {
        int64_t due = s->last_write_us + HEARTBEAT_US;
        if (now >= due) {
            s->heartbeat = 1;
            s->last_write_us = now; /* due again 15 s from now unless written sooner */
            wake(s);
            due = now + HEARTBEAT_US;
        }
        if (due < *next_us)
            *next_us = due;
    }
    pthread_mutex_unlock(&h->lock);
}

static void listen_once(tia__hub *h)
{
    tia_error err = {0};
    int rc = tia__listen_drain(h->listener, hub_publish, h, &err);
    if (rc < 0 && !h->listen_failed)
        fprintf(stderr, "tokyoia serve: events: %s (retrying every %d ms)\n", err.message,
                RELISTEN_MS);
    else if (rc >= 0 && h->listen_failed)
        fprintf(stderr, "tokyoia serve: events: LISTEN connection re-established\n");
    h->listen_failed = rc < 0;
}

static int watch(tia__hub *h, tia_store *s, tia_error *err);
static int watch_due(tia__hub *h, int need_streams);

/* Whether session id is still good for a stream: active and not past its expiry. */
static int session_live(tia_store *st, const char *id)
{
    tia_session *ses = NULL;
    tia_error err = {0};
    int rc = tia_session_get(st, id, &ses, &err);
    if (rc != 0) /* deleted (purged): gone; a database error: asked again next time */
        return rc != TIA_ENOTFOUND;
    int live = ses->status == TIA_SESSION_ACTIVE &&
               (ses->expires_at == TIA_TIME_NONE || ses->expires_at > tia_now_us());
    tia_session_free(ses);
    return live;
}

/*
 * Ends the streams whose session is no longer active (revoked, expired or
 * deleted). The token was checked when the stream opened; without this a
 * stream outlived its revocation, which must refuse the very next request, and
 * kept receiving events. One query per distinct session, on a pooled
 * connection, outside the hub's lock; every SESSION_CHECK_US.
 */
static void check_sessions(tia__hub *h)
{
    char(*ids)[TIA_UUID_BUF] = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&h->lock);
    for (stream *s = h->streams; s; s = s->next) {
        size_t k = 0;
        if (s->session_id[0] == '\0' || s->ended)
            continue;
        while (k < n && strcmp(ids[k], s->session_id) != 0)
            k++;
        if (k < n)
            continue;
        if (n == cap) {
            size_t c = cap ? cap * 2 : 16;
            char(*grown)[TIA_UUID_BUF] = realloc(ids, c * sizeof *ids);
            if (grown == NULL)
                break; /* the rest next time */
            ids = grown;
            cap = c;
        }
        memcpy(ids[n++], s->session_id, TIA_UUID_BUF);
    }
    pthread_mutex_unlock(&h->lock);
    tia_store *st = n > 0 ? tia__pool_acquire(h->api->pool, 1000) : NULL;
    if (st == NULL)
        goto done;
    size_t gone = 0;
    for (size_t i = 0; i < n; i++)
        if (!session_live(st, ids[i]))
            memcpy(ids[gone++], ids[i], TIA_UUID_BUF);
    tia__pool_release(h->api->pool, st);
    pthread_mutex_lock(&h->lock);
    for (stream *s = h->streams; s && gone > 0; s = s->next)
        for (size_t k = 0; k < gone && !s->ended; k++)
            if (strcmp(ids[k], s->session_id) == 0) {
                s->ended = 1;
                wake(s);
            }
    pthread_mutex_unlock(&h->lock);
done:
    free(ids);
}

static void *hub_main(void *arg)
{
    tia__hub *h = arg;
    while (!atomic_load(&h->quit)) {
        int64_t now = mono_us(), next = now + HEARTBEAT_US;
        heartbeats(h, now, &next);
        if (now >= h->next_session_check_us) {
            check_sessions(h);
            h->next_session_check_us = now + SESSION_CHECK_US;
        }
        if (h->next_session_check_us < next)
            next = h->next_session_check_us;
        int lfd = h->listener ? tia__listen_fd(h->listener) : -1;
        int timeout = (int)((next - now + 999) / 1000);
        if (h->listener && lfd < 0 && timeout > RELISTEN_MS)
            timeout = RELISTEN_MS;
        struct pollfd fds[2] = {{h->pipe[0], POLLIN, 0}, {lfd, POLLIN, 0}};
        int r = poll(fds, 2, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (fds[0].revents) {
            char buf[64];
            while (read(h->pipe[0], buf, sizeof buf) > 0) {
            }
        }
        if (atomic_load(&h->quit))
            break;
        if (h->listener && watch_due(h, 1)) {
            tia_store *s = tia__pool_acquire(h->api->pool, 1000);
            tia_error err = {0};
            if (s && watch(h, s, &err) != 0)
                fprintf(stderr, "tokyoia serve: events: cannot renew the watch: %s\n", err.message);
            tia__pool_release(h->api->pool, s);
        }
        /* A lost connection is retried here at RELISTEN_MS (lfd < 0), or found by the drain. */
        if (h->listener && (lfd < 0 || (r > 0 && fds[1].revents)))
            listen_once(h);
    }
    return NULL;
}

/* ------------------------------------------------------------------------- */
/* Start and stop                                                            */
/* ------------------------------------------------------------------------- */

/* SQLite: attaches every pool connection (all idle: the server does not listen yet). */
static int attach_pool(tia__hub *h, tia_error *err)
{
    tia__pool *pool = h->api->pool;
    int size = tia__pool_size(pool), got = 0, rc = 0;
    tia_store **held = calloc((size_t)size, sizeof *held);
    if (held == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory starting the event hub");
    for (; got < size; got++)
        if ((held[got] = tia__pool_acquire(pool, h->api->cfg.db_wait_ms)) == NULL) {
            rc = tia_error_set(err, TIA_EUNAVAIL, "event hub: a pool connection stayed busy");
            goto done;
        }
    for (int i = 0; i < size; i++) {
        pthread_mutex_lock(&h->lock);
        h->refs++;
        pthread_mutex_unlock(&h->lock);
        if ((rc = tia__store_events_attach(held[i], hub_publish, hub_release, h, err)) != 0) {
            hub_unref(h);
            goto done;
        }
    }
done:
    for (int i = 0; i < got; i++)
        tia__pool_release(pool, held[i]);
    free(held);
    return rc;
}

static int open_listener(tia__hub *h, tia_error *err)
{
    tia_store *s = tia__pool_acquire(h->api->pool, h->api->cfg.db_wait_ms);
    if (s == NULL)
        return tia_error_set(err, TIA_EUNAVAIL, "event hub: no database connection free");
    int rc = tia__listen_open(s, TIA__EVENTS_CHANNEL, &h->listener, err);
    tia__pool_release(h->api->pool, s);
    return rc;
}

int tia__hub_start(tia__api *api, tia__hub **out, tia_error *err)
{
    int rc = 0;
    *out = NULL;
    tia__hub *h = calloc(1, sizeof *h);
    if (h == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory starting the event hub");
    pthread_mutex_init(&h->lock, NULL);
    h->api = api;
    h->refs = 1;
    h->last_id = (uint64_t)tia_now_us();
    tia__uuid_gen g = {0};
    tia__uuid7(&g, h->watcher_id);
    h->pipe[0] = h->pipe[1] = -1;
    if (pipe2(h->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        rc = tia_error_set(err, TIA_EIO, "event hub: pipe: %s", strerror(errno));
        goto done;
    }
    if (tia__pool_backend(api->pool) == TIA_BACKEND_POSTGRES)
        rc = open_listener(h, err);
    else
        rc = attach_pool(h, err);
    if (rc != 0)
        goto done;
    if (pthread_create(&h->thread, NULL, hub_main, h) != 0) {
        rc = tia_error_set(err, TIA_EIO, "event hub: cannot start its thread");
        goto done;
    }
    h->thread_started = 1;
    *out = h;
    h = NULL;
done:
    tia__hub_stop(h, mono_us());
    return rc;
}

void tia__hub_stop(tia__hub *h, int64_t deadline_us)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopped = 1;
    for (stream *s = h->streams; s; s = s->next)
        wake(s); /* its reader sends what it holds, then ends the response */
    pthread_mutex_unlock(&h->lock);
    if (h->thread_started) {
        atomic_store(&h->quit, 1);
        ssize_t w = write(h->pipe[1], "q", 1);
        (void)w; /* a full pipe already wakes the thread */
        pthread_join(h->thread, NULL);
    }
    if (h->listener && h->watch_until_us > 0) {
        /* Withdraw at once, rather than have writers notify for another minute. */
        tia_store *s = tia__pool_acquire(h->api->pool, 1000);
        tia_error err = {0};
        if (s)
            tia__events_unwatch(s, h->watcher_id, &err);
        tia__pool_release(h->api->pool, s);
    }
    tia__listen_close(h->listener);
    h->listener = NULL;
    if (h->pipe[0] >= 0)
        close(h->pipe[0]);
    if (h->pipe[1] >= 0)
        close(h->pipe[1]);
    /*
     * The server drops its pointer to the hub when this returns, but a request
     * that passed its shutdown check may be about to read it: wait (within the
     * server's grace period, whose deadline the server passes so that the two
     * waits share it) until no request is in flight, streams included.
     */
    while (atomic_load(&h->api->in_flight) > 0 && mono_us() < deadline_us) {
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    hub_unref(h);
}

/* ------------------------------------------------------------------------- */
/* Streams                                                                   */
/* ------------------------------------------------------------------------- */

static int out_add(stream *s, const char *text, size_t len)
{
    if (s->out_len + len > s->out_cap) {
        size_t cap = s->out_cap ? s->out_cap : 1024;
        while (cap < s->out_len + len)
            cap *= 2;
        char *p = realloc(s->out, cap);
        if (p == NULL)
            return -1;
        s->out = p;
        s->out_cap = cap;
    }
    memcpy(s->out + s->out_len, text, len);
    s->out_len += len;
    return 0;
}

static int out_frame(stream *s, uint64_t id, ev_kind kind, const char *data)
{
    char head[96];
    int n = snprintf(head, sizeof head, "id: %llu\nevent: %s\ndata: ", (unsigned long long)id,
                     kind_names[kind]);
    if (out_add(s, head, (size_t)n) != 0 || out_add(s, data, strlen(data)) != 0)
        return -1;
    return out_add(s, "\n\n", 2);
}

/*
 * Under the lock, with the buffer empty: what the stream is owed next (a
 * reset, matching events, a heartbeat), up to FILL_MAX bytes. -1 out of memory.
 */
static int fill(stream *s)
{
    tia__hub *h = s->hub;
    s->out_len = s->out_pos = 0;
    uint64_t oldest = h->last_id - h->n + 1;
    if (s->last_id + 1 < oldest) /* the ring moved past what it had not read */
        s->reset = 1;
    if (s->reset) {
        if (out_frame(s, h->last_id, EV_RESET, reset_data) != 0)
            return -1;
        s->last_id = h->last_id;
        s->reset = 0;
    }
    while (s->last_id < h->last_id && s->out_len < FILL_MAX) {
        const ev *e = &h->ring[(s->last_id + 1) % RING];
        if (matches(s, e) &&
            out_frame(s, e->id, e->kind, e->kind == EV_RESET ? reset_data : e->data) != 0)
            return -1;
        s->last_id++;
    }
    if (s->out_len == 0 && s->heartbeat && out_add(s, ": keep-alive\n\n", 14) != 0)
        return -1;
    s->heartbeat = 0;
    return 0;
}

/* MHD's content reader: copies what is waiting, or suspends the connection until there is some. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream *s = cls;
    tia__hub *h = s->hub;
    ssize_t n;
    pthread_mutex_lock(&h->lock);
    if (s->out_pos == s->out_len) {
        if (h->stopped || s->ended) {
            n = MHD_CONTENT_READER_END_OF_STREAM;
            goto done;
        }
        if (fill(s) != 0) {
            n = MHD_CONTENT_READER_END_WITH_ERROR;
            goto done;
        }
        if (s->out_len == 0) {
            s->suspended = 1;
            MHD_suspend_connection(s->conn);
            n = 0;
            goto done;
        }
    }
    size_t k = s->out_len - s->out_pos;
    if (k > max)
        k = max;
    memcpy(buf, s->out + s->out_pos, k);
    s->out_pos += k;
    s->last_write_us = mono_us();
    n = (ssize_t)k;
done:
    pthread_mutex_unlock(&h->lock);
    return n;
}

/* MHD's free callback of the response: the stream is over. */
static void stream_free(void *cls)
{
    stream *s = cls;
    tia__hub *h = s->hub;
    pthread_mutex_lock(&h->lock);
    if (s->prev)
        s->prev->next = s->next;
    else
        h->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    pthread_mutex_unlock(&h->lock);
    free(s->out);
    free(s);
    hub_unref(h);
}

/* Last-Event-ID (header, or ?last_event_id=): 0 absent, 1 given, -1 malformed. */
static int last_event_id(tia__call *c, uint64_t *out)
{
    const char *v = tia__value(c, MHD_HEADER_KIND, "Last-Event-ID");
    if (v == NULL || *v == '\0')
        v = tia__query(c, "last_event_id");
    if (v == NULL || *v == '\0')
        return 0;
    size_t len = strlen(v);
    if (len > 20 || strspn(v, "0123456789") != len)
        return -1;
    errno = 0;
    char *end;
    unsigned long long id = strtoull(v, &end, 10);
    if (errno != 0)
        return -1;
    *out = id;
    return 1;
}

/* Reads the query (filters and resume point) into s; -1 after answering 400. */
static int stream_params(tia__call *c, stream *s, int *has_resume, uint64_t *resume_id)
{
    const char *wf = tia__query(c, "workflow_id"), *agent = tia__query(c, "agent_id");
    tia_error err = {0};
    if (wf != NULL && !tia__uuid_valid(wf)) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "workflow_id must be a UUID");
        return -1;
    }
    if (agent != NULL && tia__check_text(&err, "agent_id", agent, TIA_AGENT_ID_MAX, 1) != 0) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", err.message);
        return -1;
    }
    if ((*has_resume = last_event_id(c, resume_id)) < 0) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request",
                  "Last-Event-ID must be an event id (a decimal number)");
        return -1;
    }
    if (wf != NULL)
        tia__uuid_lower(wf, s->workflow_id);
    if (agent != NULL)
        snprintf(s->agent_id, sizeof s->agent_id, "%s", agent);
    return 0;
}

/*
 * PostgreSQL: the triggers send events only while some server is registered as
 * watching (migration 0010), so a stream's server registers before the stream
 * starts, and the hub thread refreshes the row while streams are open. After a
 * lapse the events of the gap were never sent: the ring is emptied, so that a
 * client resuming from before it gets a reset rather than a silent hole.
 */
static int watch(tia__hub *h, tia_store *s, tia_error *err)
{
    if (s == NULL || tia_store_backend(s) != TIA_BACKEND_POSTGRES)
        return 0;
    int rc = tia__events_watch(s, h->watcher_id, WATCH_TTL_S, err);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&h->lock);
    int64_t now = mono_us();
    if (h->watch_until_us <= now)
        h->n = 0; /* lapsed (or never watched): what came before may have gaps */
    h->watch_until_us = now + (int64_t)WATCH_TTL_S * 1000000 - 5000000; /* a margin */
    pthread_mutex_unlock(&h->lock);
    return 0;
}

/* 1 when the registration must be renewed now (never when no stream is open). */
static int watch_due(tia__hub *h, int need_streams)
{
    pthread_mutex_lock(&h->lock);
    int due = (!need_streams || h->streams != NULL) &&
              h->watch_until_us - mono_us() < WATCH_REFRESH_US;
    pthread_mutex_unlock(&h->lock);
    return due;
}

/* Registers s with the hub, from now or from the resume point; -1 when the hub has stopped. */
static int hub_add(tia__hub *h, stream *s, int has_resume, uint64_t resume_id)
{
    pthread_mutex_lock(&h->lock);
    int stopped = h->stopped;
    if (!stopped) {
        s->hub = h;
        s->last_id = h->last_id;
        if (has_resume) {
            /* Resumable when nothing after it has left the ring and it is not from the future. */
            uint64_t oldest = h->last_id - h->n + 1;
            if (resume_id + 1 >= oldest && resume_id <= h->last_id)
                s->last_id = resume_id;
            else
                s->reset = 1;
        }
        s->next = h->streams;
        if (h->streams)
            h->streams->prev = s;
        h->streams = s;
        h->refs++;
    }
    pthread_mutex_unlock(&h->lock);
    return stopped ? -1 : 0;
}

/* GET /api/v1/events[?workflow_id=&agent_id=&last_event_id=] */
static void events_get(tia__call *c)
{
    tia__hub *h = c->api->hub;
    uint64_t resume_id = 0;
    int has_resume = 0;
    tia_error err = {0};
    char hello[64];
    int hn = snprintf(hello, sizeof hello, ": tokyoia events\nretry: %d\n\n", RETRY_MS);
    stream *s = calloc(1, sizeof *s);
    if (s == NULL || out_add(s, hello, (size_t)hn) != 0) {
        tia__fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory opening a stream");
        goto done;
    }
    s->conn = c->conn;
    s->last_write_us = mono_us();
    if (c->session != NULL)
        memcpy(s->session_id, c->session->id, TIA_UUID_BUF);
    if (stream_params(c, s, &has_resume, &resume_id) != 0)
        goto done;
    if (h != NULL && watch_due(h, 0)) {
        tia_store *st = tia__store(c);
        if (st == NULL)
            goto done;
        if (watch(h, st, &err) != 0) {
            tia__fail_rc(c, TIA_EUNAVAIL, &err);
            goto done;
        }
    }
    if (atomic_load(&c->api->stopping) || h == NULL || hub_add(h, s, has_resume, resume_id) != 0) {
        snprintf(c->retry_after, sizeof c->retry_after, "1");
        tia__fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "the server is shutting down");
        goto done;
    }
    /* Registered: from here stream_free (the response's free callback) owns it. */
    stream *owned = s;
    s = NULL;
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, owned, stream_free);
    if (r == NULL) {
        stream_free(owned);
        tia__fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory opening a stream");
        goto done;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Accel-Buffering", "no"); /* proxies must not hold events back */
    tia__reply(c, MHD_HTTP_OK, NULL);
    c->response = r;
done:
    if (s != NULL) {
        free(s->out);
        free(s);
    }
}

static const tia__route routes[] = {
    {"GET", "/api/v1/events", events_get, TIA__R_STREAM,
     "Task and workflow changes as Server-Sent Events (filters: workflow_id, agent_id; "
     "Last-Event-ID resume)"},
};

const tia__route_table tia__routes_events = {routes, sizeof routes / sizeof routes[0]};
