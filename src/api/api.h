/*
 * What the Registry API's modules share: one request being answered (tia__call),
 * the route tables that resource files export, the response and error helpers,
 * and the interfaces of the server's parts (store pool, auth and rate limits,
 * Prometheus counters, the event hub). server.c drives a request through them:
 * route -> auth -> rate limit -> body -> handler -> response -> access log.
 *
 * A handler runs on one of the server's threads, answers by calling tia__reply
 * (or one of the tia__fail helpers) exactly once, and returns nothing: whatever
 * it did not answer becomes a 500. It borrows a store with tia__store(c), which
 * the server gives back after the response.
 */
#ifndef TIA_API_H
#define TIA_API_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <microhttpd.h>

#include <tokyoia/agents.h>
#include <tokyoia/engine.h>
#include <tokyoia/error.h>
#include <tokyoia/server.h>
#include <tokyoia/sessions.h>
#include <tokyoia/store.h>

#include "json/encode.h"
#include "store/db.h"

typedef struct tia__api tia__api;
typedef struct tia__call tia__call;

typedef void (*tia__handler)(tia__call *c);

/* Route flags. */
enum {
    TIA__R_OPEN = 1 << 0,   /* never needs a token (/health, /ready, /metrics) */
    TIA__R_COMPAT = 1 << 1, /* original Registry API: errors as {"error": "..."} */
    TIA__R_JSON = 1 << 2,   /* takes a JSON body (parsed into c->body) */
    TIA__R_STREAM = 1 << 3, /* answers with a stream (SSE): not timed, not counted in flight */
    TIA__R_SHARED = 1 << 4  /* a read whose answer depends on its target and token only:
                               identical ones waiting together share one (share.c) */
};

/*
 * One route: method and pattern ("/api/v1/agents/{id}/stats": a {name}
 * segment matches one non-empty path segment, available as c->param[i] in
 * order). summary is used by the route listing and tests.
 */
typedef struct tia__route {
    const char *method;
    const char *pattern;
    tia__handler fn;
    unsigned flags;
    const char *summary;
} tia__route;

typedef struct tia__route_table {
    const tia__route *items;
    size_t n;
} tia__route_table;

/* The resource files' tables (each file defines one). */
extern const tia__route_table tia__routes_ops;          /* ops.c: health, ready, metrics, openapi */
extern const tia__route_table tia__routes_compat;       /* compat.c: the original /api paths */
extern const tia__route_table tia__routes_agents;       /* agents.c */
extern const tia__route_table tia__routes_workflows;    /* workflows.c */
extern const tia__route_table tia__routes_tasks;        /* tasks.c */
extern const tia__route_table tia__routes_metrics;      /* metrics.c */
extern const tia__route_table tia__routes_interactions; /* interactions.c */
extern const tia__route_table tia__routes_sessions;     /* sessions.c */
extern const tia__route_table tia__routes_prices;       /* prices.c */
extern const tia__route_table tia__routes_events;       /* events.c */
extern const tia__route_table tia__routes_openapi;      /* openapi.c */
extern const tia__route_table tia__routes_web;          /* web.c: the dashboard */

/* ---- router.c ---- */

#define TIA__PARAMS_MAX 4
#define TIA__ROUTES_MAX 128

/* Every route, in one array (index = route id for metrics). */
const tia__route *tia__routes(size_t *n);

typedef enum tia__match {
    TIA__MATCH_OK = 0,
    TIA__MATCH_NONE,     /* 404 */
    TIA__MATCH_METHOD,   /* 405: the path exists with other methods (in allow) */
    TIA__MATCH_BAD_PATH  /* 400: empty, "." or ".." segments, or too long */
} tia__match;

/*
 * Finds the route of method + path. On TIA__MATCH_OK, *route_id is its index
 * and params[0..*n_params) point into buf (a copy of path's segments). On
 * TIA__MATCH_METHOD, allow receives "GET, POST" etc. HEAD matches GET routes.
 */
