/*
 * `tokyoia backup FILE` and `tokyoia restore FILE` (the library's
 * include/tokyoia/backup.h does the work). Progress goes to stderr: a bar redrawn
 * in place when stderr is a terminal, otherwise a plain line at every tenth and
 * at every new table, so that logs stay short. The result, with the rate in MB/s
 * (10^6 bytes of FILE per second of the whole operation), goes to stdout.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tokyoia/backup.h>

#include "cli/cli.h"

#define BAR_WIDTH 28

typedef struct meter {
    int tty;
    int drawn;      /* a bar is on the terminal line */
    int tenth;      /* last tenth printed (plain lines) */
    char item[256]; /* last table printed (plain lines) */
    double last_draw;
} meter;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void say_amount(char *buf, size_t n, const tia_backup_progress *p)
{
    int len = 0;
    if (strcmp(p->unit, "bytes") == 0)
        len = snprintf(buf, n, "%.1f/%.1f MB", (double)p->done / 1e6, (double)p->total / 1e6);
    else if (p->total > 0)
        len = snprintf(buf, n, "%" PRId64 "/%" PRId64 " %s", p->done, p->total, p->unit);
    else
        len = snprintf(buf, n, "%" PRId64 " %s", p->done, p->unit);
    if (len >= 0 && (size_t)len < n && p->bytes >= 0 && strcmp(p->unit, "bytes") != 0)
        snprintf(buf + len, n - (size_t)len, ", %.1f MB", (double)p->bytes / 1e6);
}

static void on_progress(void *ctx, const tia_backup_progress *p)
{
    meter *m = ctx;
    char amount[128];
    say_amount(amount, sizeof amount, p);
    int pct = p->total > 0 ? (int)(p->done * 100 / p->total) : -1;
    if (m->tty) {
        double t = now_s();
        if (t - m->last_draw < 0.1 && !(p->total > 0 && p->done == p->total))
            return;
        m->last_draw = t;
        char bar[BAR_WIDTH + 1];
        int fill = pct < 0 ? 0 : pct * BAR_WIDTH / 100;
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        if (pct >= 0)
            fprintf(stderr, "\r%-7s [%s] %3d%%  %s  %.40s\033[K", p->phase, bar, pct, amount,
                    p->item ? p->item : "");
        else
            fprintf(stderr, "\r%-7s %s  %.40s\033[K", p->phase, amount, p->item ? p->item : "");
        m->drawn = 1;
    } else {
        int tenth = pct < 0 ? -1 : pct / 10;
        int new_item = p->item != NULL && strcmp(p->item, m->item) != 0;
        if (new_item) {
            snprintf(m->item, sizeof m->item, "%s", p->item);
            fprintf(stderr, "%s: %s (%s)\n", p->phase, p->item, amount);
        } else if (tenth > m->tenth) {
            fprintf(stderr, "%s: %d%% (%s)\n", p->phase, tenth * 10, amount);
        }
        if (tenth > m->tenth)
            m->tenth = tenth;
    }
    fflush(stderr);
}

static void meter_end(meter *m)
{
    if (m->tty && m->drawn)
        fputs("\r\033[K", stderr);
    m->drawn = 0;
}

static double rate(const tia_backup_result *r)
{
    return r->seconds > 0 ? (double)r->bytes / 1e6 / r->seconds : 0.0;
}

static int print_result(const tia_cli_opts *opts, const char *verb, const char *path, tia_store *s,
                        const tia_backup_result *r, const char *note)
{
    const char *backend = tia_backend_name(tia_store_backend(s));
    if (opts->json) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:f,s:f}", "file", path, "backend", backend,
                              "format", tia_backup_kind_name(r->kind), "bytes",
                              (json_int_t)r->bytes, "seconds", r->seconds, "mb_per_s", rate(r));
        if (o == NULL)
            return tia_cli_oom();
        if (note != NULL)
            json_object_set_new(o, "note", json_string(note));
        return tia_cli_print_object(opts, o, NULL, 0);
    }
    printf("%s %s (%s database, %s): %.1f MB in %.2f s, %.1f MB/s\n", verb, path, backend,
           tia_backup_kind_name(r->kind), (double)r->bytes / 1e6, r->seconds, rate(r));
    if (note != NULL)
        printf("%s\n", note);
    return fflush(stdout) == 0 ? TIA_EXIT_OK : TIA_EXIT_ERROR;
}

/* The SQLite file a URL names (as tia_store_open reads it). */
static const char *sqlite_path(const char *url)
{
    const char *path = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url;
    return strncmp(path, "//", 2) == 0 ? path + 2 : path;
}

/*
 * Opens the database for a restore, without requiring migrations (a restore goes
 * into a new database as well); *created is 1 when this made a new SQLite file,
 * which a refused restore then removes.
 */
