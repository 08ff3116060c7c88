/*
 * Backup and restore on SQLite, through the online backup API (sqlite3_backup_*).
 * A backup copies the store's file on a connection of its own that holds one read
 * transaction across every step: in WAL mode that pins a snapshot, so writers on
 * other connections go on committing while the pages are copied, the copy never
 * restarts, and it is exactly the database as of the moment the read began. The
 * copy is then switched to rollback-journal mode, so the backup is one file that
 * opens on its own. A restore copies a backup file into the store's own
 * connection: the backup API writes every page in one write transaction on the
 * destination, committed at the last step and rolled back by
 * sqlite3_backup_finish on any failure, so a failed restore changes nothing.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "ops/backup_int.h"
#include "store/backend.h"

#define BUSY_WAIT_MS 5000

/* Maps a SQLite result code to a TIA_E* code. */
static int map_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return TIA_EBUSY;
    case SQLITE_NOMEM: return TIA_ENOMEM;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY: return TIA_EIO;
    default: return TIA_EDB;
    }
}

static int lite_fail(sqlite3 *db, int rc, const char *what, tia_error *err)
{
    return tia_error_set(err, map_code(rc), "%s: %s", what,
                         db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

/* One integer from a statement without parameters (PRAGMA page_size, ...). */
static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_ERROR;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/*
 * Steps b to the end, reporting pages after each step. Locks are waited for by the
 * connections' busy handlers; a step that still finds one gets BUSY_WAIT_MS more
 * in short sleeps before giving up.
 */
static int copy_pages(sqlite3_backup *b, int64_t page_size, const char *phase,
                      const tia_backup_options *o)
{
    int waited = 0;
    for (;;) {
        int rc = sqlite3_backup_step(b, o->step_pages);
        int base = rc & 0xff;
        if (base == SQLITE_BUSY || base == SQLITE_LOCKED) {
            if (waited >= BUSY_WAIT_MS)
                return rc;
            sqlite3_sleep(10);
            waited += 10;
            continue;
        }
        if (rc != SQLITE_OK && rc != SQLITE_DONE)
            return rc;
        waited = 0;
        int64_t total = sqlite3_backup_pagecount(b);
        int64_t done = total - sqlite3_backup_remaining(b);
        tia__bk_report(o, phase, "pages", done, total, done * page_size, NULL);
        if (rc == SQLITE_DONE)
            return SQLITE_OK;
    }
}

int tia__bk_sqlite_backup(tia_store *s, const char *dest, const tia_backup_options *o,
                          tia_error *err)
{
    sqlite3 *store_db = tia__store_conn(s);
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *b = NULL;
    int64_t page_size = 0, page_count = 0;
    int in_read = 0, rc = 0, lrc;
    const char *src_path = sqlite3_db_filename(store_db, "main");
    if (src_path == NULL || *src_path == '\0')
        return tia_error_set(err, TIA_EINVAL,
                             "an in-memory SQLite database has no file to back up");
    lrc = sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (lrc != SQLITE_OK) {
        rc = lite_fail(src, lrc, "cannot open the database to back up", err);
        goto done;
    }
    sqlite3_busy_timeout(src, BUSY_WAIT_MS);
    /* The snapshot: a read transaction that every step below reads within. */
    lrc = sqlite3_exec(src, "BEGIN", NULL, NULL, NULL);
    if (lrc == SQLITE_OK)
        lrc = query_int(src, "PRAGMA page_count", &page_count);
    if (lrc == SQLITE_OK) {
        in_read = 1;
        lrc = query_int(src, "PRAGMA page_size", &page_size);
    }
    if (lrc != SQLITE_OK) {
        rc = lite_fail(src, lrc, "cannot read the database to back up", err);
        goto done;
    }
    tia__bk_report(o, "backup", "pages", 0, page_count, 0, NULL);
    lrc = sqlite3_open_v2(dest, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (lrc != SQLITE_OK) {
        rc = lite_fail(dst, lrc, "cannot open the backup file", err);
        goto done;
    }
    b = sqlite3_backup_init(dst, "main", src, "main");
    if (b == NULL) {
        rc = lite_fail(dst, sqlite3_errcode(dst), "cannot start the backup", err);
        goto done;
    }
    lrc = copy_pages(b, page_size, "backup", o);
    int frc = sqlite3_backup_finish(b);
    b = NULL;
    if (lrc == SQLITE_OK)
        lrc = frc;
    if (lrc != SQLITE_OK) {
        rc = lite_fail(dst, lrc, "backup failed", err);
        goto done;
    }
    /* The pages say WAL, as the source's do; a backup is better one self-contained file. */
    lrc = sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
    if (lrc != SQLITE_OK) {
        rc = lite_fail(dst, lrc, "cannot finish the backup file", err);
        goto done;
    }
done:
    if (b != NULL)
        sqlite3_backup_finish(b);
    if (in_read)
        sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
    if (dst != NULL && sqlite3_close(dst) != SQLITE_OK && rc == 0)
        rc = tia_error_set(err, TIA_EIO, "cannot close the backup file");
    sqlite3_close(src);
    return rc;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A truncated copy is the most likely damage: compare the header's size with the file's. */
static int check_length(const char *path, tia_error *err)
{
    unsigned char h[100];
    struct stat st;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return tia_error_set(err, TIA_EIO, "cannot read '%s'", path);
    size_t n = fread(h, 1, sizeof h, f);
    int ok = fstat(fileno(f), &st) == 0;
    fclose(f);
    if (!ok)
        return tia_error_set(err, TIA_EIO, "cannot read '%s'", path);
    if (n < sizeof h)
        return tia_error_set(err, TIA_EINVAL, "'%s' is truncated: shorter than a SQLite header",
                             path);
    int64_t page_size = h[16] << 8 | h[17];
    if (page_size == 1)
        page_size = 65536;
    /* The in-header page count is valid when its change counter matches (file format). */
    if (be32(h + 24) == be32(h + 92)) {
        int64_t pages = be32(h + 28);
        if (pages * page_size > (int64_t)st.st_size)
            return tia_error_set(err, TIA_EINVAL,
                                 "'%s' is truncated: its header says %lld pages of %lld bytes, "
                                 "the file has %lld bytes",
                                 path, (long long)pages, (long long)page_size,
                                 (long long)st.st_size);
    }
    return 0;
}

int tia__bk_sqlite_check(tia_store *s, const char *path, tia_error *err)
{
    sqlite3 *db = NULL;
    int64_t tables = 0;
    struct stat a, b;
    const char *mine = sqlite3_db_filename(tia__store_conn(s), "main");
    if (mine != NULL && stat(mine, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        return tia_error_set(err, TIA_EINVAL, "'%s' is the database itself, not a backup of it",
                             path);
    int rc = check_length(path, err);
    if (rc != 0)
        return rc;
    int lrc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (lrc == SQLITE_OK)
        lrc = query_int(db,
                        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
                        "('agents', 'schema_migrations')",
                        &tables);
    if (lrc != SQLITE_OK)
        rc = tia_error_set(err, TIA_EINVAL, "'%s' is not a readable SQLite database: %s", path,
                           db ? sqlite3_errmsg(db) : sqlite3_errstr(lrc));
    else if (tables != 2)
        rc = tia_error_set(err, TIA_EINVAL,
                           "'%s' is a SQLite database but not a tokyoia backup (no agents and "
                           "schema_migrations tables)",
                           path);
    sqlite3_close(db);
    return rc;
}

int tia__bk_sqlite_restore(tia_store *s, const char *path, const tia_backup_options *o,
                           tia_error *err)
{
    sqlite3 *dst = tia__store_conn(s);
    sqlite3 *src = NULL;
    sqlite3_backup *b = NULL;
    int64_t src_page = 0, dst_page = 0, page_count = 0;
    int in_read = 0, rc = 0;
    int lrc = sqlite3_open_v2(path, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (lrc == SQLITE_OK) {
        sqlite3_busy_timeout(src, BUSY_WAIT_MS);
        lrc = sqlite3_exec(src, "BEGIN", NULL, NULL, NULL);
    }
    if (lrc == SQLITE_OK)
        lrc = query_int(src, "PRAGMA page_count", &page_count);
    if (lrc == SQLITE_OK) {
        in_read = 1;
        lrc = query_int(src, "PRAGMA page_size", &src_page);
    }
    if (lrc != SQLITE_OK) {
        rc = lite_fail(src, lrc, "cannot read the backup", err);
        goto done;
    }
    lrc = query_int(dst, "PRAGMA page_size", &dst_page);
    if (lrc != SQLITE_OK) {
        rc = lite_fail(dst, lrc, "cannot read the database", err);
        goto done;
    }
    /* A WAL database cannot change its page size, and the backup API refuses to try. */
    if (src_page != dst_page) {
        rc = tia_error_set(err, TIA_EINVAL,
                           "the backup's page size (%lld) differs from the database's (%lld): "
                           "restore into a new SQLite file",
                           (long long)src_page, (long long)dst_page);
        goto done;
    }
    tia__bk_report(o, "restore", "pages", 0, page_count, 0, NULL);
    b = sqlite3_backup_init(dst, "main", src, "main");
    if (b == NULL) {
        rc = lite_fail(dst, sqlite3_errcode(dst), "cannot start the restore", err);
        goto done;
    }
    lrc = copy_pages(b, src_page, "restore", o);
    int frc = sqlite3_backup_finish(b);
    b = NULL;
    if (lrc == SQLITE_OK)
        lrc = frc;
    if (lrc != SQLITE_OK)
        rc = lite_fail(dst, lrc, "restore failed (the database is unchanged)", err);
done:
    if (b != NULL)
        sqlite3_backup_finish(b);
    if (in_read)
        sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(src);
    return rc;
}

static void say_why(char *why, size_t why_len, const char *fmt, const char *table)
{
    if (why != NULL && why_len > 0)
        snprintf(why, why_len, fmt, table);
}

int tia__bk_sqlite_empty(tia_store *s, int *empty, char *why, size_t why_len, tia_error *err)
{
    sqlite3 *db = tia__store_conn(s);
    sqlite3_stmt *st = NULL;
    int rc = 0, found = 0;
    *empty = 0;
    int lrc = sqlite3_prepare_v2(db,
                                 "SELECT name FROM sqlite_schema WHERE type = 'table' AND name "
                                 "NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                                 -1, &st, NULL);
    while (lrc == SQLITE_OK && !found) {
        if ((lrc = sqlite3_step(st)) != SQLITE_ROW)
            break;
        lrc = SQLITE_OK;
        const char *name = (const char *)sqlite3_column_text(st, 0);
        int rule = tia__bk_table_rule(name);
        if (rule == 1)
            continue;
        /* Table names come from the catalog; %w quotes them as identifiers. */
        char *sql =
            rule == 2
                ? sqlite3_mprintf(
                      "SELECT count(*) FROM \"%w\" WHERE id NOT IN " TIA__BK_SEED_AGENTS_IN, name)
                : sqlite3_mprintf("SELECT EXISTS (SELECT 1 FROM \"%w\")", name);
        if (sql == NULL) {
            rc = tia_error_set(err, TIA_ENOMEM, "out of memory");
            goto done;
        }
        int64_t n = 0;
        lrc = query_int(db, sql, &n);
        sqlite3_free(sql);
        if (lrc == SQLITE_OK && n > 0) {
            found = 1;
            say_why(why, why_len,
                    rule == 2 ? "%s holds agents other than the five seed agents"
                              : "table %s has rows",
                    name);
        }
    }
    if (lrc != SQLITE_OK && lrc != SQLITE_DONE) {
        rc = lite_fail(db, lrc, "cannot check whether the database is empty", err);
        goto done;
    }
    *empty = !found;
done:
    sqlite3_finalize(st);
    return rc;
}