tia__match tia__route_find(const char *method, const char *path, char *buf, size_t buf_len,
                           size_t *route_id, const char **params, size_t *n_params, char *allow,
                           size_t allow_len);

/* ---- pool.c: a fixed set of stores shared by the request threads ---- */

typedef struct tia__pool tia__pool;

/* cfg->db_pool stores on cfg's database, each with cfg's read replica if any. */
int tia__pool_open(const tia_server_config *cfg, tia__pool **out, tia_error *err);
/* Waits up to wait_ms for a free store; NULL when none came (503). */
tia_store *tia__pool_acquire(tia__pool *p, int wait_ms);
void tia__pool_release(tia__pool *p, tia_store *s);
int tia__pool_size(const tia__pool *p);
int tia__pool_in_use(tia__pool *p);
/* Total waits that timed out. */
uint64_t tia__pool_timeouts(tia__pool *p);
/* Counts a request refused for want of a database thread (offload.c) with the timeouts. */
void tia__pool_count_timeout(tia__pool *p);
tia_backend tia__pool_backend(const tia__pool *p);
const char *tia__pool_url(const tia__pool *p);
/*
 * The read replica over the pool: reads and fallbacks summed over its stores,
 * the largest lag they measured, and the state they last reported.
 */
void tia__pool_replica_status(tia__pool *p, tia_replica_status *out);
void tia__pool_close(tia__pool *p);

/* ---- auth.c: tokens, sessions and rate limits ---- */

typedef struct tia__limiter tia__limiter;

/* rate <= 0: unlimited (tia__limit always allows). */
int tia__limiter_new(double rate, int burst, tia__limiter **out);
void tia__limiter_free(tia__limiter *l);
/*
 * Takes one token from key's bucket. Returns 0 when allowed, else the seconds to
 * wait (>= 1) for the Retry-After header.
 */
int tia__limit(tia__limiter *l, const char *key, int64_t now_us);

/*
 * Authenticates the request from its Authorization header according to the
 * server's mode and the route: fills c->session, or answers 401 and returns
 * non-zero. Also refreshes the session's last_activity_at (throttled). For a
 * read that needs no session before its first statement it may instead leave
 * the check pending (c->check_pending), to travel with that statement; the
 * verdict is then tia__auth_finish's.
 */
int tia__authenticate(tia__call *c);

/*
 * The verdict of a token check that tia__authenticate left riding with the
 * handler's first read: 0 when the session is good (c->session set, activity
 * refreshed), else -1 with the handler's answer replaced by the refusal. A no-op
 * without a pending check. The server calls it after every handler; the
 * permission checks below call it first, since they need the session.
 */
int tia__auth_finish(tia__call *c);

/* Forgets the answer made so far (a handler's, made before its token was refused). */
void tia__unanswer(tia__call *c);

/* 1 when the caller's user (or auth off) may act for user_id. */
int tia__may_act_for(tia__call *c, const char *user_id);
/* 1 when the caller is one of the configured admin users. */
int tia__is_admin(tia__call *c);

/* ---- share.c: identical reads answered once ---- */

typedef struct tia__sharing tia__sharing;
typedef struct tia__offload tia__offload;
typedef struct tia__share tia__share; /* one batch of identical reads */

/*
 * A reply's text that several answers send (a leader's and its members'): one
 * copy, freed with its last reference. tia__text_new takes p (malloc'd,
 * NUL-terminated) unless it fails (NULL: out of memory, p still the caller's);
 * tia__text_unref has the signature of libmicrohttpd's free callbacks, so a
 * response can hold a reference; NULL accepted.
 */
typedef struct tia__text {
    atomic_int refs;
    size_t len;
    char *p;
} tia__text;

tia__text *tia__text_new(char *p, size_t len);
tia__text *tia__text_ref(tia__text *t);
void tia__text_unref(void *t);

