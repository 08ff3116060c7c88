/*
 * Backup and restore of a whole tokyoia database. PostgreSQL goes through pg_dump
 * and pg_restore (or psql for plain SQL), run as child processes with the store's
 * connection parameters in their environment, never through a shell; SQLite goes
 * through SQLite's online backup API, page by page. Both take a consistent
 * snapshot while writers keep writing: pg_dump's repeatable-read transaction, and
 * on SQLite a read transaction held across every step of the copy.
 *
 * A backup is written to a temporary file beside FILE and renamed into place
 * when complete, so a failed backup leaves no partial FILE. A restore goes into
 * an empty database (see tia_backup_target_empty) unless forced, in one
 * transaction: a failed restore leaves the database as it was.
 */
#ifndef TOKYOIA_BACKUP_H
#define TOKYOIA_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include <tokyoia/error.h>
#include <tokyoia/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a backup file holds, recognised by its first bytes. */
typedef enum tia_backup_kind {
    TIA_BACKUP_NONE = 0,  /* not a tokyoia backup */
    TIA_BACKUP_PG_CUSTOM, /* pg_dump's custom format (starts with "PGDMP") */
    TIA_BACKUP_PG_SQL,    /* plain SQL written by tia_backup (a "-- tokyoia backup" first line) */
    TIA_BACKUP_SQLITE     /* a SQLite database file ("SQLite format 3") */
} tia_backup_kind;

/* "pg_dump custom", "plain SQL", "SQLite" or "not a backup"; never NULL. */
const char *tia_backup_kind_name(tia_backup_kind k);

/* Where a backup or restore stands, passed to the progress callback. */
typedef struct tia_backup_progress {
    const char *phase; /* "backup" or "restore" */
    const char *unit;  /* what done and total count: "pages", "tables", "entries" or "bytes" */
    int64_t done;
    int64_t total;    /* 0 when not known */
    int64_t bytes;    /* bytes of the file written or read so far, -1 when not known */
    const char *item; /* the table being copied ("public.agent_tasks"), or NULL */
} tia_backup_progress;

/*
 * Called in the calling thread, after each step of a SQLite copy and after each
 * line of pg_dump/pg_restore progress (and at least every quarter second while
 * a PostgreSQL child runs). *p and its strings are valid during the call only.
 * On SQLite the snapshot of a backup is taken before the first call.
 */
typedef void (*tia_backup_progress_fn)(void *ctx, const tia_backup_progress *p);

typedef struct tia_backup_options {
    int sql;        /* backup: plain SQL for psql instead of pg_dump's custom format
                       (PostgreSQL only; TIA_EINVAL on SQLite) */
    int force;      /* backup: replace an existing FILE; restore: replace a database
                       that is not empty */
    int step_pages; /* SQLite: pages copied per step, 1..1000000 (0: 1024) */
    tia_backup_progress_fn progress; /* may be NULL */
    void *progress_ctx;
} tia_backup_options;

typedef struct tia_backup_result {
    tia_backup_kind kind;
    int64_t bytes;  /* size of FILE */
    double seconds; /* wall-clock time of the whole operation */
} tia_backup_result;

/*
 * Writes a backup of the database of s to path: on PostgreSQL pg_dump's custom
 * format (or plain SQL with opts->sql), on SQLite a SQLite file in rollback-journal
 * mode that opens on its own. The file is created with mode 0600. opts and out may
 * be NULL. s is only read from (its connection parameters, its file name); the
 * copy runs on connections of its own. s must not be in a transaction.
 * Errors, with nothing left at path: TIA_ECONFLICT when path exists and
 * opts->force is not set; TIA_EINVAL for an empty path, a directory, or sql on
 * SQLite; TIA_EIO when the file cannot be written or pg_dump cannot be found or
 * run; TIA_EDB when pg_dump or SQLite fails (its message quoted); TIA_EUNAVAIL when
 * the database cannot be reached; TIA_ENOMEM.
 */
int tia_backup(tia_store *s, const char *path, const tia_backup_options *opts,
               tia_backup_result *out, tia_error *err);

/*
 * Replaces the content of the database of s with the backup at path, which must
 * be of this backend (pg_dump custom or plain SQL for PostgreSQL, SQLite for
 * SQLite). Unless opts->force, the database must be empty (tia_backup_target_empty).
 * PostgreSQL: pg_restore --clean --if-exists --single-transaction --no-owner
 * --no-privileges (psql --single-transaction for plain SQL), so objects end up
 * owned by the connecting user and a failure rolls everything back. SQLite: the
 * online backup API into the store's own connection, committed at the end. The
 * restored database holds the backup's schema_migrations rows and counters as they
 * were; migrations newer than the backup are then pending (`tokyoia migrate`).
 * opts and out may be NULL. s must not be in a transaction.
 * Errors, with nothing written: TIA_ENOTFOUND when path does not exist; TIA_EIO
 * when it cannot be read or the restore tool cannot be found or run; TIA_EINVAL when it is
 * not a tokyoia backup, is truncated, or is of the other backend; TIA_ECONFLICT when
 * the database is not empty and opts->force is not set (the message names a
 * table with rows); TIA_EDB when the restore fails (the tool's message quoted);
 * TIA_EBUSY when SQLite stays locked past the busy timeout; TIA_ENOMEM.
 */
int tia_restore(tia_store *s, const char *path, const tia_backup_options *opts,
                tia_backup_result *out, tia_error *err);

/*
 * Reads the first bytes of path and says what it holds. *kind is set to
 * TIA_BACKUP_NONE on every error. Errors: TIA_ENOTFOUND (no such file), TIA_EIO
 * (cannot read it), TIA_EINVAL (a directory, empty, or not a backup: the message says
 * which formats are accepted).
 */
int tia_backup_identify(const char *path, tia_backup_kind *kind, tia_error *err);

/*
 * Whether the database of s may receive a restore without force. Empty means:
 * no table at all, or a database as `tokyoia init` leaves it, that is every table
 * has no rows except schema_migrations, model_prices and agent_task_totals (filled
 * by the migrations) and agents, which may hold the five seed agents and no other.
 * Tables of any schema count (on PostgreSQL every schema but the system ones), so
 * a table added later that holds rows makes the database non-empty. *empty gets 1
 * or 0; when 0, why (may be NULL, why_len bytes) names the first table found with
 * rows. Errors: TIA_EDB, TIA_EUNAVAIL, TIA_ENOMEM.
 */
int tia_backup_target_empty(tia_store *s, int *empty, char *why, size_t why_len, tia_error *err);

#ifdef __cplusplus
}
#endif
#endif
