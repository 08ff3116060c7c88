/*
 * The Registry API server: libmicrohttpd's internal thread pool (poll) accepts
 * and parses HTTP; this file takes each request through route, body limit,
 * authentication, rate limit and JSON parsing to its handler, sends the answer
 * with a request id, and writes the access log and the Prometheus counters when
 * the request completes. Shutdown is graceful: stop listening, end event
 * streams, wait for in-flight requests, then close everything.
 *
 * The same steps serve in-process requests (tia__server_request, no
 * libmicrohttpd, no socket), so that the fuzz targets drive the real path:
 * only reading the request from the connection and queueing the answer differ.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "core/uuid.h"
#include "core/validate.h"

#define DEFAULT_THREADS 2
#define DEFAULT_DB_THREADS 8
#define DEFAULT_BODY (1024 * 1024)
#define DEFAULT_HEADER (16 * 1024)
#define DEFAULT_IDLE_S 30
#define DEFAULT_MAX_CONN 1000
#define DEFAULT_DB_WAIT_MS 5000
#define DEFAULT_GRACE_MS 10000
#define DEFAULT_ACTIVITY_US (INT64_C(10) * 1000000)
/* JSON answers longer than this are gzipped for clients that accept it. */
#define GZIP_MIN 1024

struct tia_server {
    tia__api api;
    pthread_mutex_t log_lock;
};

static tia_time_us mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (tia_time_us)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- answering ---- */

/* 503 for want of a database connection or thread within --db-wait. */
static void db_busy(tia__call *c, const char *what)
{
    snprintf(c->retry_after, sizeof c->retry_after, "1");
    tia__fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "no database %s free within %d ms",
              what, c->api->cfg.db_wait_ms);
}

tia_store *tia__store(tia__call *c)
{
    if (c->store)
        return c->store;
    c->store = tia__pool_acquire(c->api->pool, c->api->cfg.db_wait_ms);
    if (c->store == NULL)
        db_busy(c, "connection");
    return c->store;
}

const char *tia__value(tia__call *c, enum MHD_ValueKind kind, const char *name)
{
    if (c->conn)
        return MHD_lookup_connection_value(c->conn, kind, name);
    if (kind != MHD_HEADER_KIND && kind != MHD_GET_ARGUMENT_KIND)
        return NULL;
    const tia__kv *kv = kind == MHD_HEADER_KIND ? c->req->headers : c->req->query;
    size_t n = kind == MHD_HEADER_KIND ? c->req->n_headers : c->req->n_query;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(kv[i].key, name) == 0)
            return kv[i].value;
    return NULL;
}

void tia__reply(tia__call *c, int status, json_t *body)
{
    if (c->answered) {
        json_decref(body);
        return;
    }
    c->answered = 1;
    c->status = status;
    c->reply = body;
}

void tia__reply_jw(tia__call *c, int status, tia__jw *w)
{
    if (c->answered) {
        tia__jw_free(w);
        return;
    }
    size_t len;
    char *text = tia__jw_take(w, &len);
    if (text == NULL) {
        tia__fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return;
    }
    c->answered = 1;
    c->status = status;
    c->reply_text = text;
    c->reply_len = len;
}

/*
 * Replaces each byte that does not start a valid UTF-8 character with '?'. An
 * error message quotes the request (a path, a member name) and may be cut in
 * the middle of a character; jansson refuses such text, and the answer would
 * have had no body at all.
 */
static void utf8_clean(char *s)
{
    for (size_t i = 0; s[i];) {
        unsigned char b = (unsigned char)s[i];
        size_t n = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
        if (strnlen(s + i, n) == n && tia__utf8_chars(s + i, n) == 1) {
            i += n;
        } else {
            s[i++] = '?';
        }
    }
}

void tia__fail(tia__call *c, int status, const char *code, const char *fmt, ...)
{
    if (c->answered)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err_msg, sizeof c->err_msg, fmt, ap);
    va_end(ap);
    utf8_clean(c->err_msg);
    snprintf(c->err_code, sizeof c->err_code, "%s", code);
    json_t *body;
    /* The original API's paths answer in its shape, even when no route matched. */
    int compat = c->route ? (c->route->flags & TIA__R_COMPAT) != 0
                          : c->path && strncmp(c->path, "/api/", 5) == 0 &&
                                strncmp(c->path, "/api/v1/", 8) != 0 && strcmp(c->path, "/api/v1") != 0;
    if (compat)
        body = json_pack("{s:s}", "error", c->err_msg);
    else
        body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", c->err_msg);
    tia__reply(c, status, body);
}

