/*
 * The server's request counters for Prometheus (GET /metrics, ops.c): requests
 * by route pattern, method and status, and a latency histogram per route. The
 * request path only adds to atomic counters (relaxed: each is a tally that no
 * other memory depends on), so a scrape never slows a request and no lock is
 * taken; a scrape reads them one by one, which may mix counts from just before
 * and just after a request, as Prometheus clients accept. A route's histogram
 * count is the sum of its buckets as read, so the two always agree.
 *
 * Memory is fixed at start: a counter per route and HTTP status (100..599) and
 * per route and bucket, about 4 KiB per route, mostly untouched pages.
 * Requests that matched no route (404, 405, a malformed path) share one row.
 * Event streams are counted but not timed: their duration is the client's.
 *
 * The read replica's families (tia__prom_write_replica) come from the pool's
 * sums, which the stores keep as atomics of their own.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/api.h"

#define STATUS_MIN 100
#define STATUS_N 500 /* 100..599 */

/* Bucket bounds in microseconds; a last bucket (+Inf) follows. */
static const int64_t bounds_us[] = {1000,   2500,   5000,    10000,   25000,   50000,   100000,
                                    250000, 500000, 1000000, 2500000, 5000000, 10000000};
#define N_BOUNDS (sizeof bounds_us / sizeof bounds_us[0])
#define N_BUCKETS (N_BOUNDS + 1)

struct tia__prom {
    size_t n_rows;             /* routes + 1 (unmatched) */
    _Atomic uint64_t *status;  /* [row][STATUS_N] */
    _Atomic uint64_t *buckets; /* [row][N_BUCKETS], not cumulative */
    _Atomic uint64_t *sum_us;  /* [row] */
};

int tia__prom_new(size_t n_routes, tia__prom **out)
{
    tia__prom *p = calloc(1, sizeof *p);
    *out = NULL;
    if (p == NULL)
        return TIA_ENOMEM;
    p->n_rows = n_routes + 1;
    /* calloc's zero bytes are zero counters: lock-free atomics have no hidden state. */
    p->status = calloc(p->n_rows * STATUS_N, sizeof *p->status);
    p->buckets = calloc(p->n_rows * N_BUCKETS, sizeof *p->buckets);
    p->sum_us = calloc(p->n_rows, sizeof *p->sum_us);
    if (p->status == NULL || p->buckets == NULL || p->sum_us == NULL) {
        tia__prom_free(p);
        return TIA_ENOMEM;
    }
    *out = p;
    return 0;
}

void tia__prom_free(tia__prom *p)
{
    if (p == NULL)
        return;
    free(p->status);
    free(p->buckets);
    free(p->sum_us);
    free(p);
}

void tia__prom_observe(tia__prom *p, size_t route_id, int status, int64_t dur_us)
{
    size_t n;
    const tia__route *routes = tia__routes(&n);
    size_t row = route_id < p->n_rows - 1 ? route_id : p->n_rows - 1;
    if (status < STATUS_MIN || status >= STATUS_MIN + STATUS_N)
        status = 500; /* not an HTTP status: counted as the server's fault */
    atomic_fetch_add_explicit(&p->status[row * STATUS_N + (size_t)(status - STATUS_MIN)], 1,
                              memory_order_relaxed);
    if (row < n && (routes[row].flags & TIA__R_STREAM))
        return;
    if (dur_us < 0)
        dur_us = 0;
    size_t b = 0;
    while (b < N_BOUNDS && dur_us > bounds_us[b])
        b++;
    atomic_fetch_add_explicit(&p->buckets[row * N_BUCKETS + b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->sum_us[row], (uint64_t)dur_us, memory_order_relaxed);
}

/* A label value with Prometheus' escapes (backslash, double quote, newline). */
static void put_value(FILE *f, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fputc('\\', f);
        if (*v == '\n') {
            fputs("\\n", f);
            continue;
        }
        fputc(*v, f);
    }
}

/* {route="...",method="..." (the caller closes the brace or adds labels). */
static void put_route(FILE *f, const tia__route *routes, size_t n, size_t row)
{
    fputs("{route=\"", f);
    put_value(f, row < n ? routes[row].pattern : "unmatched");
    fputs("\",method=\"", f);
    put_value(f, row < n ? routes[row].method : "any");
    fputc('"', f);
}

