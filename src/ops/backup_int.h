/*
 * What the three backup files share: backup.c holds the public functions (file
 * checks, the temporary file and its rename, the rule for an empty database) and
 * hands the copy itself to backup_pg.c (pg_dump, pg_restore, psql as child
 * processes) or backup_sqlite.c (SQLite's online backup API).
 */
#ifndef TIA_OPS_BACKUP_INT_H
#define TIA_OPS_BACKUP_INT_H

#include <stddef.h>
#include <stdint.h>

#include <tokyoia/backup.h>
#include <tokyoia/store.h>

/* First line of a plain SQL backup; tia_backup_identify looks for it. */
#define TIA__BK_SQL_MAGIC "-- tokyoia backup"

/* Calls o->progress (when set) with one tia_backup_progress. */
void tia__bk_report(const tia_backup_options *o, const char *phase, const char *unit, int64_t done,
                    int64_t total, int64_t bytes, const char *item);

/*
 * How a table counts when deciding whether a database is empty: 0 it must hold no
 * rows, 1 its rows do not count (filled by the migrations), 2 it is agents, which
 * may hold the seed agents only (TIA__BK_SEED_AGENTS_SQL counts the others).
 */
int tia__bk_table_rule(const char *table);
#define TIA__BK_SEED_AGENTS_IN "('akira-001', 'yuki-002', 'hiro-003', 'sakura-004', 'kenji-005')"

/* ---- backup_pg.c ---- */

/*
 * Runs pg_dump for the database of s, its output going to fd (custom format, or
 * plain SQL with --clean --if-exists --no-owner --no-privileges when sql is set).
 * Progress counts tables by pg_dump's --verbose lines, with the bytes of fd.
 */
int tia__bk_pg_dump(tia_store *s, int fd, int sql, const tia_backup_options *o, tia_error *err);

/*
 * Checks a custom archive with `pg_restore --list`: readable, and holding the
 * tables agents and schema_migrations. *entries gets its number of TOC entries.
 */
int tia__bk_pg_check_archive(const char *path, int64_t *entries, tia_error *err);

/*
 * Restores path into the database of s in one transaction: a custom archive
 * through pg_restore (entries from tia__bk_pg_check_archive, for progress), plain
 * SQL through psql fed from path (size bytes).
 */
int tia__bk_pg_restore(tia_store *s, const char *path, tia_backup_kind kind, int64_t entries,
                       int64_t size, const tia_backup_options *o, tia_error *err);

/* tia_backup_target_empty on PostgreSQL. */
int tia__bk_pg_empty(tia_store *s, int *empty, char *why, size_t why_len, tia_error *err);

/* ---- backup_sqlite.c ---- */

/* Copies the database of s into the SQLite file at dest (which exists, empty). */
int tia__bk_sqlite_backup(tia_store *s, const char *dest, const tia_backup_options *o,
                          tia_error *err);

/*
 * Checks that path is a whole tokyoia SQLite database (not truncated, with the
 * tables agents and schema_migrations) and is not the file s has open.
 */
int tia__bk_sqlite_check(tia_store *s, const char *path, tia_error *err);

/* Replaces the content of the database of s with the SQLite file at path. */
int tia__bk_sqlite_restore(tia_store *s, const char *path, const tia_backup_options *o,
                           tia_error *err);

/* tia_backup_target_empty on SQLite. */
int tia__bk_sqlite_empty(tia_store *s, int *empty, char *why, size_t why_len, tia_error *err);

#endif