int tia__status_of(int rc)
{
    switch (rc) {
    case TIA_EINVAL: return MHD_HTTP_UNPROCESSABLE_CONTENT;
    case TIA_ENOTFOUND: return MHD_HTTP_NOT_FOUND;
    case TIA_ECONFLICT: return MHD_HTTP_CONFLICT;
    case TIA_EAUTH: return MHD_HTTP_UNAUTHORIZED;
    case TIA_EUNAVAIL:
    case TIA_EBUSY: return MHD_HTTP_SERVICE_UNAVAILABLE;
    case TIA_EFULL: return MHD_HTTP_INSUFFICIENT_STORAGE;
    default: return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

static const char *code_of(int status)
{
    switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 409: return "conflict";
    case 413: return "payload_too_large";
    case 415: return "unsupported_media_type";
    case 422: return "invalid";
    case 429: return "rate_limited";
    case 431: return "header_too_large";
    case 503: return "unavailable";
    case 507: return "insufficient_storage";
    default: return "internal";
    }
}

void tia__fail_rc(tia__call *c, int rc, const tia_error *err)
{
    int status = tia__status_of(rc);
    const char *msg = err && err->message[0] ? err->message : tia_strerror(rc);
    if (status == MHD_HTTP_INTERNAL_SERVER_ERROR)
        /* The database's own words stay in the log, not in the answer. */
        fprintf(stderr, "tokyoia serve: %s %s: %s\n", c->method, c->path, msg);
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        snprintf(c->retry_after, sizeof c->retry_after, "1");
    tia__fail(c, status, code_of(status), "%s",
              status == MHD_HTTP_INTERNAL_SERVER_ERROR ? "internal error" : msg);
}

/* ---- request life cycle ---- */

static int valid_request_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (n >= 63 || !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                         (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
            return 0;
    }
    return n > 0;
}

static void client_ip(struct MHD_Connection *conn, char *buf, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(buf, len, "unknown");
    if (ci == NULL || ci->client_addr == NULL)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
                  (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
                  (socklen_t)len);
}

/* MHD's first look at a request (the URI before parsing): allocate its call. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    tia__call *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    /* Kept as sent: routing splits it before decoding (setup). */
    c->raw_uri = strdup(uri ? uri : "");
    if (c->raw_uri == NULL) {
        free(c);
        return NULL;
    }
    c->api = cls;
    c->conn = conn;
    c->t0 = mono_us();
    c->route_id = SIZE_MAX;
    atomic_fetch_add(&c->api->in_flight, 1);
    return c;
}

static int content_type_json(tia__call *c)
{
    const char *ct = tia__value(c, MHD_HEADER_KIND, "Content-Type");
    /* The original clients may send none, or curl's form type; /api/v1 asks for JSON. */
    if (c->route->flags & TIA__R_COMPAT)
        return 1;
    if (ct == NULL)
        return 0;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return n == strlen("application/json") && strncasecmp(ct, "application/json", n) == 0;
}

static void parse_body(tia__call *c)
{
    if (!content_type_json(c)) {
        tia__fail(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                  "the request body must be application/json");
        return;
    }
    if (c->raw_len == 0) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "a JSON request body is required");
        return;
    }
    json_error_t jerr;
    c->body = json_loadb(c->raw, c->raw_len, JSON_REJECT_DUPLICATES, &jerr);
    if (c->body == NULL) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "malformed JSON at line %d column %d: %s",
                  jerr.line, jerr.column, jerr.text);
        return;
    }
    if (!json_is_object(c->body))
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "the request body must be a JSON object");
}

void tia__unanswer(tia__call *c)
{
    json_decref(c->reply);
    c->reply = NULL;
    free(c->reply_text);
    c->reply_text = NULL;
    c->reply_len = 0;
    tia__text_unref(c->reply_shared);
    c->reply_shared = NULL;
    if (c->response)
        MHD_destroy_response(c->response);
    c->response = NULL;
    c->answered = 0;
    c->status = 0;
    c->retry_after[0] = c->location[0] = c->allow[0] = c->err_code[0] = c->err_msg[0] = '\0';
}

/* 429 when key's bucket is empty (0 when the request may go on). */
static int rate_limited(tia__call *c, const char *key)
{
    int wait = tia__limit(c->api->limiter, key, mono_us());
    if (wait <= 0)
        return 0;
    snprintf(c->retry_after, sizeof c->retry_after, "%d", wait);
    tia__fail(c, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limited", "rate limit exceeded; retry in %d s",
              wait);
    return -1;
}

/* Everything between the end of the request and the handler, and the handler. */
static void run_route(tia__call *c)
{
    tia__api *api = c->api;
    if (c->too_large) {
        tia__fail(c, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large",
                  "the request body is larger than %zu bytes", api->cfg.max_body);
        return;
    }
    if (!(c->route->flags & TIA__R_OPEN)) {
        if (tia__authenticate(c) != 0)
            return;
        if (rate_limited(c, c->session ? c->session->id : c->client_ip) != 0)
            return;
    }
    if (c->route->flags & TIA__R_JSON) {
        parse_body(c);
        if (c->answered)
            return;
    }
    c->route->fn(c);
}

static char *reply_text(tia__call *c, size_t *len);

/*
 * The key under which identical reads share an answer: the request target as
 * sent (path and query) and the Authorization header, which are all a shared
 * route's answer depends on. 0 when this request is not for sharing.
 */