/* An answer as the server sends it, for the members of a batch. */
typedef struct tia__shared_answer {
    int ok; /* 0: the leader's answer is not for sharing: each member answers alone */
    int status;
    tia__text *text; /* the JSON answer with its newline (a reference); NULL: none */
    char retry_after[16];
    char location[640];
    char allow[64];
    char err_code[32];
    char err_msg[TIA_ERROR_MSG_MAX];
    char session_id[TIA_UUID_BUF]; /* the token's session ("": none), for the rate limit */
    char *user_id;                 /* its user, for the access log (malloc'd); NULL: none */
} tia__shared_answer;

void tia__shared_answer_clear(tia__shared_answer *a);

int tia__sharing_new(tia__sharing **out);
/* Once no request is in flight. NULL accepted. */
void tia__sharing_free(tia__sharing *sh);
/* Requests answered with another's answer so far. */
uint64_t tia__sharing_count(tia__sharing *sh);
/*
 * The server stops: every waiting request is woken and none waits from now
 * on (a member whose answer is not in answers alone; a leader starts at once),
 * so that no connection stays suspended. NULL not accepted.
 */
void tia__sharing_close(tia__sharing *sh);
/* Requests waiting (blocked or parked) now (for tests). */
int tia__sharing_waiting(tia__sharing *sh);

typedef enum tia__share_role {
    TIA__SHARE_ALONE = 0, /* answer alone (out of memory) */
    TIA__SHARE_LEADER,    /* make the answer, then tia__share_publish it */
    TIA__SHARE_MEMBER,    /* the answer is ready: tia__share_answer, then tia__share_leave */
    TIA__SHARE_WAIT       /* parked: wake comes later, then tia__share_continue */
} tia__share_role;

/*
 * One request's place in the sharing. park and wake are the caller's: park
 * when the request must wait (it gives up its thread, as
 * MHD_suspend_connection does), called with the sharing's lock held; wake once
 * it may go on (MHD_resume_connection), called after the lock (but for
 * tia__sharing_close) on a waiter taken off its list under the lock, so never
 * before its park has returned, and once.
 * Without park, tia__share_join blocks the thread instead. The rest is
 * share.c's; the caller keeps the struct in place while the request waits.
 */
typedef struct tia__share_waiter {
    void (*park)(void *arg);
    void (*wake)(void *arg);
    void *arg;
    tia__share *batch; /* the batch it leads or joined: for tia__share_answer/publish/leave */
    tia__share *after; /* a leader's running batch it waits to end */
    int member;
    int yielded; /* as a leader, gave the CPU away once before starting */
    int deferred; /* as a leader, starts later (tia__share_start): others join until then */
    int parked;  /* on a batch's list of waiters, not woken yet */
    struct tia__share_waiter *next;
} tia__share_waiter;

/*
 * Enters the read named by key (n bytes: the target and token) into the batch
 * gathering for it, or opens one. A member goes on once its leader published;
 * a leader once the batch before it (if one is running) has ended, and from
 * then on nobody joins: every member arrived before the leader started. With
 * w->park set, a request that must wait is parked and TIA__SHARE_WAIT returned;
 * after its wake, tia__share_continue says what it is now (or parks it again).
 * w->batch is its batch once the role is LEADER or MEMBER.
 */
tia__share_role tia__share_join(tia__sharing *sh, const char *key, size_t n, tia__share_waiter *w);
tia__share_role tia__share_continue(tia__sharing *sh, tia__share_waiter *w);
/*
 * A deferred leader (w->deferred set before tia__share_join: it is queued for a
 * database thread) starts its batch here: from now on nobody joins it.
 */
