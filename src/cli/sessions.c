/*
 * `tokyoia sessions`: create (the token is printed this once; the database keeps
 * only its hash), list, validate, revoke and expire.
 */
#include <inttypes.h>
#include <stdio.h>

#include <tokyoia/sessions.h>

#include "cli/cli.h"

static const char *const cols[] = {"id",         "user_id",    "status",
                                   "ip_address", "started_at", "expires_at"};

typedef struct session_args {
    tia_cli_pos pos;
    const char *user, *ip, *device;
    int64_t ttl;
} session_args;

static int create_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    session_args *a = ctx;
    tia_session_new n = {a->user, a->device, a->ip, a->ttl};
    char token[TIA_TOKEN_BUF], id[TIA_UUID_BUF];
    tia_session *got = NULL;
    int rc = tia_session_create(s, &n, token, id, err);
    if (rc == 0)
        rc = tia_session_get(s, id, &got, err);
    if (rc == 0) {
        res->value = tia__json_session(got);
        tia__jstr(res->value, "token", token);
    }
    tia_session_free(got);
    return rc;
}

static int sessions_create(int argc, char **argv, const tia_cli_opts *opts)
{
    session_args a = {0};
    a.ttl = INT64_C(86400000000);
    const tia_cli_opt o[] = {
        {"--user", TIA_OPT_STR, &a.user, 1, "U", "user id", NULL},
        {"--ttl", TIA_OPT_DURATION, &a.ttl, 0, "DURATION", "lifetime (default 24h)", NULL},
        {"--ip", TIA_OPT_STR, &a.ip, 0, "IP", "client address (IPv4 or IPv6)", NULL},
        {"--device", TIA_OPT_STR, &a.device, 0, "JSON", "device info", NULL},
    };
    tia_cli_parse_spec spec = {"sessions create", "",
                               "Creates a session and prints its token, the only time it is "
                               "shown.",
                               o, TIA_CLI_N(o)};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, create_body, &a);
}

static int list_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    struct tia_session_list l = {0};
    int rc = tia_session_list(s, ((session_args *)ctx)->user, &l, err);
    if (rc == 0) {
        res->value = json_array();
        for (size_t i = 0; i < l.n; i++)
            json_array_append_new(res->value, tia__json_session(l.items[i]));
        res->cols = TIA_CLI_COLS(cols);
    }
    tia_session_list_free(&l);
    return rc;
}

static int sessions_list(int argc, char **argv, const tia_cli_opts *opts)
{
    session_args a = {0};
    const tia_cli_opt o[] = {
        {"--user", TIA_OPT_STR, &a.user, 0, "U", "only this user's sessions", NULL},
    };
    tia_cli_parse_spec spec = {"sessions list", "", "Lists sessions, newest first.", o,
                               TIA_CLI_N(o)};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, list_body, &a);
}

static int validate_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    tia_session *got = NULL;
    int rc = tia_session_validate(s, ((session_args *)ctx)->pos.v[0], &got, err);
    if (rc == 0)
        res->value = tia__json_session(got);
    tia_session_free(got);
    return rc;
}

static int sessions_validate(int argc, char **argv, const tia_cli_opts *opts)
{
    session_args a = {0};
    tia_cli_parse_spec spec = {"sessions validate", "TOKEN",
                               "Checks a token: shows its session, or exits 6 when it is "
                               "unknown, revoked or expired.",
                               NULL, 0};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, validate_body, &a);
}

static int revoke_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    const char *id = ((session_args *)ctx)->pos.v[0];
    int rc = tia_session_revoke(s, id, err);
    if (rc == 0) {
        res->value = json_pack("{s:s}", "revoked", id);
        snprintf(res->message, sizeof res->message, "Revoked session %s.", id);
    }
    return rc;
}

static int sessions_revoke(int argc, char **argv, const tia_cli_opts *opts)
{
    session_args a = {0};
    tia_cli_parse_spec spec = {"sessions revoke", "ID", "Revokes a session at once.", NULL, 0};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, revoke_body, &a);
}

static int expire_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    (void)ctx;
    int64_t n = 0;
    int rc = tia_session_expire(s, &n, err);
    if (rc == 0) {
        res->value = json_pack("{s:I}", "expired", (json_int_t)n);
        snprintf(res->message, sizeof res->message, "Expired %" PRId64 " session(s).", n);
    }
    return rc;
}

static int sessions_expire(int argc, char **argv, const tia_cli_opts *opts)
{
    session_args a = {0};
    tia_cli_parse_spec spec = {"sessions expire", "",
                               "Marks every active session past its expiry as expired.", NULL, 0};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, expire_body, &a);
}

int tia_cli_sessions(int argc, char **argv, const tia_cli_opts *opts)
{
    static const tia_cli_cmd cmds[] = {
        {"create", "", "create a session and print its token", sessions_create},
        {"list", "", "list sessions", sessions_list},
        {"validate", "TOKEN", "check a token", sessions_validate},
        {"revoke", "ID", "revoke a session", sessions_revoke},
        {"expire", "", "expire the sessions past their expiry", sessions_expire},
    };
    return tia_cli_dispatch("sessions", "User sessions.", cmds, TIA_CLI_N(cmds), "list", argc, argv,
                            opts);
}