static size_t share_key(tia__call *c, char *key, size_t cap)
{
    if (c->api->sharing == NULL || !(c->route->flags & TIA__R_SHARED) ||
        strcmp(c->method, "GET") != 0 || c->raw_uri == NULL || c->raw_len > 0 || c->too_large)
        return 0;
    const char *auth = tia__value(c, MHD_HEADER_KIND, "Authorization");
    int n = snprintf(key, cap, "%s%c%s", c->raw_uri, '\0', auth ? auth : "");
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* A member's answer: the member's own rate limit, then the leader's answer. */
static int take_shared(tia__call *c, const tia__shared_answer *a)
{
    if (!a->ok)
        return 0;
    /* The token passed (else the answer is its 401): the bucket is the session's. */
    if (c->api->cfg.rate_limit > 0 && a->status != MHD_HTTP_UNAUTHORIZED &&
        rate_limited(c, a->session_id[0] ? a->session_id : c->client_ip) != 0)
        return 1;
    if (a->text != NULL) /* the leader's text itself: members send it without a copy */
        c->reply_shared = tia__text_ref(a->text);
    if (a->user_id != NULL)
        c->shared_user = strdup(a->user_id);
    c->status = a->status;
    c->answered = 1;
    memcpy(c->retry_after, a->retry_after, sizeof c->retry_after);
    memcpy(c->location, a->location, sizeof c->location);
    memcpy(c->allow, a->allow, sizeof c->allow);
    memcpy(c->err_code, a->err_code, sizeof c->err_code);
    memcpy(c->err_msg, a->err_msg, sizeof c->err_msg);
    return 1;
}

/*
 * The leader's answer for its members, if it has any: as text (which the leader
 * sends too: one copy for all), unless it is a prepared response, a refusal by
 * the rate limit (members have buckets of their own) or a server error (each
 * member tries for itself).
 */
static void publish(tia__call *c, tia__share *sh)
{
    tia__shared_answer a = {0};
    if (c->response == NULL && c->status != MHD_HTTP_TOO_MANY_REQUESTS && c->status < 500 &&
        tia__share_members(c->api->sharing, sh) > 0) {
        size_t len;
        char *text = reply_text(c, &len); /* takes c->reply_text when it is set */
        json_decref(c->reply);
        c->reply = NULL;
        if (text != NULL && (a.text = tia__text_new(text, len)) != NULL) {
            c->reply_shared = tia__text_ref(a.text);
        } else {
            c->reply_text = text; /* none, or no memory to share it: the leader's alone */
            c->reply_len = len;
        }
        a.ok = text == NULL || a.text != NULL;
        a.status = c->status;
        memcpy(a.retry_after, c->retry_after, sizeof a.retry_after);
        memcpy(a.location, c->location, sizeof a.location);
        memcpy(a.allow, c->allow, sizeof a.allow);
        memcpy(a.err_code, c->err_code, sizeof a.err_code);
        memcpy(a.err_msg, c->err_msg, sizeof a.err_msg);
        if (c->session != NULL) {
            snprintf(a.session_id, sizeof a.session_id, "%s", c->session->id);
            a.user_id = strdup(c->session->user_id);
            a.ok = a.ok && a.user_id != NULL;
        }
    }
    tia__share_publish(c->api->sharing, sh, &a);
}

static void share_park(void *conn)
{
    MHD_suspend_connection(conn);
}

static void share_wake(void *conn)
{
    MHD_resume_connection(conn);
}

/*
 * Whether c's handler runs on a database thread (offload.c): every route that
 * works with the database. Open routes (/ready, /metrics, the dashboard's files)
 * answer at once on the HTTP thread, and a stream's response belongs to it.
 */
static int offloads(const tia__call *c)
{
    return c->conn != NULL && c->api->offload != NULL &&
           !(c->route->flags & (TIA__R_OPEN | TIA__R_STREAM));
}

/* The handler and what follows it, on whichever thread runs c. */
static void answer(tia__call *c, tia__share_role role)
{
    run_route(c);
    /* A token check that rode with the handler's first read: its verdict decides. */
    tia__auth_finish(c);
    if (!c->answered)
        tia__fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "the handler gave no answer");
    if (role == TIA__SHARE_LEADER)
        publish(c, c->share.batch);
}

/*
 * Answers c, or suspends its connection and returns 1: a shared read that must
 * wait for another's answer, or a request handed to a database thread.
 * libmicrohttpd calls on_request again once it is resumed, and this goes on
 * where it stopped. So the HTTP threads never wait, for the database or for an
 * answer, and serve the other connections meanwhile.
 */
static int dispatch(tia__call *c)
{
    tia__sharing *sharing = c->api->sharing;
    tia__share_role role = TIA__SHARE_ALONE;
    if (c->share_parked) {
        role = tia__share_continue(sharing, &c->share);
    } else {
        char key[4096];
        size_t n = share_key(c, key, sizeof key);
        if (n > 0 && c->conn != NULL) {
            c->share.park = share_park;
            c->share.wake = share_wake;
            c->share.arg = c->conn;
            /* Its batch gathers until a database thread takes it (run_offloaded). */
            c->share.deferred = offloads(c);
        }
        if (n > 0)
            role = tia__share_join(sharing, key, n, &c->share);
    }
    c->share_parked = role == TIA__SHARE_WAIT;
    if (c->share_parked)
        return 1;
    if (role == TIA__SHARE_MEMBER) {
        int taken = take_shared(c, tia__share_answer(c->share.batch));
        tia__share_leave(sharing, c->share.batch);
        if (taken)
            return 0;
        role = TIA__SHARE_ALONE;
    }
    if (offloads(c)) {
        c->offload_leader = role == TIA__SHARE_LEADER;
        c->offloaded = 1;
        MHD_suspend_connection(c->conn);
        tia__offload_push(c->api->offload, c);
        return 1;
    }
    answer(c, role);
    return 0;
}

/* An offloaded request, answered: libmicrohttpd's again, to send it. */
static void hand_back(tia__call *c)
{
    c->offloaded = 2;
    MHD_resume_connection(c->conn);
}

/*
 * A request on a database thread (offload.c): the handler, then the connection
 * goes back to libmicrohttpd, which calls on_request again to send the answer.
 * Nothing touches c after the resume.
 */