static int open_for_restore(const tia_cli_opts *opts, tia_store **s, int *created)
{
    const char *url = tia_store_default_url(opts->db_url);
    struct stat st;
    int existed = stat(sqlite_path(url), &st) == 0;
    int rc = tia_cli_open(opts, TIA_CLI_CREATE, s);
    *created = rc == 0 && tia_store_backend(*s) == TIA_BACKEND_SQLITE && !existed;
    return rc;
}

/* Closes s and removes the SQLite file that open_for_restore created for nothing. */
static void close_db(const tia_cli_opts *opts, tia_store *s, int remove_file)
{
    tia_store_close(s);
    if (!remove_file)
        return;
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    const char *path = sqlite_path(tia_store_default_url(opts->db_url));
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        char p[4200];
        if ((size_t)snprintf(p, sizeof p, "%s%s", path, suffix[i]) < sizeof p)
            unlink(p);
    }
}

int tia_cli_backup(int argc, char **argv, const tia_cli_opts *opts)
{
    tia_backup_options bo = {0};
    const tia_cli_opt o[] = {
        {"--sql", TIA_OPT_FLAG, &bo.sql, 0, NULL,
         "PostgreSQL: plain SQL that 'psql DBNAME < FILE' restores, instead of pg_dump's "
         "custom format",
         NULL},
        {"--force", TIA_OPT_FLAG, &bo.force, 0, NULL, "replace FILE if it exists", NULL},
    };
    tia_cli_parse_spec spec = {
        "backup", "FILE",
        "Writes a consistent backup of the whole database to FILE while writers go on: "
        "pg_dump's custom format on PostgreSQL (plain SQL with --sql), a SQLite file through "
        "SQLite's online backup API. FILE appears only when complete. Restore it with "
        "'tokyoia restore FILE'.",
        o, TIA_CLI_N(o)};
    tia_cli_pos pos;
    int rc = tia_cli_parse(&spec, argc, argv, &pos);
    if (rc >= 0)
        return rc;
    tia_store *s = NULL;
    /* Of an older schema too; a SQLite file that is not there is exit 4, not created. */
    if ((rc = tia_cli_open(opts, TIA_CLI_EXISTING, &s)) != 0)
        return rc;
    meter m = {isatty(STDERR_FILENO), 0, -1, "", 0};
    bo.progress = on_progress;
    bo.progress_ctx = &m;
    tia_error err = {0};
    tia_backup_result res;
    int lrc = tia_backup(s, pos.v[0], &bo, &res, &err);
    meter_end(&m);
    rc = lrc != 0 ? tia_cli_fail(lrc, &err)
                  : print_result(opts, "Backed up to", pos.v[0], s, &res, NULL);
    close_db(opts, s, 0);
    return rc;
}

/* A line for migrations newer than the backup, or NULL when every one is applied. */
static const char *pending_note(tia_store *s, char *buf, size_t n)
{
    tia_migration_status *st = NULL;
    size_t count = 0, pending = 0;
    tia_error err = {0};
    if (tia_store_migration_status(s, &st, &count, &err) != 0)
        return NULL;
    for (size_t i = 0; i < count; i++)
        if (!st[i].applied)
            pending++;
    free(st);
    if (pending == 0)
        return NULL;
    snprintf(buf, n, "%zu migration(s) newer than the backup are pending: run 'tokyoia migrate'",
             pending);
    return buf;
}

int tia_cli_restore(int argc, char **argv, const tia_cli_opts *opts)
{
    tia_backup_options bo = {0};
    const tia_cli_opt o[] = {
        {"--force", TIA_OPT_FLAG, &bo.force, 0, NULL,
         "replace the content of a database that is not empty", NULL},
    };
    tia_cli_parse_spec spec = {
        "restore", "FILE",
        "Restores a backup made by 'tokyoia backup' into the database, in one transaction. "
        "The database must be empty: no tables, or only what 'tokyoia init' writes (the five "
        "seed agents, no task, workflow, metric, interaction or session); --force replaces "
        "whatever it holds.",
        o, TIA_CLI_N(o)};
    tia_cli_pos pos;
    int rc = tia_cli_parse(&spec, argc, argv, &pos);
    if (rc >= 0)
        return rc;
    tia_store *s = NULL;
    int created = 0;
    if ((rc = open_for_restore(opts, &s, &created)) != 0)
        return rc;
    meter m = {isatty(STDERR_FILENO), 0, -1, "", 0};
    bo.progress = on_progress;
    bo.progress_ctx = &m;
    tia_error err = {0};
    tia_backup_result res;
    int lrc = tia_restore(s, pos.v[0], &bo, &res, &err);
    meter_end(&m);
    char note[160];
    if (lrc != 0)
        rc = tia_cli_fail(lrc, &err);
    else
        rc = print_result(opts, "Restored", pos.v[0], s, &res, pending_note(s, note, sizeof note));
    /* A refused restore into a new SQLite file leaves no file behind. */
    close_db(opts, s, created && lrc != 0);
    return rc;
}
