/*
 * Backup and restore (include/tokyoia/backup.h): everything that does not depend
 * on the backend. A backup is written to "FILE.tmp-XXXXXX" beside FILE, synced,
 * then renamed over FILE (or linked, when FILE must not be replaced, so that a
 * file that appeared meanwhile is not clobbered), so FILE is either absent or a
 * whole backup. A restore first reads the file's magic, checks that it belongs to
 * this backend and is whole, and checks that the database is empty, all before
 * the first write; the copy itself is in backup_pg.c and backup_sqlite.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ops/backup_int.h"

#define PATH_LEN_MAX 4000

static const char sqlite_magic[16] = "SQLite format 3";

const char *tia_backup_kind_name(tia_backup_kind k)
{
    switch (k) {
    case TIA_BACKUP_PG_CUSTOM: return "pg_dump custom";
    case TIA_BACKUP_PG_SQL: return "plain SQL";
    case TIA_BACKUP_SQLITE: return "SQLite";
    default: return "not a backup";
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tia__bk_report(const tia_backup_options *o, const char *phase, const char *unit, int64_t done,
                    int64_t total, int64_t bytes, const char *item)
{
    if (o->progress == NULL)
        return;
    tia_backup_progress p = {phase, unit, done, total, bytes, item};
    o->progress(o->progress_ctx, &p);
}

int tia__bk_table_rule(const char *table)
{
    if (strcmp(table, "agents") == 0)
        return 2;
    if (strcmp(table, "schema_migrations") == 0 || strcmp(table, "model_prices") == 0 ||
        strcmp(table, "agent_task_totals") == 0)
        return 1;
    return 0;
}

static int check_path(const char *path, tia_error *err)
{
    if (path == NULL || *path == '\0')
        return tia_error_set(err, TIA_EINVAL, "no backup file named");
    if (strlen(path) > PATH_LEN_MAX)
        return tia_error_set(err, TIA_EINVAL, "backup file name longer than %d bytes",
                             PATH_LEN_MAX);
    return 0;
}

int tia_backup_identify(const char *path, tia_backup_kind *kind, tia_error *err)
{
    *kind = TIA_BACKUP_NONE;
    int rc = check_path(path, err);
    if (rc != 0)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return tia_error_set(err, TIA_ENOTFOUND, "backup file '%s' does not exist", path);
        return tia_error_set(err, TIA_EIO, "cannot read backup file '%s': %s", path,
                             strerror(errno));
    }
    struct stat st;
    unsigned char head[64];
    ssize_t n = -1;
    if (fstat(fd, &st) != 0) {
        rc = tia_error_set(err, TIA_EIO, "cannot read backup file '%s': %s", path, strerror(errno));
        goto done;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = tia_error_set(err, TIA_EINVAL, "'%s' is a directory, not a backup file", path);
        goto done;
    }
    n = read(fd, head, sizeof head);
    if (n < 0) {
        rc = tia_error_set(err, TIA_EIO, "cannot read backup file '%s': %s", path, strerror(errno));
        goto done;
    }
    if (n == 0) {
        rc = tia_error_set(err, TIA_EINVAL, "backup file '%s' is empty", path);
        goto done;
    }
    size_t len = (size_t)n, ml = strlen(TIA__BK_SQL_MAGIC);
    if (len >= 5 && memcmp(head, "PGDMP", 5) == 0)
        *kind = TIA_BACKUP_PG_CUSTOM;
    else if (len >= sizeof sqlite_magic && memcmp(head, sqlite_magic, sizeof sqlite_magic) == 0)
        *kind = TIA_BACKUP_SQLITE;
    else if (len >= ml && memcmp(head, TIA__BK_SQL_MAGIC, ml) == 0)
        *kind = TIA_BACKUP_PG_SQL;
    else
        rc = tia_error_set(err, TIA_EINVAL,
                           "'%s' is not a tokyoia backup (expected a pg_dump custom archive, "
                           "a SQLite database, or plain SQL written by 'tokyoia backup --sql')",
                           path);
done:
    close(fd);
    return rc;
}

static const tia_backup_options no_options = {0, 0, 0, NULL, NULL};

static int normalise(const tia_backup_options *in, tia_backup_options *o, tia_error *err)
{
    *o = in != NULL ? *in : no_options;
    if (o->step_pages == 0)
        o->step_pages = 1024;
    if (o->step_pages < 1 || o->step_pages > 1000000)
        return tia_error_set(err, TIA_EINVAL, "step_pages must be 1..1000000, not %d",
                             o->step_pages);
    return 0;
}

/* Makes fsync of a rename durable: the directory entry must reach the disk too. */
static void sync_dir_of(const char *path)
{
    char dir[PATH_LEN_MAX + 2];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Moves the finished temporary file to path: replacing it only when forced. */
static int publish(const char *tmp, const char *path, int force, tia_error *err)
{
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return tia_error_set(err, TIA_EIO, "cannot sync '%s': %s", tmp, strerror(e));
    }
    close(fd);
    if (force) {
        if (rename(tmp, path) != 0)
            return tia_error_set(err, TIA_EIO, "cannot rename '%s' to '%s': %s", tmp, path,
                                 strerror(errno));
    } else {
        if (link(tmp, path) != 0) {
            if (errno == EEXIST)
                return tia_error_set(err, TIA_ECONFLICT,
                                     "'%s' already exists (use --force to replace it)", path);
            return tia_error_set(err, TIA_EIO, "cannot create '%s': %s", path, strerror(errno));
        }
        unlink(tmp);
    }
    sync_dir_of(path);
    return 0;
}