static void run_offloaded(tia__call *c)
{
    if (c->offload_leader) {
        /*
         * Others may still join the batch: identical requests that the HTTP
         * threads are reading now. Give them the core once, as a leader on an
         * HTTP thread does (share.c), then close it.
         */
        sched_yield();
        tia__share_start(c->api->sharing, c->share.batch);
    }
    answer(c, c->offload_leader ? TIA__SHARE_LEADER : TIA__SHARE_ALONE);
    if (c->store) {
        tia__pool_release(c->api->pool, c->store);
        c->store = NULL;
    }
    hand_back(c);
}

/*
 * A request that waited for a database thread longer than --db-wait (offload.c's
 * watchdog): 503 with Retry-After, as when no connection is free, and counted
 * with those. A leader's members answer alone: a 503 is not shared.
 */
static void expire_offloaded(tia__call *c)
{
    if (c->offload_leader)
        tia__share_start(c->api->sharing, c->share.batch);
    db_busy(c, "thread");
    tia__pool_count_timeout(c->api->pool);
    if (c->offload_leader)
        publish(c, c->share.batch);
    hand_back(c);
}

static void add_headers(tia__call *c, struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Request-Id", c->request_id);
    if (c->retry_after[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, c->retry_after);
    if (c->location[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, c->location);
    if (c->allow[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, c->allow);
    if (c->status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"tokyoia\"");
}

/* The answer's text as jansson writes it, into one growing buffer. */
typedef struct text_buf {
    char *p;
    size_t len, cap;
} text_buf;

static int text_append(const char *s, size_t n, void *arg)
{
    text_buf *b = arg;
    if (b->len + n + 2 > b->cap) { /* + 2: room for the final newline and NUL */
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 2)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

/*
 * The JSON answer as text (malloc'd; NULL when there is none), ending in a
 * newline for curl users. Written straight into one buffer: json_dumps would grow
 * its own from 16 bytes and then copy the result, and a list page is 10-100 KB.
 */
static char *reply_text(tia__call *c, size_t *len)
{
    text_buf b = {NULL, 0, 0};
    *len = 0;
    if (c->reply_text) { /* written as text already, with its '\n' */
        char *text = c->reply_text;
        *len = c->reply_len;
        c->reply_text = NULL;
        c->reply_len = 0;
        return text;
    }
    if (c->reply_shared) { /* a copy of its own for the caller */
        char *text = malloc(c->reply_shared->len + 1);
        if (text != NULL) {
            memcpy(text, c->reply_shared->p, c->reply_shared->len + 1);
            *len = c->reply_shared->len;
        }
        tia__text_unref(c->reply_shared);
        c->reply_shared = NULL;
        return text;
    }
    if (c->reply == NULL)
        return NULL;
    if (json_dump_callback(c->reply, text_append, &b, TIA__JSON_DUMP_FLAGS) != 0) {
        free(b.p);
        c->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        char *text = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}\n");
        *len = text ? strlen(text) : 0;
        return text;
    }
    if (b.p == NULL) /* jansson wrote nothing */
        return NULL;
    b.p[b.len++] = '\n';
    b.p[b.len] = '\0';
    *len = b.len;
    return b.p;
}

/*
 * The response of a text answer (NULL: out of memory), gzipped for a client that
 * accepts it. A shared read's text is sent as it is: the response holds a
 * reference to it instead of a copy.
 */
static struct MHD_Response *text_response(tia__call *c, size_t *len, int *zipped)
{
    tia__text *shared = c->reply_shared;
    c->reply_shared = NULL;
    char *own = NULL, *z = NULL;
    size_t zlen = 0;
    struct MHD_Response *r;
    if (shared != NULL) {
        *len = shared->len;
    } else {
        own = reply_text(c, len);
    }
    const char *body = shared ? shared->p : own;
    *zipped = *len > GZIP_MIN && tia__accepts_gzip(c) && tia__gzip(body, *len, 1, &z, &zlen) == 0;
    if (*zipped) {
        free(own);
        tia__text_unref(shared);
        *len = zlen;
        if ((r = MHD_create_response_from_buffer_with_free_callback(zlen, z, free)) == NULL)
            free(z);
        return r;
    }
    if (shared != NULL)
        r = MHD_create_response_from_buffer_with_free_callback_cls(*len, shared->p, tia__text_unref,
                                                                   shared);
    else
        r = MHD_create_response_from_buffer_with_free_callback(*len, own, free);
    if (r == NULL) {
        free(own);
        tia__text_unref(shared);
    }
    return r;
}

static enum MHD_Result send_answer(tia__call *c)
{
    struct MHD_Response *r = c->response;
    c->response = NULL;
    if (r == NULL) {
        size_t len = 0;
        int zipped = 0;
        int json = c->reply != NULL || c->reply_text != NULL || c->reply_shared != NULL;
        if ((r = text_response(c, &len, &zipped)) == NULL)
            return MHD_NO;
        if (json) {
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
            MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
        }
        if (zipped)
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        c->bytes_out = len;
    }
    add_headers(c, r);
    enum MHD_Result ok = MHD_queue_response(c->conn, (unsigned)c->status, r);
    MHD_destroy_response(r);
    return ok;
}

static size_t unescape(void *cls, struct MHD_Connection *conn, char *s);

/* libmicrohttpd's memory per connection: the headers up to the limit, and room for its
   own structures and the answer, so that a request at the limit is parsed (then
   refused or served by header_bytes's count) instead of the connection being closed. */
static size_t header_pool(size_t max_header)
{
    return max_header + (max_header > 16384 ? max_header : 16384);
}

static void setup(tia__call *c, const char *url, const char *method)
{
    tia__api *api = c->api;
    c->method = method;
    c->path = url;
    if (c->conn)
        client_ip(c->conn, c->client_ip, sizeof c->client_ip);
    else
        snprintf(c->client_ip, sizeof c->client_ip, "127.0.0.1"); /* in-process: local */
    const char *rid = tia__value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (rid && valid_request_id(rid)) {
        snprintf(c->request_id, sizeof c->request_id, "%s", rid);
    } else {
        tia__uuid_gen g = {0};
        tia__uuid7(&g, c->request_id);
    }
    size_t rid_n = 0;
    char allow[64] = "";
    /*
     * Routed on the path as sent, each {param} decoded after the split: an id that
     * holds a '/' (sent as %2F: an agent "team/a", a model "org/name") stays one
     * segment, where routing the decoded path would split it in two.
     */
    const char *route_path = url;
    char raw[sizeof c->path_buf];
    if (c->raw_uri) {
        size_t n = strcspn(c->raw_uri, "?#");
        if (n < sizeof raw) {
            memcpy(raw, c->raw_uri, n);
            raw[n] = '\0';
            route_path = raw;
        }
    }
    tia__match m = tia__route_find(method, route_path, c->path_buf, sizeof c->path_buf, &rid_n,
                                   c->param, &c->n_params, allow, sizeof allow);
    if (m == TIA__MATCH_OK && route_path == raw)
        for (size_t i = 0; i < c->n_params; i++)
            unescape(NULL, NULL, (char *)c->param[i]); /* points into c->path_buf */
    /* A segment that decodes to "." or ".." (%2e%2e) is as malformed as the plain one. */
    for (const char *p = route_path; m != TIA__MATCH_BAD_PATH && route_path == raw && *p;) {
        size_t n = strcspn(++p, "/");
        char seg[16];
        if (n < sizeof seg) {
            memcpy(seg, p, n);
            seg[n] = '\0';
            unescape(NULL, NULL, seg);
            if (strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0)
                m = TIA__MATCH_BAD_PATH;
        }
        p += n;
    }
    if (m == TIA__MATCH_OK) {
        size_t n;
        c->route = &tia__routes(&n)[rid_n];
        c->route_id = rid_n;
        /*
         * An agent id no agent can have (not UTF-8, longer than the column) names
         * no agent: 404 on every route under /api/v1/agents/{id}, as an unknown
         * one, rather than the body's or the query's 422 and 400 that the
         * library's TIA_EINVAL became.
         */
        if (c->n_params > 0 && strncmp(c->route->pattern, "/api/v1/agents/{", 16) == 0) {
            long chars = tia__utf8_chars(c->param[0], strlen(c->param[0]));
            if (chars < 0 || chars > TIA_AGENT_ID_MAX)
                tia__fail(c, MHD_HTTP_NOT_FOUND, "not_found", "no such agent");
        }
    } else if (m == TIA__MATCH_METHOD) {
        snprintf(c->allow, sizeof c->allow, "%s", allow);
        tia__fail(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                  "%s is not allowed on %s (allowed: %s)", method, url, allow);
    } else if (m == TIA__MATCH_BAD_PATH) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "malformed path");
    } else {
        tia__fail(c, MHD_HTTP_NOT_FOUND, "not_found", "no such path: %s", url);
    }
    if (c->answered || atomic_load(&api->stopping) == 0)
        return;
    snprintf(c->retry_after, sizeof c->retry_after, "1");
    tia__fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "the server is shutting down");
}