void tia__share_start(tia__sharing *sh, tia__share *s);
/* tia__share_join that blocks: *out is the batch. */
tia__share_role tia__share_enter(tia__sharing *sh, const char *key, size_t n, tia__share **out);
const tia__shared_answer *tia__share_answer(const tia__share *s);
/* A leader's count of members: final, since nobody joins a running batch. */
int tia__share_members(tia__sharing *sh, const tia__share *s);
/* The leader's answer (taken: *ans is left empty) to its members; the leader's part ends. */
void tia__share_publish(tia__sharing *sh, tia__share *s, tia__shared_answer *ans);
/* A member is done reading the answer. */
void tia__share_leave(tia__sharing *sh, tia__share *s);
/*
 * A request that returned TIA__SHARE_WAIT ends before it went on (its client
 * went away while it waited; the server stops): it leaves its batch, and if it
 * was to lead, the batch ends unanswered (ok = 0), so its members answer alone.
 */
void tia__share_abandon(tia__sharing *sh, tia__share_waiter *w);

/* ---- prom.c: Prometheus counters ---- */

typedef struct tia__prom tia__prom;

int tia__prom_new(size_t n_routes, tia__prom **out);
void tia__prom_free(tia__prom *p);
/* Counts a request of route_id (SIZE_MAX: unmatched) with status, taking dur_us. */
void tia__prom_observe(tia__prom *p, size_t route_id, int status, int64_t dur_us);
/* Writes the request counters and histograms in Prometheus text format. */
void tia__prom_write(tia__prom *p, FILE *f);
/* The routed reads by target, the replica's fallbacks, state and lag; nothing without one. */
void tia__prom_write_replica(FILE *f, const tia_replica_status *st);

/* ---- events.c: the event hub behind GET /api/v1/events ---- */

typedef struct tia__hub tia__hub;

/* Starts the hub (on PostgreSQL, a LISTEN thread). */
int tia__hub_start(tia__api *api, tia__hub **out, tia_error *err);
/*
 * Ends every stream (their responses finish) and stops the hub, waiting until
 * deadline_us (monotonic; the server's one grace period) at most for requests
 * in flight. NULL accepted.
 */
void tia__hub_stop(tia__hub *h, int64_t deadline_us);

/* ---- the server (server.c) ---- */

struct tia__api {
    tia_server_config cfg;
    tia__pool *pool;
    tia__limiter *limiter;
    tia__prom *prom;
    tia__hub *hub;
    tia__sharing *sharing; /* NULL: reads are not shared (cfg.no_shared_reads) */
    tia__offload *offload; /* the database threads (offload.c); NULL: in-process only */
    struct MHD_Daemon *daemon;
    int port;
    tia_time_us started_at;
    atomic_int in_flight;
    atomic_int stopping; /* set at shutdown: /ready answers 503, streams end */
};

/* A header or query argument of an in-process request (tia__server_request). */
typedef struct tia__kv {
    const char *key;
    const char *value; /* NULL: a query argument without "=" */
} tia__kv;

/*
 * A request handed to the server in-process, without libmicrohttpd: path is
 * percent-decoded and without its query, which comes as decoded pairs. Used
 * by the fuzz targets (fuzz/), so that they drive the real route, auth, body
 * and handler code.
 */
typedef struct tia__request {
    const char *method;
    const char *path;
    const char *target; /* the path as sent (percent-encoded), routed as the server does;
                           NULL: route on path */
    const tia__kv *query;
    size_t n_query;
    const tia__kv *headers;
    size_t n_headers;
    const char *body;
    size_t body_len;
} tia__request;

/* One request. Handlers read the request members and answer with tia__reply. */
struct tia__call {
    tia__api *api;
    struct MHD_Connection *conn; /* NULL for an in-process request (then req) */
    const tia__request *req;
    const char *method;
    const char *path;
    char *raw_uri; /* the request target as sent (percent-encoded); in-process: req->target */
    const tia__route *route; /* NULL until matched */
    size_t route_id;
    const char *param[TIA__PARAMS_MAX];
    size_t n_params;
    char path_buf[1024];
    char request_id[64];
    char client_ip[64];
    tia_time_us t0; /* monotonic, for the latency */

    /* body */
    char *raw;
    size_t raw_len, raw_cap;
    int too_large;
    size_t dropped; /* bytes of an oversized body read and dropped (discard_budget) */
    json_t *body; /* the parsed JSON body of a TIA__R_JSON route, else NULL */

