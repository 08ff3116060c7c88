/*
 * `tokyoia serve`: the Registry API (include/tokyoia/server.h) as a process.
 * Flags and the environment (PORT, DATABASE_URL, DATABASE_READ_URL) become a
 * tia_server_config; the process then waits for SIGTERM or SIGINT with sigwait,
 * having blocked them before the server's threads started so that only this
 * thread receives them, and shuts the server down gracefully: it exits 0 when
 * every in-flight request finished within the grace period, 1 otherwise.
 */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokyoia/server.h>

#include "cli/cli.h"

typedef struct serve_args {
    tia_cli_pos pos;
    const char *listen, *auth, *access_log, *shared_reads;
    tia_cli_strv admins;
    int64_t threads, pool, db_threads, rate_burst, max_body, max_header, max_conn;
    int64_t idle, grace, activity, db_wait, budget;
    double rate;
    int public_read, no_auth, migrate;
} serve_args;

/* "HOST:PORT", "[V6]:PORT", ":PORT" or "HOST"; PORT from the environment when absent. */
static int to_int(int64_t v)
{
    return v > INT_MAX ? INT_MAX : (int)v;
}

static int build_config(serve_args *a, const tia_cli_opts *opts, tia_server_config *cfg,
                        char *host, size_t host_len, FILE **log)
{
    int port = 8080;
    if (tia_cli_port_from_env(&port) != 0)
        return tia_cli_usage_error("serve", "PORT must be a port number (0..65535)");
    if (a->listen && tia_cli_parse_listen(a->listen, host, host_len, &port) != 0)
        return tia_cli_usage_error(
            "serve", "--listen: '%s' is not HOST:PORT (an IPv6 address in brackets: [::1]:8080)",
            a->listen);
    if (a->listen == NULL)
        snprintf(host, host_len, "127.0.0.1");
    memset(cfg, 0, sizeof *cfg);
    cfg->db_url = opts->db_url;
    cfg->db_read_url = opts->read_url; /* NULL: $DATABASE_READ_URL or none */
    cfg->max_replica_lag_ms = to_int(opts->max_replica_lag / 1000);
    cfg->replica_retry_ms = to_int(opts->replica_retry / 1000);
    cfg->warnings = stderr;
    cfg->listen_host = host;
    cfg->port = port;
    cfg->threads = to_int(a->threads);
    cfg->db_pool = to_int(a->pool);
    cfg->db_threads = to_int(a->db_threads);
    cfg->db_wait_ms = to_int(a->db_wait / 1000);
    cfg->auth = TIA_AUTH_REQUIRED;
    if (a->auth) {
        if (strcmp(a->auth, "required") == 0)
            cfg->auth = TIA_AUTH_REQUIRED;
        else if (strcmp(a->auth, "public-read") == 0)
            cfg->auth = TIA_AUTH_PUBLIC_READ;
        else if (strcmp(a->auth, "off") == 0)
            cfg->auth = TIA_AUTH_OFF;
        else
            return tia_cli_usage_error("serve", "--auth must be required, public-read or off");
    }
    if (a->public_read)
        cfg->auth = TIA_AUTH_PUBLIC_READ;
    if (a->no_auth)
        cfg->auth = TIA_AUTH_OFF;
    cfg->admin_users = a->admins.v;
    cfg->n_admin_users = a->admins.n;
    cfg->rate_limit = a->rate;
    cfg->rate_burst = to_int(a->rate_burst);
    cfg->max_body = (size_t)a->max_body;
    cfg->max_header = (size_t)a->max_header;
    cfg->idle_timeout_s = to_int(a->idle / 1000000);
    if (a->idle > 0 && cfg->idle_timeout_s == 0)
        cfg->idle_timeout_s = 1;
    cfg->max_connections = to_int(a->max_conn);
    cfg->activity_interval_us = a->activity;
    cfg->shutdown_grace_ms = to_int(a->grace / 1000);
    cfg->migrate = a->migrate;
    cfg->daily_budget_micros = a->budget;
    if (a->shared_reads != NULL && strcmp(a->shared_reads, "on") != 0 &&
        strcmp(a->shared_reads, "off") != 0)
        return tia_cli_usage_error("serve", "--shared-reads must be on or off");
    cfg->no_shared_reads = a->shared_reads != NULL && strcmp(a->shared_reads, "off") == 0;
    *log = NULL;
    if (a->access_log == NULL || strcmp(a->access_log, "-") == 0) {
        cfg->access_log = stderr;
    } else if (strcmp(a->access_log, "off") != 0) {
        *log = fopen(a->access_log, "a");
        if (*log == NULL) {
            fprintf(stderr, "tokyoia: cannot open access log %s: %m\n", a->access_log);
            return TIA_EXIT_ERROR;
        }
        cfg->access_log = *log;
    }
    return -1;
}