/* How much of an oversized body is read (and dropped) before answering 413. */
static size_t discard_budget(const tia__api *api)
{
    size_t b = api->cfg.max_body * 8;
    return b < 8 * 1024 * 1024 ? 8 * 1024 * 1024 : b;
}

/*
 * Adds n bytes of the body (dropped once over the limit); -1 when out of memory.
 * A body with no Content-Length (chunked) that keeps coming past discard_budget
 * is refused there and then (c->answered, 413), as one whose Content-Length says
 * as much is before it is read: a client cannot keep a connection busy sending.
 * libmicrohttpd (0.9.75) takes no answer in the middle of a body, so the
 * connection is then closed unanswered; the access log says 413.
 */
static int body_append(tia__call *c, const char *data, size_t n)
{
    if (c->answered)
        return 0;
    if (c->too_large || c->raw_len + n > c->api->cfg.max_body) {
        c->dropped += c->raw_len + n;
        if (!c->too_large) {
            c->too_large = 1;
            free(c->raw);
            c->raw = NULL;
            c->raw_len = c->raw_cap = 0;
        }
        if (c->dropped > discard_budget(c->api))
            tia__fail(c, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large",
                      "the request body is larger than %zu bytes", c->api->cfg.max_body);
        return 0;
    }
    if (c->raw_len + n + 1 > c->raw_cap) {
        size_t cap = c->raw_cap ? c->raw_cap : 4096;
        while (cap < c->raw_len + n + 1)
            cap *= 2;
        char *p = realloc(c->raw, cap);
        if (p == NULL)
            return -1;
        c->raw = p;
        c->raw_cap = cap;
    }
    memcpy(c->raw + c->raw_len, data, n);
    c->raw_len += n;
    c->raw[c->raw_len] = '\0';
    return 0;
}

static enum MHD_Result add_header_bytes(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
    (void)kind;
    *(size_t *)cls += strlen(key) + 2 + (value ? strlen(value) : 0) + 2; /* "K: V\r\n" */
    return MHD_YES;
}