    /* auth */
    tia_session *session; /* the caller's session, NULL when auth is off or open */
    /*
     * The token check while it rides with the handler's first read (auth.c): until
     * tia__auth_finish, session is NULL and the handler's statements wait for the
     * check's verdict in the store (db.h guards).
     */
    tia__session_check check;
    int check_pending;

    /* store, borrowed lazily */
    tia_store *store;

    /* response */
    int answered;
    int status;
    json_t *reply;          /* owned */
    char *reply_text;       /* owned: an answer written as text (tia__reply_jw), or NULL */
    size_t reply_len;
    tia__text *reply_shared;       /* a reference: a shared read's text, sent as it is, or NULL */
    struct MHD_Response *response; /* a prepared response (streams), owned until queued */
    char retry_after[16];
    char location[640];
    char allow[64];
    size_t bytes_out;
    char err_code[32];
    char err_msg[TIA_ERROR_MSG_MAX];
    char *shared_user; /* the user of a shared answer's session (for the access log) */
    tia__share_waiter share; /* its place in a shared read (share.c) */
    int share_parked;        /* suspended until its batch, or the one before, is done */
    int offloaded;           /* 1: queued for a database thread (offload.c); 2: answered there */
    int offload_leader;      /* ... as the leader of a shared read */
    tia__call *offload_next; /* offload.c's queue */
    int64_t offload_deadline; /* monotonic us: expired (answered 503) if still queued then */
};

/*
 * A request header (MHD_HEADER_KIND) or query argument (MHD_GET_ARGUMENT_KIND),
 * from libmicrohttpd or from an in-process request; names compare without case,
 * as libmicrohttpd does; NULL when absent.
 */
const char *tia__value(tia__call *c, enum MHD_ValueKind kind, const char *name);

/*
 * Opens the server's parts (pool, limiter, counters, event hub) like
 * tia_server_start, without listening: requests then come only through
 * tia__server_request. tia_server_shutdown closes it.
 */
int tia__server_open(const tia_server_config *cfg, tia_server **out, tia_error *err);

/*
 * Runs one request through what an HTTP request goes through (route, body
 * limit, auth, rate limit, JSON body, handler, counters, access log) and gives
 * its status and JSON answer (*body malloc'd, NULL when the answer has none or
 * is not JSON: event streams, dashboard assets, /metrics). 0, or TIA_ENOMEM.
 */
int tia__server_request(tia_server *srv, const tia__request *req, int *status, char **body,
                        size_t *body_len);

/* Requests in flight, and shared reads parked now (-1: sharing off); for tests. */
int tia__server_in_flight(tia_server *srv);
int tia__server_parked(tia_server *srv);

/*
 * Percent-decodes s in place (the path and query arguments of every request),
 * except %00, which stays encoded; returns the new length.
 */
size_t tia__unescape(char *s);

/* The store for this request, borrowed from the pool; NULL after answering 503. */
tia_store *tia__store(tia__call *c);

/* Answers status with body (stolen; NULL: no body). */
void tia__reply(tia__call *c, int status, json_t *body);
/*
 * The same with an answer written as text (json/write.h): takes what w holds and
 * leaves it empty; out of memory, a 500.
 */
void tia__reply_jw(tia__call *c, int status, tia__jw *w);
/* 200 with {"items": [tasks], "next_cursor": text or null}: a page of task_list. */
void tia__reply_task_page(tia__call *c, const struct tia_task_list *l);

/*
 * Answers an error: {"error": {"code": code, "message": ...}} on /api/v1,
 * {"error": "..."} on the compatibility paths. Codes: bad_request, unauthorized,
 * forbidden, not_found, method_not_allowed, conflict, payload_too_large,
 * unsupported_media_type, invalid, rate_limited, unavailable, internal.
 */
