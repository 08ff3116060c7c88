/*
 * Who is calling, and how often. Requests carry a session token as
 * "Authorization: Bearer tia_..."; the store checks it against the SHA-256 kept
 * in user_sessions (constant-time compare), so revocation and expiry take effect
 * on the very next request, on every server sharing the database. The rate
 * limiter is a token bucket per session (per client address without one), kept
 * in a fixed table so that a flood of distinct keys cannot grow memory.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"

/* ---- rate limits ---- */

#define SLOTS 4096
#define PROBE 8
#define KEY_MAX 64

typedef struct bucket {
    char key[KEY_MAX];
    double tokens;
    int64_t last_us;
} bucket;

#define TOUCH_SLOTS 1024

typedef struct touch_slot {
    char id[40];
    int64_t at;
} touch_slot;

struct tia__limiter {
    pthread_mutex_t lock;
    double rate, burst;
    bucket *slots;
    touch_slot touched[TOUCH_SLOTS]; /* when each session's activity was last refreshed */
};

int tia__limiter_new(double rate, int burst, tia__limiter **out)
{
    tia__limiter *l = calloc(1, sizeof *l);
    *out = NULL;
    if (l == NULL)
        return TIA_ENOMEM;
    l->rate = rate;
    l->burst = burst > 0 ? burst : fmax(1.0, ceil(rate * 2));
    if (rate > 0 && (l->slots = calloc(SLOTS, sizeof *l->slots)) == NULL) {
        free(l);
        return TIA_ENOMEM;
    }
    pthread_mutex_init(&l->lock, NULL);
    *out = l;
    return 0;
}

void tia__limiter_free(tia__limiter *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->lock);
    free(l->slots);
    free(l);
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int tia__limit(tia__limiter *l, const char *key, int64_t now_us)
{
    if (l == NULL || !(l->rate > 0) || l->slots == NULL)
        return 0;
    char k[KEY_MAX];
    snprintf(k, sizeof k, "%s", key);
    uint32_t h = fnv1a(k);
    int wait = 0;
    pthread_mutex_lock(&l->lock);
    bucket *b = NULL, *oldest = NULL;
    for (int i = 0; i < PROBE; i++) {
        bucket *s = &l->slots[(h + (uint32_t)i) % SLOTS];
        if (strcmp(s->key, k) == 0) {
            b = s;
            break;
        }
        if (oldest == NULL || s->last_us < oldest->last_us)
            oldest = s;
    }
    if (b == NULL) {
        /* A new key takes the slot idle longest (a full bucket is no loss). */
        b = oldest;
        memcpy(b->key, k, sizeof k);
        b->tokens = l->burst;
        b->last_us = now_us;
    }
    b->tokens = fmin(l->burst, b->tokens + (double)(now_us - b->last_us) / 1e6 * l->rate);
    b->last_us = now_us;
    if (b->tokens >= 1.0)
        b->tokens -= 1.0;
    else
        wait = (int)ceil((1.0 - b->tokens) / l->rate);
    pthread_mutex_unlock(&l->lock);
    return wait < 0 ? 1 : wait;
}

/*
 * Whether this request should refresh the session's last_activity_at: when many
 * requests of one session arrive together, all see the same stale time, and each
 * would UPDATE the same row (a row lock and a durable commit each). One of them
 * per interval does it; the table is shared with nothing else and bounded.
 */
static int touch_due(tia__limiter *l, const char *session_id, int64_t every)
{
    int64_t now = tia_now_us();
    uint32_t h = fnv1a(session_id) % TOUCH_SLOTS;
    pthread_mutex_lock(&l->lock);
    touch_slot *t = &l->touched[h];
    int due = strcmp(t->id, session_id) != 0 || now - t->at >= every;
    if (due) {
        snprintf(t->id, sizeof t->id, "%s", session_id);
        t->at = now;
    }
    pthread_mutex_unlock(&l->lock);
    return due;
}

/* ---- tokens ---- */

static int is_read(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* The end of a token check: the refusal answered, or the session's activity refreshed. */
static int settle(tia__call *c, tia_store *s, int rc, tia_error *err)
{
    const tia_server_config *cfg = &c->api->cfg;
    if (rc != 0) {
        if (rc == TIA_EAUTH)
            tia__fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "%s", err->message);
        else
            tia__fail_rc(c, rc, err);
        return -1;
    }
    int64_t every = cfg->activity_interval_us;
    if (every < 0 || (tia_now_us() - c->session->last_activity_at >= every &&
                      touch_due(c->api->limiter, c->session->id, every))) {
        /* A lost race with a revocation is harmless here: the next request sees it. */
        if (tia_session_touch(s, c->session->id, err) == 0)
            c->session->last_activity_at = tia_now_us();
    }
    return 0;
}

