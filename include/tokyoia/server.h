/*
 * The Registry API: an HTTP/JSON server over the store and the engine (see
 * docs/api.md). It answers the original Registry API's paths (/health,
 * /api/agents, /api/tasks, /api/workflows, /api/metrics) and the full API under
 * /api/v1, with Bearer-token sessions, per-token rate limits, Server-Sent Events,
 * Prometheus metrics and a JSON access log. It runs on libmicrohttpd's thread
 * pool; each request borrows one connection of a pool of stores for its duration.
 *
 * Threads: tia_server_start returns once the server listens; requests are served
 * by the server's own threads. tia_server_shutdown may be called from any thread
 * except the server's (not from a signal handler: set a flag there and call it
 * from the main thread).
 */
#ifndef TOKYOIA_SERVER_H
#define TOKYOIA_SERVER_H

#include <stdint.h>
#include <stdio.h>

#include <tokyoia/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Authentication of requests. */
typedef enum tia_auth_mode {
    TIA_AUTH_REQUIRED = 0, /* every request but /health, /ready, /metrics needs a token */
    TIA_AUTH_PUBLIC_READ,  /* reads (GET, HEAD) open, writes need a token */
    TIA_AUTH_OFF           /* no tokens (a trusted network; the original clients) */
} tia_auth_mode;

/* The highest rate_limit tia_server_start takes (NaN and infinity are refused). */
#define TIA_SERVER_RATE_MAX 1000000.0

typedef struct tia_server_config {
    const char *db_url;       /* NULL: tia_store_default_url(NULL) */
    const char *listen_host;  /* numeric IPv4 or IPv6 address; NULL: "127.0.0.1" */
    int port;                 /* 0: any free port (see tia_server_port) */
    int threads;              /* HTTP worker threads; 0: 2 */
    int db_pool;              /* database connections; 0: threads + db_threads */
    int db_threads;           /* threads that run the handlers that use the database; 0: 8 */
    int db_wait_ms;           /* wait for a free db thread, then connection, before 503; 0: 5000 */
    tia_auth_mode auth;
    const char *const *admin_users; /* may create sessions for any user */
    size_t n_admin_users;
    double rate_limit;        /* requests per second per token (or per address
                                 without one), 0..TIA_SERVER_RATE_MAX; 0: unlimited */
    int rate_burst;           /* bucket size; 0: twice rate_limit (at least 1) */
    size_t max_body;          /* bytes; 0: 1 MiB */
    size_t max_header;        /* bytes for the request line and headers; 0: 16 KiB */
    int idle_timeout_s;       /* close connections idle this long; 0: 30 */
    int max_connections;      /* 0: 1000 */
    int64_t activity_interval_us; /* refresh last_activity_at at most this often; 0: 10 s,
                                     <0: on every request */
    int shutdown_grace_ms;    /* wait for in-flight requests on shutdown; 0: 10000 */
    FILE *access_log;         /* JSON lines; NULL: none */
    int migrate;              /* 1: apply pending migrations at start */
    int64_t daily_budget_micros; /* the dashboard's daily spend budget; 0: none */
    /*
     * A PostgreSQL read replica for the routed reads (tia_store_options.read_url);
     * NULL: tia_store_default_read_url(NULL), so $DATABASE_READ_URL or none. Every
     * pool connection gets its own replica connection.
     */
    const char *db_read_url;
    int max_replica_lag_ms;   /* 0: 10000; < 0: no lag check */
    int replica_retry_ms;     /* retry a down replica after this long; 0: 30000 */
    FILE *warnings;           /* "tokyoia: warning: ..." lines (replica down, lagging,
                                 back; at most one per change); NULL: none */
    /*
     * 1: every read runs its own statements. 0 (the default): identical reads
     * (same target, same token) that arrive while one is being answered wait
     * and share the next answer, read after they all arrived, so no answer is
     * older than its request; the database sees one query per turn.
     */
    int no_shared_reads;
} tia_server_config;

typedef struct tia_server tia_server;

/*
 * Opens the database pool (refusing a database that is not fully migrated,
 * unless cfg->migrate), binds and starts serving. On success *out owns the
 * server. TIA_EINVAL (bad config), TIA_EIO (cannot bind), TIA_EUNAVAIL,
 * TIA_ESCHEMA.
 */
int tia_server_start(const tia_server_config *cfg, tia_server **out, tia_error *err);

/* The port the server listens on (useful with port 0). */
int tia_server_port(const tia_server *srv);

/*
 * Graceful shutdown: stops accepting connections, ends event streams, waits up
 * to shutdown_grace_ms for in-flight requests to finish, closes every
 * connection and the database pool, and frees the server. NULL is accepted.
 * Returns the number of requests that were still in flight when the grace
 * period ran out (0 normally).
 */
int tia_server_shutdown(tia_server *srv);

#ifdef __cplusplus
}
#endif
#endif