/*
 * The request line and headers as a client writes them ("GET /p HTTP/1.1\r\n",
 * "Name: value\r\n" each, "\r\n"): what --max-header limits. libmicrohttpd's own
 * limit is its connection memory pool, which also holds the parsed headers and the
 * answer, so it is given headroom and the limit is checked here, exactly.
 */
static size_t header_bytes(tia__call *c, const char *method, const char *version)
{
    size_t n = strlen(method) + 1 + strlen(c->raw_uri) + 1 + strlen(version) + 2 + 2;
    MHD_get_connection_values(c->conn, MHD_HEADER_KIND, add_header_bytes, &n);
    return n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)cls;
    tia__call *c = *con_cls;
    if (c == NULL)
        return MHD_NO; /* out of memory in on_uri */
    if (c->method == NULL) {
        setup(c, url, method);
        if (!c->answered && header_bytes(c, method, version) > c->api->cfg.max_header)
            tia__fail(c, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "header_too_large",
                      "the request line and headers are larger than %zu bytes",
                      c->api->cfg.max_header);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno || *end || v > c->api->cfg.max_body)
                c->too_large = 1;
            /*
             * A body a little over the limit is read and dropped, and 413 sent after
             * it: answering while the client still sends makes it see a reset
             * instead of the answer. A body far over the limit is not worth reading.
             */
            if (c->too_large && !c->answered && (errno || *end || v > discard_budget(c->api)))
                tia__fail(c, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large",
                          "the request body is larger than %zu bytes", c->api->cfg.max_body);
        }
        /* An early answer (bad path, too large): send it without reading the body. */
        if (c->answered)
            return send_answer(c);
        return MHD_YES;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (body_append(c, upload_data, n) != 0)
            return MHD_NO;
        return c->answered ? send_answer(c) : MHD_YES;
    }
    if (c->offloaded == 2) {
        c->offloaded = 0;
        return send_answer(c);
    }
    if (c->answered)
        return MHD_YES; /* already queued */
    if (dispatch(c))
        return MHD_YES; /* suspended: called again once resumed */
    if (c->store) {
        tia__pool_release(c->api->pool, c->store);
        c->store = NULL;
    }
    return send_answer(c);
}

static void access_log(tia_server *srv, tia__call *c, int64_t dur_us)
{
    FILE *f = srv->api.cfg.access_log;
    if (f == NULL)
        return;
    char ts[40];
    tia_time_format(tia_now_us(), ts, sizeof ts);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s?,s:i,s:f,s:I,s:s,s:s?}", "ts", ts, "request_id",
                          c->request_id, "method", c->method ? c->method : "", "path",
                          c->path ? c->path : "", "route", c->route ? c->route->pattern : NULL,
                          "status", c->status, "duration_ms", (double)(dur_us / 10) / 100.0,
                          "bytes", (json_int_t)c->bytes_out, "remote", c->client_ip, "user",
                          c->session ? c->session->user_id : c->shared_user);
    if (o && c->err_code[0])
        json_object_set_new(o, "error", json_string(c->err_code));
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
    json_decref(o);
    if (line) {
        pthread_mutex_lock(&srv->log_lock);
        fputs(line, f);
        fputc('\n', f);
        fflush(f);
        pthread_mutex_unlock(&srv->log_lock);
    }
    free(line);
}

/* The end of a request: counters, access log, and c is freed. */
static void call_end(tia_server *srv, tia__call *c)
{
    int64_t dur = mono_us() - c->t0;
    if (c->method) {
        if (c->status == 0)
            c->status = 499; /* the client went away before an answer */
        tia__prom_observe(srv->api.prom, c->route_id, c->status, dur);
        access_log(srv, c, dur);
    }
    /*
     * A shared read that waited and never went on: its client closed the
     * connection (libmicrohttpd sees that only once it is resumed), or the
     * server stops. Its place in the batch must not hold the others up.
     */
    if (c->share_parked)
        tia__share_abandon(srv->api.sharing, &c->share);
    if (c->store)
        tia__pool_release(srv->api.pool, c->store);
    if (c->response)
        MHD_destroy_response(c->response);
    json_decref(c->reply);
    free(c->reply_text);
    tia__text_unref(c->reply_shared);
    json_decref(c->body);
    tia_session_free(c->session);
    free(c->shared_user);
    free(c->raw);
    free(c->raw_uri);
    atomic_fetch_sub(&srv->api.in_flight, 1);
    free(c);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    tia__call *c = *con_cls;
    if (c == NULL)
        return;
    *con_cls = NULL;
    call_end(cls, c);
}

int tia__server_request(tia_server *srv, const tia__request *req, int *status, char **body,
                        size_t *body_len)
{
    tia__api *api = &srv->api;
    *status = 0;
    *body = NULL;
    *body_len = 0;
    tia__call *c = calloc(1, sizeof *c);
    if (c == NULL)
        return TIA_ENOMEM;
    c->api = api;
    c->req = req;
    c->t0 = mono_us();
    c->route_id = SIZE_MAX;
    if (req->target && (c->raw_uri = strdup(req->target)) == NULL) {
        free(c);
        return TIA_ENOMEM;
    }
    atomic_fetch_add(&api->in_flight, 1);
    /* What on_request does, with the body at hand instead of in pieces. */
    setup(c, req->path, req->method);
    if (!c->answered && req->body_len > api->cfg.max_body)
        tia__fail(c, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large",
                  "the request body is larger than %zu bytes", api->cfg.max_body);
    int rc = 0;
    if (!c->answered && req->body_len > 0 && body_append(c, req->body, req->body_len) != 0)
        rc = TIA_ENOMEM;
    if (rc == 0 && !c->answered)
        dispatch(c);
    if (c->store) {
        tia__pool_release(api->pool, c->store);
        c->store = NULL;
    }
    if (rc == 0 && c->response == NULL)
        *body = reply_text(c, body_len);
    *status = c->status;
    call_end(srv, c);
    return rc;
}

