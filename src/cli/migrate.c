/*
 * `tokyoia init`, `tokyoia migrate` and `tokyoia migrate status`. The library
 * reports only how many migrations it applied, so the names of the applied ones
 * come from comparing the status before and after.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int tia_cli_apply_migrations(tia_store *s, json_t **applied, tia_error *err)
{
    tia_migration_status *before = NULL, *after = NULL;
    size_t nb = 0, na = 0;
    *applied = NULL;
    int rc = tia_store_migration_status(s, &before, &nb, err);
    if (rc == 0)
        rc = tia_store_migrate(s, NULL, err);
    if (rc == 0)
        rc = tia_store_migration_status(s, &after, &na, err);
    if (rc != 0)
        goto done;
    json_t *arr = json_array();
    for (size_t i = 0; i < na; i++) {
        int was = 0;
        for (size_t j = 0; j < nb; j++)
            if (before[j].version == after[i].version)
                was = before[j].applied;
        if (after[i].applied && !was)
            json_array_append_new(
                arr, json_pack("{s:i,s:s}", "version", after[i].version, "name", after[i].name));
    }
    *applied = arr;
done:
    free(before);
    free(after);
    return rc;
}

void tia_cli_say_applied(const tia_cli_opts *opts, tia_store *s, const json_t *applied)
{
    size_t i;
    json_t *m;
    const char *backend = tia_backend_name(tia_store_backend(s));
    if (json_array_size(applied) == 0)
        tia_cli_say(opts, "Database (%s) is up to date: no migration to apply.", backend);
    json_array_foreach(applied, i, m)
        tia_cli_say(opts, "Applied migration %04d_%s (%s).",
                    (int)json_integer_value(json_object_get(m, "version")),
                    json_string_value(json_object_get(m, "name")), backend);
}

/* init and migrate up: the same work, one JSON object or lines. */
static int apply(int argc, char **argv, const tia_cli_opts *opts, const char *command,
                 const char *summary)
{
    tia_cli_parse_spec spec = {command, "", summary, NULL, 0};
    tia_cli_pos pos;
    int rc = tia_cli_parse(&spec, argc, argv, &pos);
    if (rc >= 0)
        return rc;
    tia_store *s = NULL;
    if ((rc = tia_cli_open(opts, TIA_CLI_CREATE, &s)) != 0)
        return rc;
    tia_error err = {0};
    json_t *applied = NULL;
    int lrc = tia_cli_apply_migrations(s, &applied, &err);
    if (lrc != 0) {
        rc = tia_cli_fail(lrc, &err);
    } else if (opts->json) {
        rc = tia_cli_print_object(opts,
                                  json_pack("{s:s,s:O}", "backend",
                                            tia_backend_name(tia_store_backend(s)), "applied",
                                            applied),
                                  NULL, 0);
    } else {
        tia_cli_say_applied(opts, s, applied);
    }
    json_decref(applied);
    tia_store_close(s);
    return rc;
}

int tia_cli_init(int argc, char **argv, const tia_cli_opts *opts)
{
    return apply(argc, argv, opts, "init",
                 "Opens the database (creating a SQLite file if needed) and applies every "
                 "pending migration.");
}

static int migrate_up(int argc, char **argv, const tia_cli_opts *opts)
{
    return apply(argc, argv, opts, "migrate up",
                 "Applies every pending migration; refuses (exit 8) when an applied one "
                 "changed.");
}

static json_t *status_json(const tia_migration_status *m)
{
    char sum[13];
    snprintf(sum, sizeof sum, "%.12s", m->checksum);
    const char *flag = m->changed ? "CHANGED" : m->unknown ? "UNKNOWN" : "";
    json_t *o = json_object();
    tia__jint(o, "version", m->version);
    tia__jstr(o, "name", m->name);
    json_object_set_new(o, "applied", json_boolean(m->applied));
    tia__jtime(o, "applied_at", m->applied_at);
    tia__jstr(o, "checksum", sum);
    tia__jstr(o, "flags", flag);
    return o;
}

static int migrate_status(int argc, char **argv, const tia_cli_opts *opts)
{
    static const char *const cols[] = {"version",    "name",     "applied",
                                       "applied_at", "checksum", "flags"};
    tia_cli_parse_spec spec = {"migrate status", "",
                               "Lists the migrations: applied or not, when, checksum prefix; "
                               "CHANGED when an applied one's text differs, UNKNOWN when the "
                               "database has one this binary does not.",
                               NULL, 0};
    tia_cli_pos pos;
    int rc = tia_cli_parse(&spec, argc, argv, &pos);
    if (rc >= 0)
        return rc;
    tia_store *s = NULL;
    if ((rc = tia_cli_open(opts, TIA_CLI_CREATE, &s)) != 0)
        return rc;
    tia_error err = {0};
    tia_migration_status *st = NULL;
    size_t n = 0;
    int lrc = tia_store_migration_status(s, &st, &n, &err);
    if (lrc != 0) {
        rc = tia_cli_fail(lrc, &err);
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, status_json(&st[i]));
        rc = tia_cli_print_list(opts, arr, TIA_CLI_COLS(cols));
    }
    free(st);
    tia_store_close(s);
    return rc;
}

int tia_cli_migrate(int argc, char **argv, const tia_cli_opts *opts)
{
    static const tia_cli_cmd cmds[] = {
        {"up", "", "apply pending migrations", migrate_up},
        {"status", "", "list migrations with their state and checksums", migrate_status},
    };
    return tia_cli_dispatch("migrate", "Applies or lists the schema migrations.", cmds, 2, "up",
                            argc, argv, opts);
}