void tia__fail(tia__call *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Answers a library error code with its status (TIA_EINVAL 422, ENOTFOUND 404, ...). */
void tia__fail_rc(tia__call *c, int rc, const tia_error *err);

/* The status a library error code maps to. */
int tia__status_of(int rc);

/* ---- input.c: query and body helpers; on bad input they answer and return -1 ---- */

/* A query argument, or NULL. */
const char *tia__query(tia__call *c, const char *name);
/* ?limit= within 1..max (default dflt); 400 otherwise. */
int tia__query_limit(tia__call *c, size_t dflt, size_t max, size_t *out);
/* ?name= as a run status / an integer >= 0 / a duration / an RFC 3339 time. */
int tia__query_run_status(tia__call *c, const char *name, int *present, int *out);
int tia__query_duration(tia__call *c, const char *name, int64_t dflt, int64_t *out);
int tia__query_time(tia__call *c, const char *name, int64_t dflt, int64_t *out);

/* Body members. required: a missing member (or null) is 422. */
int tia__body_str(tia__call *c, const char *key, int required, const char **out);
int tia__body_int(tia__call *c, const char *key, int required, int64_t dflt, int64_t *out);
int tia__body_number(tia__call *c, const char *key, int required, double dflt, double *out);
/* A cost as a number (0.015) or decimal text ("0.015"), in micro-dollars. */
int tia__body_cost(tia__call *c, const char *key, int required, int64_t dflt, int64_t *out);
/* Any JSON value re-encoded as text (malloc'd, NULL when absent or null). */
int tia__body_json_text(tia__call *c, const char *key, char **out);
/* An array of strings (borrowed from the body, *out malloc'd). */
int tia__body_strv(tia__call *c, const char *key, int required, const char ***out, size_t *n);
/* Fails with 422 when the body has a member not in the NULL-terminated list. */
int tia__body_only(tia__call *c, const char *const *allowed);

/* Same on any object (for nested arrays of objects); `where` prefixes messages. */
int tia__obj_str(tia__call *c, json_t *obj, const char *where, const char *key, int required,
                 const char **out);

/* A path parameter that must be a UUID: answers 404 for anything else. */
int tia__param_uuid(tia__call *c, size_t i, const char **out);

/* ---- gzip.c ---- */

/* Compresses n bytes at level (1..9) into *out (malloc'd); -1 when not smaller or on error. */
int tia__gzip(const void *in, size_t n, int level, char **out, size_t *out_n);
/* 1 when the request's Accept-Encoding allows gzip. */
int tia__accepts_gzip(tia__call *c);

/* ---- tasks.c: shared with workflows.c ---- */

/*
 * Reads a task spec (key, agent_id, task_type, description, input_data, priority,
 * max_retries, timeout, depends_on, metadata) from obj; where prefixes messages;
 * extra lists more members allowed. Strings are borrowed from obj; the rest is
 * freed by tia__task_spec_clear (also after a failure).
 */
int tia__task_spec_parse(tia__call *c, json_t *obj, const char *where, const char *const *extra,
                         tia_task_spec *out);
void tia__task_spec_clear(tia_task_spec *t);
/* The Idempotency-Key header or "idempotency_key" member (422 when both differ). */
int tia__idempotency_key(tia__call *c, const char **out);

/*
 * The database threads (offload.c): n threads that call run(c) for each call
 * pushed, in order. A call still queued wait_ms after its push is taken out and
 * handed to expire(c) instead, on a thread of its own (wait_ms 0: never).
 * tia__offload_stop lets them run what is queued, then joins them; a call pushed
 * after that runs at once on the pushing thread. tia__offload_free stops them if
 * need be and frees o (NULL is accepted).
 */
int tia__offload_start(int n, int wait_ms, void (*run)(tia__call *c), void (*expire)(tia__call *c),
                       tia__offload **out);
void tia__offload_push(tia__offload *o, tia__call *c);
void tia__offload_stop(tia__offload *o);
void tia__offload_free(tia__offload *o);

#endif