int tia_cli_serve(int argc, char **argv, const tia_cli_opts *opts)
{
    serve_args a = {0};
    const tia_cli_opt o[] = {
        {"--listen", TIA_OPT_STR, &a.listen, 0, "HOST:PORT",
         "address to listen on (default 127.0.0.1:8080; the port from $PORT when set)", NULL},
        {"--threads", TIA_OPT_POSINT, &a.threads, 0, "N",
         "HTTP threads: read requests and send answers (default 2)", NULL},
        {"--db-pool", TIA_OPT_POSINT, &a.pool, 0, "N",
         "database connections (default: threads + db-threads)", NULL},
        {"--db-threads", TIA_OPT_POSINT, &a.db_threads, 0, "N",
         "threads that run the requests that use the database, so that HTTP threads never "
         "wait for it (default 8)",
         NULL},
        {"--db-wait", TIA_OPT_DURATION, &a.db_wait, 0, "DURATION",
         "wait for a free database thread, then connection, before answering 503 (default 5s)",
         NULL},
        {"--auth", TIA_OPT_STR, &a.auth, 0, "MODE",
         "required (default), public-read (reads need no token) or off", NULL},
        {"--public-read", TIA_OPT_FLAG, &a.public_read, 0, NULL, "same as --auth public-read",
         NULL},
        {"--no-auth", TIA_OPT_FLAG, &a.no_auth, 0, NULL,
         "same as --auth off: no tokens, for a trusted network", NULL},
        {"--admin", TIA_OPT_MULTI, &a.admins, 0, "USER",
         "a user whose sessions may log in other users", NULL},
        {"--rate-limit", TIA_OPT_DOUBLE, &a.rate, 0, "N",
         "requests per second per token (per address without one); 0: none (default)", NULL},
        {"--rate-burst", TIA_OPT_INT, &a.rate_burst, 0, "N",
         "requests allowed at once before the rate applies (default 2 x rate)", NULL},
        {"--max-body", TIA_OPT_POSINT, &a.max_body, 0, "BYTES",
         "largest request body (default 1048576)", NULL},
        {"--max-header", TIA_OPT_POSINT, &a.max_header, 0, "BYTES",
         "largest request line and headers (default 16384)", NULL},
        {"--idle-timeout", TIA_OPT_DURATION, &a.idle, 0, "DURATION",
         "close connections idle (or slow) this long (default 30s)", NULL},
        {"--max-connections", TIA_OPT_POSINT, &a.max_conn, 0, "N",
         "connections at once (default 1000)", NULL},
        {"--activity-interval", TIA_OPT_DURATION, &a.activity, 0, "DURATION",
         "refresh a session's last_activity_at at most this often (default 10s)", NULL},
        {"--grace", TIA_OPT_DURATION, &a.grace, 0, "DURATION",
         "on SIGTERM, how long in-flight requests may finish (default 10s)", NULL},
        {"--access-log", TIA_OPT_STR, &a.access_log, 0, "FILE",
         "JSON lines, one per request: a file, - for stderr (default) or off", NULL},
        {"--shared-reads", TIA_OPT_STR, &a.shared_reads, 0, "on|off",
         "identical reads (same path, query and token) waiting together share one answer, "
         "read after they all arrived (default on)",
         NULL},
        {"--migrate", TIA_OPT_FLAG, &a.migrate, 0, NULL, "apply pending migrations first", NULL},
        {"--daily-budget", TIA_OPT_COST, &a.budget, 0, "USD",
         "daily spend budget shown (and warned about) by the dashboard", NULL},
    };
    tia_cli_parse_spec spec = {"serve", "",
                               "Serves the Registry API over HTTP (see docs/api.md); SIGTERM "
                               "or Ctrl-C shuts down gracefully.",
                               o, TIA_CLI_N(o)};
    int code = tia_cli_parse(&spec, argc, argv, &a.pos);
    tia_server_config cfg;
    char host[128];
    FILE *log = NULL;
    tia_server *srv = NULL;
    tia_error err = {0};
    sigset_t set;
    if (code >= 0)
        goto done;
    if ((code = build_config(&a, opts, &cfg, host, sizeof host, &log)) >= 0)
        goto done;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int rc = tia_server_start(&cfg, &srv, &err);
    if (rc != 0) {
        code = tia_cli_fail(rc, &err);
        goto done;
    }
    printf("tokyoia: serving http://%s%s%s:%d (%s, auth %s)\n", strchr(host, ':') ? "[" : "", host,
           strchr(host, ':') ? "]" : "", tia_server_port(srv),
           tia_store_default_url(opts->db_url),
           cfg.auth == TIA_AUTH_OFF ? "off" : cfg.auth == TIA_AUTH_PUBLIC_READ ? "public-read"
                                                                              : "required");
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "tokyoia: %s: shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    int left = tia_server_shutdown(srv);
    srv = NULL;
    if (left > 0)
        fprintf(stderr, "tokyoia: %d request(s) still in flight after the grace period\n", left);
    code = left > 0 ? TIA_EXIT_ERROR : TIA_EXIT_OK;
done:
    tia_server_shutdown(srv);
    if (log)
        fclose(log);
    tia_cli_strv_free(&a.admins);
    return code;
}