int tia_backup(tia_store *s, const char *path, const tia_backup_options *opts,
               tia_backup_result *out, tia_error *err)
{
    double t0 = now_s();
    tia_backup_options o;
    char tmp[PATH_LEN_MAX + 16] = "";
    int fd = -1;
    int is_pg = tia_store_backend(s) == TIA_BACKEND_POSTGRES;
    struct stat st;
    if (out != NULL)
        memset(out, 0, sizeof *out);
    int rc = normalise(opts, &o, err);
    if (rc == 0)
        rc = check_path(path, err);
    if (rc != 0)
        goto done;
    if (o.sql && !is_pg) {
        rc = tia_error_set(err, TIA_EINVAL,
                           "--sql is for PostgreSQL; a SQLite backup is a SQLite database file");
        goto done;
    }
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            rc = tia_error_set(err, TIA_EINVAL, "'%s' is a directory", path);
        else if (!o.force)
            rc = tia_error_set(err, TIA_ECONFLICT,
                               "'%s' already exists (use --force to replace it)", path);
        if (rc != 0)
            goto done;
    } else if (errno != ENOENT) {
        rc = tia_error_set(err, TIA_EIO, "cannot check '%s': %s", path, strerror(errno));
        goto done;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = tia_error_set(err, TIA_EIO, "cannot create a file beside '%s': %s", path,
                           strerror(errno));
        tmp[0] = '\0';
        goto done;
    }
    if (is_pg) {
        if (o.sql) {
            static const char header[] = TIA__BK_SQL_MAGIC
                ": plain SQL of a PostgreSQL database, written by pg_dump\n"
                "-- (--clean --if-exists --no-owner --no-privileges). Restore it with\n"
                "-- 'tokyoia restore FILE', or 'psql DBNAME < FILE' into an empty database.\n";
            if (write(fd, header, sizeof header - 1) != (ssize_t)(sizeof header - 1)) {
                rc = tia_error_set(err, TIA_EIO, "cannot write '%s': %s", tmp, strerror(errno));
                goto done;
            }
        }
        rc = tia__bk_pg_dump(s, fd, o.sql, &o, err);
    } else {
        close(fd);
        fd = -1;
        rc = tia__bk_sqlite_backup(s, tmp, &o, err);
    }
    if (rc != 0)
        goto done;
    if (fd >= 0) {
        int c = close(fd);
        fd = -1;
        if (c != 0) {
            rc = tia_error_set(err, TIA_EIO, "cannot write '%s': %s", tmp, strerror(errno));
            goto done;
        }
    }
    rc = publish(tmp, path, o.force, err);
    if (rc != 0)
        goto done;
    tmp[0] = '\0';
    if (out != NULL) {
        out->kind = !is_pg ? TIA_BACKUP_SQLITE : o.sql ? TIA_BACKUP_PG_SQL : TIA_BACKUP_PG_CUSTOM;
        out->bytes = stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
        out->seconds = now_s() - t0;
    }
done:
    if (fd >= 0)
        close(fd);
    if (tmp[0] != '\0')
        unlink(tmp);
    return rc;
}

int tia_backup_target_empty(tia_store *s, int *empty, char *why, size_t why_len, tia_error *err)
{
    *empty = 0;
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    if (tia_store_backend(s) == TIA_BACKEND_POSTGRES)
        return tia__bk_pg_empty(s, empty, why, why_len, err);
    return tia__bk_sqlite_empty(s, empty, why, why_len, err);
}

int tia_restore(tia_store *s, const char *path, const tia_backup_options *opts,
                tia_backup_result *out, tia_error *err)
{
    double t0 = now_s();
    tia_backup_options o;
    tia_backup_kind kind = TIA_BACKUP_NONE;
    int is_pg = tia_store_backend(s) == TIA_BACKEND_POSTGRES;
    int64_t entries = 0;
    struct stat st;
    if (out != NULL)
        memset(out, 0, sizeof *out);
    int rc = normalise(opts, &o, err);
    if (rc == 0)
        rc = tia_backup_identify(path, &kind, err);
    if (rc != 0)
        goto done;
    if (is_pg && kind == TIA_BACKUP_SQLITE) {
        rc = tia_error_set(err, TIA_EINVAL,
                           "'%s' is a SQLite backup; restore it into a SQLite database", path);
        goto done;
    }
    if (!is_pg && kind != TIA_BACKUP_SQLITE) {
        rc = tia_error_set(err, TIA_EINVAL,
                           "'%s' is a PostgreSQL backup (%s); restore it into a PostgreSQL "
                           "database",
                           path, tia_backup_kind_name(kind));
        goto done;
    }
    if (stat(path, &st) != 0) {
        rc = tia_error_set(err, TIA_EIO, "cannot read '%s': %s", path, strerror(errno));
        goto done;
    }
    if (kind == TIA_BACKUP_SQLITE)
        rc = tia__bk_sqlite_check(s, path, err);
    else if (kind == TIA_BACKUP_PG_CUSTOM)
        rc = tia__bk_pg_check_archive(path, &entries, err);
    if (rc != 0)
        goto done;
    if (!o.force) {
        int empty = 0;
        char why[200];
        rc = tia_backup_target_empty(s, &empty, why, sizeof why, err);
        if (rc != 0)
            goto done;
        if (!empty) {
            rc = tia_error_set(err, TIA_ECONFLICT,
                               "the database is not empty (%s): restore needs an empty "
                               "database, or --force to replace its content",
                               why);
            goto done;
        }
    }
    if (is_pg)
        rc = tia__bk_pg_restore(s, path, kind, entries, (int64_t)st.st_size, &o, err);
    else
        rc = tia__bk_sqlite_restore(s, path, &o, err);
    if (rc == 0 && out != NULL) {
        out->kind = kind;
        out->bytes = (int64_t)st.st_size;
        out->seconds = now_s() - t0;
    }
done:
    return rc;
}
