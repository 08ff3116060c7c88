/*
 * Opening the database for a command and turning library errors into one line on
 * stderr and an exit code. Commands other than init, migrate and demo refuse a
 * database that is not fully migrated rather than migrating it behind the user's
 * back, and leave no empty SQLite file behind when they refuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

int tia_cli_exit_code(int rc)
{
    switch (rc) {
    case TIA_OK: return TIA_EXIT_OK;
    case TIA_EINVAL: return TIA_EXIT_INVALID;
    case TIA_ENOTFOUND: return TIA_EXIT_NOTFOUND;
    case TIA_ECONFLICT: return TIA_EXIT_CONFLICT;
    case TIA_EAUTH: return TIA_EXIT_AUTH;
    case TIA_EUNAVAIL:
    case TIA_EBUSY: return TIA_EXIT_UNAVAIL;
    case TIA_ECHECKSUM:
    case TIA_ESCHEMA: return TIA_EXIT_SCHEMA;
    default: return TIA_EXIT_ERROR;
    }
}

int tia_cli_fail(int rc, const tia_error *err)
{
    const char *msg = err && err->message[0] ? err->message : tia_strerror(rc);
    fputs("tokyoia: ", stderr);
    /* One line: libpq's messages span several, with a tab before the hint. */
    int space = 0;
    for (const char *p = msg; *p; p++) {
        int ws = *p == '\n' || *p == '\r' || *p == '\t';
        if (!ws && space && p != msg)
            fputc(' ', stderr);
        if (!ws)
            fputc(*p, stderr);
        space = ws;
    }
    fputc('\n', stderr);
    return tia_cli_exit_code(rc);
}

int tia_cli_oom(void)
{
    fputs("tokyoia: out of memory\n", stderr);
    return TIA_EXIT_ERROR;
}

/* 0 when every embedded migration is applied unchanged; else the TIA_E* code. */
static int check_migrated(tia_store *s, tia_error *err)
{
    tia_migration_status *st = NULL;
    size_t n = 0;
    int rc = tia_store_migration_status(s, &st, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (st[i].changed)
            rc = tia_error_set(err, TIA_ECHECKSUM,
                               "migration %04d_%s changed since it was applied (see 'tokyoia "
                               "migrate status')",
                               st[i].version, st[i].name);
        else if (st[i].unknown)
            rc = tia_error_set(err, TIA_ESCHEMA,
                               "the database has migration %04d, unknown to this tokyoia "
                               "(newer schema)",
                               st[i].version);
        else if (!st[i].applied)
            rc = tia_error_set(err, TIA_ESCHEMA,
                               "the database is not migrated (%04d_%s pending): run 'tokyoia "
                               "init'",
                               st[i].version, st[i].name);
    }
    free(st);
    return rc;
}

/*
 * The store's replica hook for a command: a warning on stderr when the replica
 * is down or lagging (the command still answers, from the primary), and a note
 * when it comes back after one; its first "up" is no news.
 */
static void replica_log(void *arg, tia_replica_state from, tia_replica_state to,
                        const char *message)
{
    (void)arg;
    if (to == TIA_REPLICA_UP && from == TIA_REPLICA_NONE)
        return;
    fprintf(stderr, "tokyoia: %s: %s\n", to == TIA_REPLICA_UP ? "note" : "warning", message);
}

/* ms of a CLI duration (microseconds), 0 for "the default". */
static int to_ms(int64_t us)
{
    return (int)(us / 1000);
}

int tia_cli_open(const tia_cli_opts *opts, int mode, tia_store **out)
{
    tia_error err = {0};
    tia_store *s = NULL;
    const char *url = tia_store_default_url(opts->db_url);
    *out = NULL;
    tia_store_options so = {0};
    so.read_url = tia_store_default_read_url(opts->read_url);
    so.max_replica_lag_ms = to_ms(opts->max_replica_lag);
    so.replica_retry_ms = to_ms(opts->replica_retry);
    so.log = replica_log;
    /* Only init, migrate, demo and restore make a new SQLite file: nothing else
     * creates one, so nothing has a file to remove when it refuses. */
    so.must_exist = mode != TIA_CLI_CREATE;
    int rc = tia_store_open(url, &so, &s, &err);
    if (rc == TIA_ENOTFOUND && mode == TIA_CLI_MIGRATED) {
        char what[sizeof err.message];
        snprintf(what, sizeof what, "%s", err.message);
        rc = tia_error_set(&err, TIA_ESCHEMA, "%s: run 'tokyoia init' first", what);
    }
    if (rc == 0 && mode == TIA_CLI_MIGRATED)
        rc = check_migrated(s, &err);
    if (rc != 0) {
        tia_store_close(s);
        return tia_cli_fail(rc, &err);
    }
    *out = s;
    return 0;
}

static int print_result(const tia_cli_opts *opts, tia_cli_result *res)
{
    json_t *v = res->value;
    res->value = NULL;
    if (!opts->json && res->message[0]) {
        json_decref(v);
        puts(res->message);
        return fflush(stdout) == 0 ? TIA_EXIT_OK : TIA_EXIT_ERROR;
    }
    if (json_is_array(v)) {
        int rc = tia_cli_print_list(opts, v, res->cols);
        if (rc == 0 && res->next_cursor[0])
            fprintf(stderr, "tokyoia: more rows: add --cursor %s\n", res->next_cursor);
        return rc;
    }
    return tia_cli_print_object(opts, v, res->nested, res->n_nested);
}

int tia_cli_run(const tia_cli_parse_spec *spec, int argc, char **argv, tia_cli_pos *pos,
                const tia_cli_opts *opts, tia_cli_body body, void *ctx)
{
    int rc = tia_cli_parse(spec, argc, argv, pos);
    if (rc >= 0)
        return rc;
    tia_store *s = NULL;
    if ((rc = tia_cli_open(opts, TIA_CLI_MIGRATED, &s)) != 0)
        return rc;
    tia_error err = {0};
    tia_cli_result res = {0};
    int lrc = body(s, ctx, &res, &err);
    rc = lrc != 0 ? tia_cli_fail(lrc, &err) : print_result(opts, &res);
    json_decref(res.value);
    tia_store_close(s);
    return rc;
}

int tia_cli_parse_listen(const char *text, char *host, size_t host_len, int *port)
{
    const char *colon = NULL;
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (end == NULL || (size_t)(end - text - 1) >= host_len)
            return -1;
        snprintf(host, host_len, "%.*s", (int)(end - text - 1), text + 1);
        colon = end[1] == ':' ? end + 1 : NULL;
        if (end[1] != '\0' && end[1] != ':')
            return -1;
    } else {
        colon = strrchr(text, ':');
        if (colon != NULL && strchr(text, ':') != colon)
            return -1; /* two colons: an IPv6 address, which goes in brackets */
        size_t n = colon ? (size_t)(colon - text) : strlen(text);
        if (n >= host_len)
            return -1;
        snprintf(host, host_len, "%.*s", (int)n, text);
    }
    if (host[0] == '\0')
        snprintf(host, host_len, "0.0.0.0");
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (colon[1] == '\0' || *end || p < 0 || p > 65535)
            return -1;
        *port = (int)p;
    }
    return 0;
}

int tia_cli_port_from_env(int *port)
{
    const char *e = getenv("PORT");
    if (e == NULL || *e == '\0')
        return 0;
    char *end;
    long p = strtol(e, &end, 10);
    if (*end || p < 0 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}