/*
 * Whether the token check may travel with the handler's first statement (a guard,
 * store/db.h) instead of costing a round trip of its own. The store runs nothing
 * before the check's verdict; what must hold here is that the handler needs
 * neither the session nor the verdict before its first statement, and does
 * nothing before it that a refusal should have prevented: reads (GET, HEAD) only,
 * and not the session routes (their handlers read c->session), not event
 * streams, not with a rate limit (its bucket is the session's, needed before the
 * handler).
 */
static int may_ride(const tia__call *c)
{
    return is_read(c->method) && c->route != NULL && !(c->route->flags & TIA__R_STREAM) &&
           strncmp(c->route->pattern, "/api/v1/sessions", 16) != 0 && c->api->cfg.rate_limit <= 0;
}

/*
 * Without tokens (--no-auth) nothing ties a write to the server's own pages: any
 * web page the operator opens could send one (a form's POST needs no CORS
 * preflight; the dashboard's cancel and retry take no body). Browsers name the
 * page's origin on every such request, so a write whose Origin is not this
 * server (its Host header) is refused. Clients that send no Origin (curl, the
 * CLI, workers, scripts) are not browsers, and pass.
 */
static int foreign_write(tia__call *c)
{
    if (is_read(c->method))
        return 0;
    const char *origin = tia__value(c, MHD_HEADER_KIND, "Origin");
    if (origin == NULL)
        return 0;
    const char *host = tia__value(c, MHD_HEADER_KIND, "Host");
    const char *sep = strstr(origin, "://");
    if (host != NULL && sep != NULL && strcasecmp(sep + 3, host) == 0)
        return 0;
    tia__fail(c, MHD_HTTP_FORBIDDEN, "forbidden",
              "a write from another origin is refused: this server runs without tokens, and "
              "takes writes from browsers on its own pages only");
    return 1;
}

int tia__authenticate(tia__call *c)
{
    const tia_server_config *cfg = &c->api->cfg;
    if (cfg->auth == TIA_AUTH_OFF)
        return foreign_write(c) ? -1 : 0;
    const char *h = tia__value(c, MHD_HEADER_KIND, "Authorization");
    const char *token = NULL;
    /*
     * A browser's EventSource cannot send headers: the events stream (only it)
     * also takes the token as ?access_token= (the access log records no query).
     */
    if (h == NULL && c->route && strcmp(c->route->pattern, "/api/v1/events") == 0)
        token = tia__query(c, "access_token");
    if (h == NULL && token == NULL) {
        if (cfg->auth == TIA_AUTH_PUBLIC_READ && is_read(c->method))
            return 0;
        tia__fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                  "this request needs a session token (Authorization: Bearer <token>)");
        return -1;
    }
    if (token == NULL) {
        if (strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0' || strchr(h + 7, ' ')) {
            tia__fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                      "malformed Authorization header: expected 'Bearer <token>'");
            return -1;
        }
        token = h + 7;
    }
    tia_store *s = tia__store(c);
    if (s == NULL)
        return -1;
    tia_error err = {0};
    int rc;
    if (!may_ride(c)) {
        rc = tia_session_validate(s, token, &c->session, &err);
        return settle(c, s, rc, &err);
    }
    /* The token (a header value) lives as long as the request. */
    rc = tia__session_check_begin(s, token, &c->check, &err);
    if (rc == 0 && c->check.queued) {
        c->check_pending = 1;
        return 0;
    }
    if (rc == 0)
        rc = tia__session_check_end(s, &c->check, &c->session, &err);
    return settle(c, s, rc, &err);
}

int tia__auth_finish(tia__call *c)
{
    if (!c->check_pending)
        return 0;
    c->check_pending = 0;
    tia_error err = {0};
    tia_store *s = c->store; /* borrowed by tia__authenticate, kept until dispatch ends */
    int rc = tia__session_check_end(s, &c->check, &c->session, &err);
    int carried = c->check.guard.rc == 0;
    if (rc == 0 && carried)
        return settle(c, s, 0, &err);
    /*
     * The handler's statements failed unrun (or the session is refused): its answer
     * was made without a verdict and is not the one to send. A check that failed
     * and then passed was the database failing, not the token: try again.
     */
    tia__unanswer(c);
    if (rc == 0) {
        snprintf(c->retry_after, sizeof c->retry_after, "1");
        tia__fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                  "the session check failed; try again");
        return -1;
    }
    return settle(c, s, rc, &err);
}

int tia__is_admin(tia__call *c)
{
    const tia_server_config *cfg = &c->api->cfg;
    if (cfg->auth == TIA_AUTH_OFF)
        return 1;
    if (tia__auth_finish(c) != 0 || c->session == NULL)
        return 0;
    for (size_t i = 0; i < cfg->n_admin_users; i++)
        if (strcmp(cfg->admin_users[i], c->session->user_id) == 0)
            return 1;
    return 0;
}

int tia__may_act_for(tia__call *c, const char *user_id)
{
    if (tia__is_admin(c))
        return 1;
    return tia__auth_finish(c) == 0 && c->session != NULL &&
           strcmp(c->session->user_id, user_id) == 0;
}
