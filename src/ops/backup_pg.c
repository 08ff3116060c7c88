/*
 * Backup and restore on PostgreSQL: pg_dump, pg_restore and psql run as child
 * processes with posix_spawn, never through a shell. They are found as
 * scripts/pg-test-cluster.sh finds the server's binaries: $TIA_PG_BINDIR, then
 * PATH, then the newest /usr/lib/postgresql/VERSION/bin. The connection goes to
 * them through the environment (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGSSLMODE...,
 * each from the store's own connection as PQconninfo reports it), so that no
 * password appears on a command line; psql gets only `--dbname=dbname=...`.
 * Every restore is psql running plain SQL in one transaction: a custom archive is
 * first turned into SQL by pg_restore -f (tia__bk_pg_restore says why). Messages
 * are asked for in English (LC_MESSAGES=C) because their --verbose lines are what
 * the progress counts: "dumping contents of table" for pg_dump, "creating" and
 * "processing data for table" for pg_restore; plain SQL is fed to psql through a
 * socket so that progress is the bytes sent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "ops/backup_int.h"
#include "store/backend.h"
#include "store/db.h"

extern char **environ;

#define TOOL_PATH_MAX 4096
#define LINE_MAX_LEN 4096
#define TICK_MS 250
#define ENV_MAX 512

/* ---- finding the tools ---- */

static int executable(const char *path)
{
    return access(path, X_OK) == 0;
}

/* The major version in "/usr/lib/postgresql/15/bin", or -1. */
static long dir_version(const char *dir)
{
    const char *p = dir + strlen("/usr/lib/postgresql/");
    char *end = NULL;
    long v = strtol(p, &end, 10);
    return end != p && *end == '/' ? v : -1;
}

static int find_tool(const char *name, char out[TOOL_PATH_MAX], tia_error *err)
{
    const char *hint = getenv("TIA_PG_BINDIR");
    if (hint != NULL && *hint != '\0') {
        if ((size_t)snprintf(out, TOOL_PATH_MAX, "%s/%s", hint, name) < TOOL_PATH_MAX &&
            executable(out))
            return 0;
    }
    const char *path = getenv("PATH");
    while (path != NULL && *path != '\0') {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        if (len > 0 && len < TOOL_PATH_MAX - 64) {
            snprintf(out, TOOL_PATH_MAX, "%.*s/%s", (int)len, path, name);
            if (executable(out))
                return 0;
        }
        path = colon ? colon + 1 : NULL;
    }
    glob_t g;
    long best = -1;
    if (glob("/usr/lib/postgresql/*/bin", GLOB_NOSORT, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            char cand[TOOL_PATH_MAX];
            long v = dir_version(g.gl_pathv[i]);
            if (v > best &&
                (size_t)snprintf(cand, sizeof cand, "%s/%s", g.gl_pathv[i], name) < sizeof cand &&
                executable(cand)) {
                best = v;
                memcpy(out, cand, sizeof cand);
            }
        }
        globfree(&g);
    }
    if (best >= 0)
        return 0;
    return tia_error_set(err, TIA_EIO,
                         "%s not found in $TIA_PG_BINDIR, PATH or /usr/lib/postgresql/*/bin "
                         "(install the postgresql-client package)",
                         name);
}

/* ---- the child's environment ---- */

typedef struct env_list {
    char *v[ENV_MAX + 1];
    int n;
} env_list;

static void env_free(env_list *e)
{
    for (int i = 0; i < e->n; i++)
        free(e->v[i]);
    e->n = 0;
}

static int env_add(env_list *e, const char *name, const char *value)
{
    if (e->n >= ENV_MAX)
        return 0; /* an environment this large is truncated, not refused */
    size_t len = strlen(name) + (value ? strlen(value) + 1 : 0) + 1;
    char *s = malloc(len);
    if (s == NULL)
        return -1;
    if (value != NULL)
        snprintf(s, len, "%s=%s", name, value);
    else
        snprintf(s, len, "%s", name);
    e->v[e->n++] = s;
    e->v[e->n] = NULL;
    return 0;
}