static void put_le(FILE *f, size_t b)
{
    if (b == N_BOUNDS)
        fputs(",le=\"+Inf\"}", f);
    else
        fprintf(f, ",le=\"%g\"}", (double)bounds_us[b] / 1e6);
}

void tia__prom_write(tia__prom *p, FILE *f)
{
    size_t n;
    const tia__route *routes = tia__routes(&n);
    if (n > p->n_rows - 1)
        n = p->n_rows - 1;

    fputs("# HELP tokyoia_http_requests_total HTTP requests answered, by route pattern, method "
          "and status (route \"unmatched\": no route matched).\n"
          "# TYPE tokyoia_http_requests_total counter\n",
          f);
    for (size_t row = 0; row < p->n_rows; row++)
        for (size_t st = 0; st < STATUS_N; st++) {
            uint64_t v =
                atomic_load_explicit(&p->status[row * STATUS_N + st], memory_order_relaxed);
            if (v == 0)
                continue;
            fputs("tokyoia_http_requests_total", f);
            put_route(f, routes, n, row);
            fprintf(f, ",status=\"%zu\"} %llu\n", st + STATUS_MIN, (unsigned long long)v);
        }

    fputs("# HELP tokyoia_http_request_duration_seconds Time from the request's first byte to "
          "its answer sent, by route (event streams are not timed).\n"
          "# TYPE tokyoia_http_request_duration_seconds histogram\n",
          f);
    for (size_t row = 0; row < p->n_rows; row++) {
        uint64_t counts[N_BUCKETS], total = 0;
        for (size_t b = 0; b < N_BUCKETS; b++) {
            counts[b] =
                atomic_load_explicit(&p->buckets[row * N_BUCKETS + b], memory_order_relaxed);
            total += counts[b];
        }
        if (total == 0)
            continue;
        uint64_t cum = 0;
        for (size_t b = 0; b < N_BUCKETS; b++) {
            cum += counts[b];
            fputs("tokyoia_http_request_duration_seconds_bucket", f);
            put_route(f, routes, n, row);
            put_le(f, b);
            fprintf(f, " %llu\n", (unsigned long long)cum);
        }
        uint64_t sum = atomic_load_explicit(&p->sum_us[row], memory_order_relaxed);
        fputs("tokyoia_http_request_duration_seconds_sum", f);
        put_route(f, routes, n, row);
        fprintf(f, "} %.6f\n", (double)sum / 1e6);
        fputs("tokyoia_http_request_duration_seconds_count", f);
        put_route(f, routes, n, row);
        fprintf(f, "} %llu\n", (unsigned long long)total);
    }
}

void tia__prom_write_replica(FILE *f, const tia_replica_status *st)
{
    if (st->state == TIA_REPLICA_NONE)
        return; /* no read replica: every read is the primary's, nothing to tell apart */
    fputs("# HELP tokyoia_db_reads_total Routed reads (lists, statistics, series) by the "
          "connection that answered them: the read replica or the primary.\n"
          "# TYPE tokyoia_db_reads_total counter\n",
          f);
    fprintf(f, "tokyoia_db_reads_total{target=\"primary\"} %llu\n",
            (unsigned long long)st->reads_primary);
    fprintf(f, "tokyoia_db_reads_total{target=\"replica\"} %llu\n",
            (unsigned long long)st->reads_replica);
    fputs("# HELP tokyoia_db_replica_fallbacks_total Reads that failed on the read replica "
          "and were answered by the primary.\n"
          "# TYPE tokyoia_db_replica_fallbacks_total counter\n",
          f);
    fprintf(f, "tokyoia_db_replica_fallbacks_total %llu\n", (unsigned long long)st->fallbacks);
    fputs("# HELP tokyoia_db_replica_up 1 when routed reads go to the read replica, 0 when it "
          "is down or lagging.\n"
          "# TYPE tokyoia_db_replica_up gauge\n",
          f);
    fprintf(f, "tokyoia_db_replica_up %d\n", st->state == TIA_REPLICA_UP);
    if (st->lag_ms >= 0) {
        fputs("# HELP tokyoia_db_replica_lag_seconds How far the read replica was behind the "
              "primary at its last check.\n"
              "# TYPE tokyoia_db_replica_lag_seconds gauge\n",
              f);
        fprintf(f, "tokyoia_db_replica_lag_seconds %.3f\n", (double)st->lag_ms / 1000.0);
    }
}
