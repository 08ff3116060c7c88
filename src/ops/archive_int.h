/*
 * What the archive files share (include/tokyoia/archive.h): archive.c runs the
 * batches (selection, the move into the archive tables or the file, the
 * deletes, the counters), archive_rows.c turns workflows into their JSON
 * documents (from the hot tables for a file, from the archive tables for show),
 * archive_file.c reads and writes the gzip-compressed JSON-lines file.
 */
#ifndef TIA_OPS_ARCHIVE_INT_H
#define TIA_OPS_ARCHIVE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <tokyoia/archive.h>
#include <tokyoia/store.h>

/* The first line of every archive file. */
#define TIA__AR_HEADER "{\"format\":\"tokyoia-archive\",\"version\":1}"

/* ---- archive_rows.c ---- */

/*
 * The parameter that stands for a list of workflow ids in the statements of
 * both files: "{id,...}" for PostgreSQL's $n::uuid[], a JSON array for SQLite's
 * json_each(?n). ids are n lowercase UUIDs. *out is malloc'd.
 */
int tia__ar_ids_param(tia_store *s, char (*ids)[TIA_UUID_BUF], size_t n, char **out,
                      tia_error *err);

/* Receives one workflow's document (borrowed: valid during the call only). */
typedef int (*tia__ar_doc_fn)(void *ctx, const char *id, json_t *doc, tia_error *err);

/*
 * Builds the document of every workflow in ids_param (tia__ar_ids_param), in id
 * order, from the hot tables (from_archive 0: archived_at is the database's
 * now) or from the archive tables (1), and hands each to fn. *dependencies (may
 * be NULL) gets the number of dependency rows read.
 */
int tia__ar_documents(tia_store *s, int from_archive, const char *ids_param, tia__ar_doc_fn fn,
                      void *ctx, int64_t *dependencies, tia_error *err);

/* ---- archive_file.c ---- */

typedef struct tia__ar_file tia__ar_file;

/*
 * Opens path for writing batches: creates it (mode 0600, with the header line,
 * synced) when it does not exist; when it exists, refuses unless append, then
 * reads it whole: every workflow id of a complete batch is remembered
 * (tia__ar_file_has), and an unfinished last batch (cut short, or followed by
 * nothing but zero bytes) is cut off, *repaired getting its size. The file is
 * locked (flock) against another writer until closed.
 */
int tia__ar_file_open(const char *path, int append, tia__ar_file **out, int64_t *repaired,
                      tia_error *err);

/* 1 when the file holds workflow id (from before, or from a batch not yet committed). */
int tia__ar_file_has(const tia__ar_file *f, const char *id);

/* Starts a batch: one gzip member. */
int tia__ar_file_begin(tia__ar_file *f, tia_error *err);

/* Appends one line (text without its newline) for workflow id to the batch. */
int tia__ar_file_line(tia__ar_file *f, const char *id, const char *text, size_t len,
                      tia_error *err);

/*
 * Finishes the batch and fsyncs the file: after it returns 0 the lines are on
 * disk. On error the batch is cut off the file again (best effort).
 */
int tia__ar_file_end(tia__ar_file *f, tia_error *err);

/* Cuts the batch being written off the file and forgets its ids. */
void tia__ar_file_abort(tia__ar_file *f);

/*
 * Forgets ids (the workflows of a committed batch): their rows are gone from the
 * database now. Ids written by a batch that was rolled back stay remembered.
 */
void tia__ar_file_committed(tia__ar_file *f, char (*ids)[TIA_UUID_BUF], size_t n);

void tia__ar_file_close(tia__ar_file *f);

#endif