/*
 * The caller's environment without its PG* variables (which could point the
 * tool elsewhere) and message locale, plus the store connection's parameters.
 */
static int build_env(PGconn *conn, const char *appname, env_list *e, tia_error *err)
{
    PQconninfoOption *opts = NULL;
    e->n = 0;
    e->v[0] = NULL;
    for (char **p = environ; p != NULL && *p != NULL; p++) {
        if (strncmp(*p, "PG", 2) == 0 || strncmp(*p, "LC_ALL=", 7) == 0 ||
            strncmp(*p, "LC_MESSAGES=", 12) == 0 || strncmp(*p, "LANGUAGE=", 9) == 0)
            continue;
        if (env_add(e, *p, NULL) != 0)
            goto oom;
    }
    if (env_add(e, "LC_MESSAGES", "C") != 0 || env_add(e, "PGAPPNAME", appname) != 0)
        goto oom;
    opts = PQconninfo(conn);
    if (opts == NULL)
        goto oom;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->envvar == NULL || o->val == NULL || o->val[0] == '\0' ||
            strcmp(o->keyword, "application_name") == 0)
            continue;
        if (env_add(e, o->envvar, o->val) != 0)
            goto oom;
    }
    PQconninfoFree(opts);
    return 0;
oom:
    PQconninfoFree(opts);
    env_free(e);
    return tia_error_set(err, TIA_ENOMEM, "out of memory");
}

/* "--dbname=dbname='NAME'", quoted as a conninfo value (a name may hold '=' or spaces). */
static char *dbname_arg(PGconn *conn)
{
    const char *db = PQdb(conn);
    if (db == NULL)
        db = "";
    size_t len = strlen(db) * 2 + 32;
    char *out = malloc(len);
    if (out == NULL)
        return NULL;
    char *w = out + snprintf(out, len, "--dbname=dbname='");
    for (const char *p = db; *p; p++) {
        if (*p == '\'' || *p == '\\')
            *w++ = '\\';
        *w++ = *p;
    }
    *w++ = '\'';
    *w = '\0';
    return out;
}

/* ---- running a child ---- */

typedef struct runner runner;
struct runner {
    const char *tool; /* "pg_dump", for messages */
    /* A line of the child's stderr (is_out 0) or piped stdout (is_out 1). */
    void (*on_line)(runner *r, char *line, int is_out);
    void (*on_tick)(runner *r); /* at least every TICK_MS */
    void *ctx;
    int64_t fed;    /* bytes sent to the child's stdin */
    char diag[600]; /* the child's error lines, for the message */
    char buf[2][LINE_MAX_LEN];
    size_t len[2];
};

/* Keeps the lines that explain a failure (error, FATAL, DETAIL, HINT). */
static void keep_diag(runner *r, const char *line)
{
    if (strcasestr(line, "error") == NULL && strstr(line, "FATAL") == NULL &&
        strstr(line, "DETAIL") == NULL && strstr(line, "HINT") == NULL &&
        strstr(line, "could not") == NULL && strstr(line, "failed") == NULL)
        return;
    size_t used = strlen(r->diag);
    if (used + 4 >= sizeof r->diag)
        return;
    /* Cut to fit: the first lines of a failure are the ones that explain it. */
    if (snprintf(r->diag + used, sizeof r->diag - used, "%s%s", used ? "; " : "", line) < 0)
        r->diag[used] = '\0';
}

static void take_bytes(runner *r, int which, const char *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        if (c != '\n' && r->len[which] < LINE_MAX_LEN - 1) {
            r->buf[which][r->len[which]++] = c;
            continue;
        }
        if (c != '\n') /* an over-long line: cut it here */
            continue;
        r->buf[which][r->len[which]] = '\0';
        if (which == 0)
            keep_diag(r, r->buf[0]);
        if (r->on_line != NULL)
            r->on_line(r, r->buf[which], which);
        r->len[which] = 0;
    }
}

