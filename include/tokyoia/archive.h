/*
 * Archiving: finished workflows (completed, failed or cancelled) whose
 * completed_at is older than a cutoff move, with all their tasks, interactions
 * and task dependencies, out of the hot tables, in short transactions of a
 * bounded number of workflows each, so that writers are never held up for long.
 * They go into the archive tables (workflows_archive, agent_tasks_archive,
 * agent_interactions_archive, task_dependencies_archive: migrations
 * 0013_archive on PostgreSQL, 0011_archive on SQLite), or into a gzip-compressed
 * JSON-lines file, one line per workflow (format in docs/operations.md).
 *
 * A move is not a deletion of history: the agents' counters, agent_task_totals
 * (tia_stats_agents) and the seed's agent_stats view answer the same before and
 * after it. A workflow is left where it is, whatever its age, while one of its
 * tasks is pending or running, or while a task outside it is its subtask or
 * depends on one of its tasks. Tasks outside any workflow are never archived.
 *
 * File mode never loses a row: a batch's lines are written and fsync'd before
 * its rows are deleted, in the transaction that selected them; a run that dies
 * in between leaves them in both places, and a later run with append set skips
 * writing the workflows the file already holds and deletes them.
 */
#ifndef TOKYOIA_ARCHIVE_H
#define TOKYOIA_ARCHIVE_H

#include <stdint.h>

#include <tokyoia/error.h>
#include <tokyoia/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Workflows per transaction: the default and the largest accepted. */
#define TIA_ARCHIVE_BATCH_DEFAULT 500
#define TIA_ARCHIVE_BATCH_MAX 10000
/* The longest line (one workflow's JSON) that a file may hold. */
#define TIA_ARCHIVE_LINE_MAX (256u * 1024u * 1024u)

/* Where a run stands, passed to the progress callback after every batch. */
typedef struct tia_archive_progress {
    int64_t workflows;       /* moved so far */
    int64_t tasks;           /* moved so far */
    int64_t interactions;    /* moved so far */
    int64_t total_workflows; /* eligible when the run started (more may become so) */
    int64_t batches;         /* committed so far */
} tia_archive_progress;

/* Called in the calling thread; *p is valid during the call only. */
typedef void (*tia_archive_progress_fn)(void *ctx, const tia_archive_progress *p);

typedef struct tia_archive_options {
    int64_t older_than_us; /* required, >= 0: completed_at before the database's now minus this */
    int batch;             /* workflows per transaction, 1..TIA_ARCHIVE_BATCH_MAX (0: default) */
    const char *to_file;   /* NULL: the archive tables; else this file */
    int append;            /* file: add to FILE if it exists (else it must not exist) */
    int dry_run;           /* count what would move, move nothing, write no file */
    tia_archive_progress_fn progress; /* may be NULL */
    void *progress_ctx;
} tia_archive_options;

typedef struct tia_archive_result {
    int64_t workflows;       /* moved (dry run: eligible) */
    int64_t tasks;           /* moved (dry run: theirs) */
    int64_t interactions;    /* moved (dry run: theirs) */
    int64_t dependencies;    /* task dependency rows moved (dry run: 0) */
    int64_t batches;         /* transactions committed */
    int64_t already_in_file; /* written again: FILE held an earlier copy (readers take the last) */
    int64_t repaired_bytes;  /* an unfinished tail cut off FILE before appending */
    tia_time_us cutoff;      /* completed_at before this was eligible */
    double seconds;          /* wall-clock time of the whole run */
} tia_archive_result;

/*
 * Moves the eligible workflows of s as opts says, batch after batch until none
 * is left (or, on PostgreSQL, all that are left are locked by another
 * archiver). Each batch is one transaction; a batch that meets a concurrent
 * update of one of its rows is retried. out may be NULL. s must not be in a
 * transaction. On error, the batches already committed stay moved (out says
 * how many) and the failed batch is rolled back.
 * Errors: TIA_EINVAL (older_than_us < 0, batch out of range, an empty file name,
 * a directory); TIA_ECONFLICT (FILE exists and append is not set; another
 * process is appending to FILE; a batch still met concurrent updates after its
 * retries); TIA_EIO (FILE cannot be created, read, written or synced; TIA_EFULL
 * when its disk is full);
 * TIA_EINVAL also when FILE is not an archive file or is damaged other than by
 * an unfinished tail; TIA_ESCHEMA (archive migration not applied); TIA_EDB,
 * TIA_EUNAVAIL, TIA_EBUSY, TIA_ENOMEM.
 */
int tia_archive_run(tia_store *s, const tia_archive_options *opts, tia_archive_result *out,
                    tia_error *err);

/*
 * The archived workflow workflow_id from the archive tables of s, as one JSON
 * document: the workflow's fields as `tokyoia workflows show --json` gives them,
 * with "archived_at", "tasks" (oldest first), "interactions" (in order) and
 * "dependencies" ([{"task_id", "depends_on"}]). *json_out is malloc'd text (free()).
 * Errors: TIA_EINVAL (not a UUID); TIA_ENOTFOUND (not archived; the message
 * says when it is still in the hot tables); TIA_EDB, TIA_EUNAVAIL, TIA_ENOMEM.
 */
int tia_archive_show(tia_store *s, const char *workflow_id, char **json_out, tia_error *err);

/*
 * The same document from an archive file written by tia_archive_run (its last
 * line for workflow_id: a run that met it in the file wrote it again). Errors: TIA_EINVAL (not a
 * UUID, not an archive file, damaged before the line is found); TIA_ENOTFOUND (no such file, or no
 * such workflow in it); TIA_EIO; TIA_ENOMEM.
 */
int tia_archive_show_file(const char *path, const char *workflow_id, char **json_out,
                          tia_error *err);

#ifdef __cplusplus
}
#endif
#endif