/*
 * Percent-decoding of the path and arguments, except %00: a NUL would cut the
 * text short, so it is left encoded (and refused later as an invalid value).
 */
size_t tia__unescape(char *s)
{
    char *w = s;
    for (const char *r = s; *r;) {
        int hi, lo;
        if (r[0] == '%' && r[1] && r[2] && (hi = (r[1] >= '0' && r[1] <= '9')   ? r[1] - '0'
                                                 : (r[1] | 32) >= 'a' && (r[1] | 32) <= 'f'
                                                     ? (r[1] | 32) - 'a' + 10
                                                     : -1) >= 0 &&
            (lo = (r[2] >= '0' && r[2] <= '9')                   ? r[2] - '0'
                  : (r[2] | 32) >= 'a' && (r[2] | 32) <= 'f' ? (r[2] | 32) - 'a' + 10
                                                               : -1) >= 0 &&
            (hi | lo) != 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return tia__unescape(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    (void)fmt;
    (void)ap;
    /* libmicrohttpd's own messages (a client that hung up, ...) are not ours to print. */
}

static int check_schema(tia__pool *pool, int migrate, tia_error *err)
{
    tia_store *s = tia__pool_acquire(pool, 0);
    tia_migration_status *items = NULL;
    size_t n = 0;
    int rc = 0;
    if (migrate) {
        rc = tia_store_migrate(s, NULL, err);
        goto done;
    }
    rc = tia_store_migration_status(s, &items, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (!items[i].applied || items[i].changed || items[i].unknown)
            rc = tia_error_set(err, TIA_ESCHEMA,
                               "the database is not migrated (migration %04d %s); run "
                               "'tokyoia migrate' or start with --migrate",
                               items[i].version, items[i].name);
done:
    free(items);
    tia__pool_release(pool, s);
    return rc;
}

static int apply_defaults(tia_server_config *cfg, tia_error *err)
{
    if (cfg->threads == 0)
        cfg->threads = DEFAULT_THREADS;
    if (cfg->db_threads == 0)
        cfg->db_threads = DEFAULT_DB_THREADS;
    if (cfg->db_pool == 0)
        cfg->db_pool = cfg->threads + cfg->db_threads;
    if (cfg->db_wait_ms == 0)
        cfg->db_wait_ms = DEFAULT_DB_WAIT_MS;
    if (cfg->max_body == 0)
        cfg->max_body = DEFAULT_BODY;
    if (cfg->max_header == 0)
        cfg->max_header = DEFAULT_HEADER;
    if (cfg->idle_timeout_s == 0)
        cfg->idle_timeout_s = DEFAULT_IDLE_S;
    if (cfg->max_connections == 0)
        cfg->max_connections = DEFAULT_MAX_CONN;
    if (cfg->shutdown_grace_ms == 0)
        cfg->shutdown_grace_ms = DEFAULT_GRACE_MS;
    if (cfg->activity_interval_us == 0)
        cfg->activity_interval_us = DEFAULT_ACTIVITY_US;
    if (cfg->listen_host == NULL)
        cfg->listen_host = "127.0.0.1";
    if (cfg->threads < 1 || cfg->threads > 256)
        return tia_error_set(err, TIA_EINVAL, "threads must be 1..256");
    if (cfg->db_threads < 1 || cfg->db_threads > 256)
        return tia_error_set(err, TIA_EINVAL, "database threads must be 1..256");
    if (cfg->db_pool < 1 || cfg->db_pool > 256)
        return tia_error_set(err, TIA_EINVAL, "db pool must be 1..256");
    if (cfg->port < 0 || cfg->port > 65535)
        return tia_error_set(err, TIA_EINVAL, "port must be 0..65535");
    /* Written so that NaN fails it: a NaN limit was neither off nor on (no buckets). */
    if (!(cfg->rate_limit >= 0 && cfg->rate_limit <= TIA_SERVER_RATE_MAX) || cfg->rate_burst < 0)
        return tia_error_set(err, TIA_EINVAL,
                             "rate limit must be a number from 0 to %g requests per second, "
                             "and burst must not be negative",
                             (double)TIA_SERVER_RATE_MAX);
    if (cfg->max_header < 1024 || cfg->max_header > 1024 * 1024)
        return tia_error_set(err, TIA_EINVAL, "max header size must be 1 KiB..1 MiB");
    if (cfg->max_body > (size_t)64 * 1024 * 1024)
        return tia_error_set(err, TIA_EINVAL, "max body size must be at most 64 MiB");
    if (cfg->idle_timeout_s < 0 || cfg->max_connections < 1 || cfg->db_wait_ms < 0)
        return tia_error_set(err, TIA_EINVAL, "bad timeout or connection limit");
    return 0;
}

static int bind_addr(const tia_server_config *cfg, struct sockaddr_storage *ss, unsigned *flags,
                     tia_error *err)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)(void *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)ss;
    if (inet_pton(AF_INET, cfg->listen_host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)cfg->port);
        return 0;
    }
    if (inet_pton(AF_INET6, cfg->listen_host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)cfg->port);
        *flags |= MHD_USE_IPv6;
        return 0;
    }
    return tia_error_set(err, TIA_EINVAL, "listen address '%s' is not a numeric IPv4 or IPv6 address",
                         cfg->listen_host);
}