static int64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads what is there on fd; returns 0 at end of file, 1 otherwise, -1 on error. */
static int drain(runner *r, int fd, int which)
{
    char chunk[8192];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : -1;
    if (n == 0) {
        if (r->len[which] > 0)
            take_bytes(r, which, "\n", 1);
        return 0;
    }
    take_bytes(r, which, chunk, (size_t)n);
    return 1;
}

/*
 * Runs bin with argv and envp. stdout goes to out_fd (>= 0), /dev/null (-1) or
 * r->on_line (-2); stdin is fed from feed_fd when >= 0, else /dev/null. Waits
 * for the child and reports its failure with the lines it printed.
 */
static int run_child(const char *bin, char *const argv[], char *const envp[], int out_fd,
                     int feed_fd, runner *r, tia_error *err)
{
    int ep[2] = {-1, -1}, op[2] = {-1, -1}, sv[2] = {-1, -1};
    int rc = 0, started = 0, status = 0;
    pid_t pid = -1;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    char fbuf[65536];
    size_t fpos = 0, flen = 0;
    int feeding = feed_fd >= 0;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return tia_error_set(err, TIA_ENOMEM, "out of memory");
    if (posix_spawnattr_init(&at) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return tia_error_set(err, TIA_ENOMEM, "out of memory");
    }
    if (pipe2(ep, O_CLOEXEC) != 0 || (out_fd == -2 && pipe2(op, O_CLOEXEC) != 0) ||
        (feeding && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)) {
        rc =
            tia_error_set(err, TIA_EIO, "cannot create pipes for %s: %s", r->tool, strerror(errno));
        goto done;
    }
    if (feeding)
        posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
    else
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    else if (out_fd == -2)
        posix_spawn_file_actions_adddup2(&fa, op[1], 1);
    else
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
    /* Nothing else of ours (sockets, database files) reaches the child. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    sigset_t none, pipe_only;
    sigemptyset(&none);
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &pipe_only);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int src = posix_spawn(&pid, bin, &fa, &at, argv, envp);
    if (src != 0) {
        rc = tia_error_set(err, TIA_EIO, "cannot run %s: %s", bin, strerror(src));
        goto done;
    }
    started = 1;
    close(ep[1]);
    ep[1] = -1;
    if (op[1] >= 0) {
        close(op[1]);
        op[1] = -1;
    }
    if (sv[1] >= 0) {
        close(sv[1]);
        sv[1] = -1;
    }
    int err_open = 1, out_open = op[0] >= 0;
    int64_t last_tick = ms_now();
    while (err_open || out_open || feeding) {
        struct pollfd pf[3];
        int n = 0, ie = -1, io = -1, isv = -1;
        if (err_open)
            pf[ie = n++] = (struct pollfd){ep[0], POLLIN, 0};
        if (out_open)
            pf[io = n++] = (struct pollfd){op[0], POLLIN, 0};
        if (feeding)
            pf[isv = n++] = (struct pollfd){sv[0], POLLOUT, 0};
        int pr = poll(pf, (nfds_t)n, TICK_MS);
        if (pr < 0 && errno != EINTR) {
            rc = tia_error_set(err, TIA_EIO, "poll: %s", strerror(errno));
            goto done;
        }
        if (pr > 0 && ie >= 0 && pf[ie].revents != 0)
            err_open = drain(r, ep[0], 0) > 0;
        if (pr > 0 && io >= 0 && pf[io].revents != 0)
            out_open = drain(r, op[0], 1) > 0;
        if (pr > 0 && isv >= 0 && pf[isv].revents != 0) {
            if (fpos == flen) {
                ssize_t got = read(feed_fd, fbuf, sizeof fbuf);
                if (got < 0) {
                    rc = tia_error_set(err, TIA_EIO, "cannot read the backup: %s", strerror(errno));
                    goto done;
                }
                fpos = 0;
                flen = (size_t)got;
            }
            if (flen == 0) { /* end of file: the child sees end of input */
                feeding = 0;
            } else {
                ssize_t sent = send(sv[0], fbuf + fpos, flen - fpos, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (sent > 0) {
                    fpos += (size_t)sent;
                    r->fed += sent;
                } else if (sent < 0 && errno != EAGAIN && errno != EINTR) {
                    feeding = 0; /* the child stopped reading: its exit status says why */
                }
            }
            if (!feeding) {
                close(sv[0]);
                sv[0] = -1;
            }
        }
        if (r->on_tick != NULL && ms_now() - last_tick >= TICK_MS) {
            r->on_tick(r);
            last_tick = ms_now();
        }
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            rc = tia_error_set(err, TIA_EIO, "waiting for %s: %s", r->tool, strerror(errno));
            started = 0;
            goto done;
        }
    }
    started = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        goto done;
    int code = strstr(r->diag, "connection to server") || strstr(r->diag, "could not connect")
                   ? TIA_EUNAVAIL
                   : TIA_EDB;
    if (WIFSIGNALED(status))
        rc = tia_error_set(err, code, "%s was killed by signal %d%s%s", r->tool, WTERMSIG(status),
                           r->diag[0] ? ": " : "", r->diag);
    else if (r->diag[0])
        rc = tia_error_set(err, code, "%s failed: %s", r->tool, r->diag);
    else
        rc = tia_error_set(err, code, "%s exited with status %d", r->tool, WEXITSTATUS(status));
done:
    if (started) { /* our side failed: do not leave the child running */
        kill(pid, SIGTERM);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    for (int i = 0; i < 2; i++) {
        if (ep[i] >= 0)
            close(ep[i]);
        if (op[i] >= 0)
            close(op[i]);
        if (sv[i] >= 0)
            close(sv[i]);
    }
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

/* ---- pg_dump ---- */

static const tia__sql sql_count_tables = {
    "backup.count_tables",
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname !~ '^pg_(toast|temp)'",
    "SELECT 0", 1};

typedef struct dump_state {
    const tia_backup_options *o;
    int fd;
    int64_t tables, total;
    char item[256];
} dump_state;

static int64_t fd_size(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (int64_t)st.st_size : -1;
}

static void dump_report(dump_state *d)
{
    if (d->tables > d->total)
        d->total = d->tables;
    tia__bk_report(d->o, "backup", "tables", d->tables, d->total, fd_size(d->fd),
                   d->item[0] ? d->item : NULL);
}

/* Copies the text between the first pair of double quotes of line to out. */
static void quoted(const char *line, char *out, size_t n)
{
    const char *a = strchr(line, '"');
    const char *b = a ? strrchr(a + 1, '"') : NULL;
    if (a != NULL && b != NULL)
        snprintf(out, n, "%.*s", (int)(b - a - 1), a + 1);
    else
        out[0] = '\0';
}

static void dump_line(runner *r, char *line, int is_out)
{
    dump_state *d = r->ctx;
    if (is_out || strstr(line, "dumping contents of table") == NULL)
        return;
    d->tables++;
    quoted(line, d->item, sizeof d->item);
    dump_report(d);
}

static void dump_tick(runner *r)
{
    dump_report(r->ctx);
}

int tia__bk_pg_dump(tia_store *s, int fd, int sql, const tia_backup_options *o, tia_error *err)
{
    PGconn *conn = tia__store_conn(s);
    char bin[TOOL_PATH_MAX];
    env_list env = {{0}, 0};
    tia__rows *rows = NULL;
    dump_state d = {o, fd, 0, 0, ""};
    int rc = find_tool("pg_dump", bin, err);
    if (rc != 0)
        return rc;
    rc = tia__db_query(s, &sql_count_tables, NULL, 0, &rows, err);
    if (rc == 0 && (rc = tia__rows_next(rows, err)) > 0) {
        d.total = tia__col_int(rows, 0);
        rc = 0;
    }
    tia__rows_free(rows);
    if (rc != 0)
        return rc;
    if ((rc = build_env(conn, "tokyoia backup", &env, err)) != 0)
        return rc;
    char *custom[] = {bin, "--verbose", "--format=custom", NULL};
    char *plain[] = {bin,           "--verbose",  "--format=plain",  "--clean",
                     "--if-exists", "--no-owner", "--no-privileges", NULL};
    runner r = {.tool = "pg_dump", .on_line = dump_line, .on_tick = dump_tick, .ctx = &d};
    dump_report(&d);
    rc = run_child(bin, sql ? plain : custom, env.v, fd, -1, &r, err);
    if (rc == 0) {
        d.item[0] = '\0';
        dump_report(&d);
    }
    env_free(&env);
    return rc;
}

/* ---- pg_restore --list ---- */

typedef struct list_state {
    int64_t entries;
    int agents, migrations;
} list_state;

static void list_line(runner *r, char *line, int is_out)
{
    list_state *l = r->ctx;
    if (!is_out || line[0] == ';' || line[0] == '\0')
        return;
    l->entries++;
    if (strstr(line, " TABLE public agents ") != NULL)
        l->agents = 1;
    if (strstr(line, " TABLE public schema_migrations ") != NULL)
        l->migrations = 1;
}

int tia__bk_pg_check_archive(const char *path, int64_t *entries, tia_error *err)
{
    char bin[TOOL_PATH_MAX];
    list_state l = {0, 0, 0};
    env_list env = {{0}, 0};
    *entries = 0;
    int rc = find_tool("pg_restore", bin, err);
    if (rc != 0)
        return rc;
    /* No connection: the environment is the caller's, with English messages. */
    for (char **p = environ; rc == 0 && p != NULL && *p != NULL; p++)
        if (strncmp(*p, "LC_ALL=", 7) != 0 && strncmp(*p, "LC_MESSAGES=", 12) != 0 &&
            env_add(&env, *p, NULL) != 0)
            rc = tia_error_set(err, TIA_ENOMEM, "out of memory");
    if (rc == 0 && env_add(&env, "LC_MESSAGES", "C") != 0)
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory");
    if (rc != 0)
        goto done;
    char *argv[] = {bin, "--list", (char *)path, NULL};
    runner r = {.tool = "pg_restore --list", .on_line = list_line, .ctx = &l};
    tia_error e = {0};
    rc = run_child(bin, argv, env.v, -2, -1, &r, &e);
    if (rc == TIA_EDB) {
        rc = tia_error_set(err, TIA_EINVAL, "'%s' is not a readable pg_dump archive: %s", path,
                           e.message);
        goto done;
    }
    if (rc != 0) {
        rc = tia_error_set(err, rc, "%s", e.message);
        goto done;
    }
    if (!l.agents || !l.migrations) {
        rc = tia_error_set(err, TIA_EINVAL,
                           "'%s' is a pg_dump archive but not a tokyoia backup (no tables "
                           "public.agents and public.schema_migrations)",
                           path);
        goto done;
    }
    *entries = l.entries;
done:
    env_free(&env);
    return rc;
}

/* ---- pg_restore and psql ---- */

typedef struct restore_state {
    const tia_backup_options *o;
    int64_t done, total, size;
    char item[256];
    int plain;
} restore_state;

static void restore_report(runner *r)
{
    restore_state *st = r->ctx;
    if (st->plain) {
        tia__bk_report(st->o, "restore", "bytes", r->fed, st->size, r->fed, NULL);
        return;
    }
    if (st->done > st->total)
        st->total = st->done;
    tia__bk_report(st->o, "restore", "entries", st->done, st->total, -1,
                   st->item[0] ? st->item : NULL);
}

static void restore_line(runner *r, char *line, int is_out)
{
    restore_state *st = r->ctx;
    if (is_out || st->plain)
        return;
    if (strncmp(line, "pg_restore: creating ", 21) == 0) {
        st->done++;
        st->item[0] = '\0';
    } else if (strncmp(line, "pg_restore: processing data for table ", 38) == 0) {
        st->done++;
        quoted(line, st->item, sizeof st->item);
    } else {
        return;
    }
    restore_report(r);
}

/*
 * Run first, in the restore's own transaction: drops agent_metrics' primary key,
 * and with it its partitions' keys (0011). A --clean restore drops each
 * partition's key on its own before the parent's, which PostgreSQL refuses
 * ("cannot drop inherited constraint"); once the parent's is gone, those DROP ...
 * IF EXISTS lines do nothing, and the dump recreates every key.
 */
#define DROP_PARTITION_KEYS                                                                        \
    "--command=ALTER TABLE IF EXISTS public.agent_metrics DROP CONSTRAINT IF EXISTS "              \
    "agent_metrics_pkey"

/*
 * Also run first: the restore's index builds sort in memory up to 256 MB each
 * (PostgreSQL's default, 64 MB, sends the sorts of a 10M-task database's indexes to
 * disk), unless the server or the URL's options already give them more. Local
 * to the restore's transaction.
 */
#define RESTORE_SORT_MEMORY                                                                        \
    "--command=SELECT set_config('maintenance_work_mem', '256MB', true) WHERE "                   \
    "pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes('256MB')"

/*
 * A custom archive becomes plain SQL in a temporary file first (pg_restore
 * --clean -f), which psql then runs as one transaction after DROP_PARTITION_KEYS:
 * pg_restore itself cannot run a statement of ours inside its transaction, and
 * piping it into psql would commit whatever part of the SQL arrived if pg_restore
 * failed halfway. The file takes about five times the archive's size in TMPDIR.
 */
static int custom_to_sql(const char *bin, const char *path, char *const envp[], runner *r,
                         char *sql_path, size_t sql_len, tia_error *err)
{
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    if ((size_t)snprintf(sql_path, sql_len, "%s/tokyoia-restore-XXXXXX", dir) >= sql_len)
        return tia_error_set(err, TIA_EINVAL, "TMPDIR is too long");
    int fd = mkstemp(sql_path);
    if (fd < 0) {
        int e = errno;
        sql_path[0] = '\0';
        return tia_error_set(err, TIA_EIO, "cannot create a temporary file in %s: %s", dir,
                             strerror(e));
    }
    char fileopt[sizeof "--file=" + PATH_MAX];
    snprintf(fileopt, sizeof fileopt, "--file=%s", sql_path);
    char *argv[] = {(char *)bin,     "--verbose",    "--clean", "--if-exists", "--no-owner",
                    "--no-privileges", fileopt, (char *)path, NULL};
    tia_error e = {0};
    int rc = run_child(bin, argv, envp, -1, -1, r, &e);
    close(fd);
    if (rc != 0)
        return tia_error_set(err, rc, "%s", e.message);
    return 0;
}

int tia__bk_pg_restore(tia_store *s, const char *path, tia_backup_kind kind, int64_t entries,
                       int64_t size, const tia_backup_options *o, tia_error *err)
{
    PGconn *conn = tia__store_conn(s);
    char bin[TOOL_PATH_MAX], psql[TOOL_PATH_MAX];
    char sql_path[PATH_MAX] = "";
    env_list env = {{0}, 0};
    char *dbarg = NULL;
    int feed = -1;
    int plain = kind == TIA_BACKUP_PG_SQL;
    restore_state st = {o, 0, entries, size, "", plain};
    int rc = find_tool("psql", psql, err);
    if (rc != 0 || (!plain && (rc = find_tool("pg_restore", bin, err)) != 0))
        return rc;
    if ((rc = build_env(conn, "tokyoia restore", &env, err)) != 0)
        return rc;
    dbarg = dbname_arg(conn);
    if (dbarg == NULL) {
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory");
        goto done;
    }
    runner r = {.tool = plain ? "psql" : "pg_restore",
                .on_line = restore_line,
                .on_tick = restore_report,
                .ctx = &st};
    restore_report(&r);
    tia_error e = {0};
    const char *sql = path;
    if (!plain) {
        if ((rc = custom_to_sql(bin, path, env.v, &r, sql_path, sizeof sql_path, &e)) != 0)
            goto failed;
        restore_report(&r);
        sql = sql_path;
        struct stat sb;
        /* psql's part is reported in bytes of the SQL, as a plain restore's. */
        st.plain = 1;
        st.size = stat(sql, &sb) == 0 ? (int64_t)sb.st_size : -1;
        r.tool = "psql";
    }
    feed = open(sql, O_RDONLY | O_CLOEXEC);
    if (feed < 0) {
        rc = tia_error_set(err, TIA_EIO, "cannot read '%s': %s", sql, strerror(errno));
        goto done;
    }
    char *argv[] = {psql,
                    "--no-psqlrc",
                    "--quiet",
                    "--set=ON_ERROR_STOP=1",
                    "--single-transaction",
                    RESTORE_SORT_MEMORY,
                    DROP_PARTITION_KEYS,
                    "--file=-",
                    dbarg,
                    NULL};
    rc = run_child(psql, argv, env.v, -1, feed, &r, &e);
failed:
    if (rc == 0)
        restore_report(&r);
    else
        tia_error_set(err, rc, "%s (the database is unchanged)", e.message);
done:
    if (feed >= 0)
        close(feed);
    if (sql_path[0] != '\0')
        unlink(sql_path);
    free(dbarg);
    env_free(&env);
    return rc;
}

/* ---- is the database empty? ---- */

/*
 * Every table of every non-system schema, and whether it has a row. The check
 * runs server-side through query_to_xml, with identifiers quoted by format's %I,
 * so no SQL is built from names on this side.
 */
static const tia__sql sql_tables_with_rows = {
    "backup.tables_with_rows",
    "SELECT n.nspname, c.relname, (xpath('/row/e/text()', query_to_xml(format("
    "'SELECT EXISTS (SELECT 1 FROM %I.%I) AS e', n.nspname, c.relname), false, true, "
    "'')))[1]::text = 'true' FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname !~ '^pg_(toast|temp)' ORDER BY 1, 2",
    "SELECT 0", 1};

static const tia__sql sql_other_agents = {
    "backup.other_agents",
    "SELECT count(*) FROM public.agents WHERE id NOT IN " TIA__BK_SEED_AGENTS_IN, "SELECT 0", 1};

int tia__bk_pg_empty(tia_store *s, int *empty, char *why, size_t why_len, tia_error *err)
{
    tia__rows *rows = NULL;
    char found[300] = "";
    int agents_rows = 0;
    *empty = 0;
    int rc = tia__db_query(s, &sql_tables_with_rows, NULL, 0, &rows, err);
    while (rc == 0 && found[0] == '\0' && (rc = tia__rows_next(rows, err)) > 0) {
        rc = 0;
        const char *nsp = tia__col_text(rows, 0), *rel = tia__col_text(rows, 1);
        const char *has = tia__col_text(rows, 2);
        if (has == NULL || strcmp(has, "t") != 0)
            continue;
        int rule = strcmp(nsp, "public") == 0 ? tia__bk_table_rule(rel) : 0;
        if (rule == 2)
            agents_rows = 1;
        else if (rule == 0)
            snprintf(found, sizeof found, "table %s.%s has rows", nsp, rel);
    }
    tia__rows_free(rows);
    rows = NULL;
    if (rc < 0)
        return rc;
    if (found[0] == '\0' && agents_rows) {
        rc = tia__db_query(s, &sql_other_agents, NULL, 0, &rows, err);
        if (rc == 0 && (rc = tia__rows_next(rows, err)) > 0) {
            rc = 0;
            if (tia__col_int(rows, 0) > 0)
                snprintf(found, sizeof found,
                         "public.agents holds agents other than the five seed agents");
        }
        tia__rows_free(rows);
        if (rc < 0)
            return rc;
    }
    *empty = found[0] == '\0';
    if (why != NULL && why_len > 0)
        snprintf(why, why_len, "%s", found);
    return 0;
}