int tia__server_open(const tia_server_config *cfg_in, tia_server **out, tia_error *err)
{
    tia_server *srv = NULL;
    int rc;
    size_t n_routes;
    *out = NULL;
    srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory");
    pthread_mutex_init(&srv->log_lock, NULL);
    tia__api *api = &srv->api;
    api->cfg = *cfg_in;
    if ((rc = apply_defaults(&api->cfg, err)) != 0)
        goto done;
    tia__routes(&n_routes);
    if ((rc = tia__pool_open(&api->cfg, &api->pool, err)) != 0)
        goto done;
    if ((rc = check_schema(api->pool, api->cfg.migrate, err)) != 0)
        goto done;
    if (tia__limiter_new(api->cfg.rate_limit, api->cfg.rate_burst, &api->limiter) != 0 ||
        tia__prom_new(n_routes, &api->prom) != 0 ||
        (!api->cfg.no_shared_reads && tia__sharing_new(&api->sharing) != 0)) {
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = tia__hub_start(api, &api->hub, err)) != 0)
        goto done;
    api->started_at = tia_now_us();
    *out = srv;
    srv = NULL;
done:
    if (srv) {
        tia__hub_stop(srv->api.hub, mono_us());
        tia__prom_free(srv->api.prom);
        tia__limiter_free(srv->api.limiter);
        tia__sharing_free(srv->api.sharing);
        tia__pool_close(srv->api.pool);
        pthread_mutex_destroy(&srv->log_lock);
        free(srv);
    }
    return rc;
}

int tia_server_start(const tia_server_config *cfg, tia_server **out, tia_error *err)
{
    tia_server *srv = NULL;
    int rc = tia__server_open(cfg, &srv, err);
    *out = NULL;
    if (rc != 0)
        return rc;
    tia__api *api = &srv->api;
    struct sockaddr_storage ss;
    /*
     * poll(), not epoll: libmicrohttpd 0.9.75 (Debian 12) races MHD_quiesce_daemon
     * against its epoll workers, which remove the listening socket from their epoll
     * sets too, and the loser's epoll_ctl(DEL) fails with ENOENT and aborts the
     * process ("Failed to remove listen FD from epoll set", seen once in CI at a
     * graceful shutdown). With poll() a quiesce is a flag and a wake-up through the
     * inter-thread channel; each worker polls its own share of the connections.
     */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if ((rc = bind_addr(&api->cfg, &ss, &flags, err)) != 0)
        goto done;
    if (tia__offload_start(api->cfg.db_threads, api->cfg.db_wait_ms, run_offloaded,
                           expire_offloaded, &api->offload) != 0) {
        rc =
            tia_error_set(err, TIA_ENOMEM, "cannot start %d database threads", api->cfg.db_threads);
        goto done;
    }
    api->daemon = MHD_start_daemon(
        flags, (uint16_t)api->cfg.port, NULL, NULL, on_request, api, MHD_OPTION_SOCK_ADDR, &ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)api->cfg.threads,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, header_pool(api->cfg.max_header),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)api->cfg.idle_timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)api->cfg.max_connections,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, api, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
    if (api->daemon == NULL) {
        rc = tia_error_set(err, TIA_EIO, "cannot listen on %s port %d (in use, or not allowed)",
                           api->cfg.listen_host, api->cfg.port);
        goto done;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_BIND_PORT);
    api->port = di ? di->port : api->cfg.port;
    *out = srv;
    srv = NULL;
done:
    if (srv)
        tia_server_shutdown(srv);
    return rc;
}

int tia__server_in_flight(tia_server *srv)
{
    return atomic_load(&srv->api.in_flight);
}

int tia__server_parked(tia_server *srv)
{
    return srv->api.sharing ? tia__sharing_waiting(srv->api.sharing) : -1;
}

int tia_server_port(const tia_server *srv)
{
    return srv->api.port;
}

int tia_server_shutdown(tia_server *srv)
{
    if (srv == NULL)
        return 0;
    tia__api *api = &srv->api;
    atomic_store(&api->stopping, 1);
    MHD_socket lfd = api->daemon ? MHD_quiesce_daemon(api->daemon) : MHD_INVALID_SOCKET;
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    /* One grace period for the hub's wait and this one: --grace is the whole of it. */
    tia_time_us deadline = mono_us() + (tia_time_us)api->cfg.shutdown_grace_ms * 1000;
    tia__hub_stop(api->hub, deadline);
    api->hub = NULL;
    while (atomic_load(&api->in_flight) > 0 && mono_us() < deadline) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int left = atomic_load(&api->in_flight);
    /*
     * Past the grace, reads may still wait for a batch whose leader is slow:
     * woken now, they answer alone or are closed by the stop, since
     * libmicrohttpd refuses to stop with a connection suspended.
     */
    if (api->sharing != NULL)
        tia__sharing_close(api->sharing);
    /* What they run resumes its connection: before libmicrohttpd may stop. */
    tia__offload_stop(api->offload);
    if (api->daemon)
        MHD_stop_daemon(api->daemon);
    tia__offload_free(api->offload);
    tia__prom_free(api->prom);
    tia__limiter_free(api->limiter);
    tia__sharing_free(api->sharing);
    tia__pool_close(api->pool);
    pthread_mutex_destroy(&srv->log_lock);
    free(srv);
    return left;
}
