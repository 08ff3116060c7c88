/*
 * tia_archive_run and tia_archive_show (include/tokyoia/archive.h). A run takes
 * the database's clock once for its cutoff, then repeats one short transaction
 * per batch until no eligible workflow is left:
 *
 *   1. pick up to `batch` eligible workflows, oldest completed_at first through
 *      the partial index idx_workflows_finished (PostgreSQL: FOR UPDATE SKIP
 *      LOCKED, so that two archivers share the work and a task insert into one
 *      of them waits for the commit and then finds it gone);
 *   2. copy their rows into the archive tables, or write their documents to the
 *      file as one gzip member and fsync it;
 *   3. add their tasks to archived_task_totals (agent_stats reads it);
 *   4. with the counter trigger on DELETE switched off for this transaction only
 *      (tokyoia.archiving on PostgreSQL, the archive_guard row on SQLite: see the
 *      migration 0013/0011), delete them from the hot tables; commit.
 *
 * On PostgreSQL the transaction is REPEATABLE READ, so the copy and the deletes
 * see the same rows; a row changed meanwhile by another writer makes the batch
 * fail with a serialization error, and the batch is retried. Nothing is ever
 * held longer than one batch: the locks are the batch's workflow rows, its task
 * and interaction rows as they are deleted, and the archived_task_totals rows
 * of its agents (which no other writer takes), never agent_task_totals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/validate.h"
#include "ops/archive_int.h"
#include "store/db.h"

#define RETRIES 5

/* A workflow may move: finished before the cutoff, nothing open, nothing outside leaning on it. */
#define ELIGIBLE(cutoff, distinct)                                                                 \
    "w.status IN ('completed', 'failed', 'cancelled') AND w.completed_at < " cutoff " "            \
    "AND NOT EXISTS (SELECT 1 FROM agent_tasks o WHERE o.workflow_id = w.id "                      \
    "AND o.status IN ('pending', 'running')) "                                                     \
    "AND NOT EXISTS (SELECT 1 FROM agent_tasks p JOIN agent_tasks c ON c.parent_task_id = p.id "   \
    "WHERE p.workflow_id = w.id AND c.workflow_id " distinct " w.id) "                             \
    "AND NOT EXISTS (SELECT 1 FROM agent_tasks p JOIN task_dependencies d ON d.depends_on = p.id " \
    "JOIN agent_tasks c ON c.id = d.task_id WHERE p.workflow_id = w.id AND "                       \
    "c.workflow_id " distinct " w.id)"
#define ELIGIBLE_PG ELIGIBLE("$1::timestamptz", "IS DISTINCT FROM")
#define ELIGIBLE_LITE ELIGIBLE("?1", "IS NOT")
#define IN_PG(col) col " = ANY($1::uuid[])"
#define IN_LITE(col) col " IN (SELECT value FROM json_each(?1))"

static const tia__sql sql_now = {"archive.now", "SELECT " TIA_PG_US("now()"),
                                 "SELECT " TIA_SQLITE_NOW};

static const tia__sql sql_count = {
    "archive.count",
    "SELECT count(*), COALESCE(sum((SELECT count(*) FROM agent_tasks t WHERE t.workflow_id = "
    "w.id)), 0), COALESCE(sum((SELECT count(*) FROM agent_interactions i WHERE i.workflow_id = "
    "w.id)), 0) FROM workflows w WHERE " ELIGIBLE_PG,
    "SELECT count(*), COALESCE(sum((SELECT count(*) FROM agent_tasks t WHERE t.workflow_id = "
    "w.id)), 0), COALESCE(sum((SELECT count(*) FROM agent_interactions i WHERE i.workflow_id = "
    "w.id)), 0) FROM workflows w WHERE " ELIGIBLE_LITE,
};

static const tia__sql sql_isolation = {
    "archive.isolation", "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", "SELECT 1"};
static const tia__sql sql_guard_on = {"archive.guard_on",
                                      "SELECT set_config('tokyoia.archiving', 'on', true)",
                                      "INSERT INTO archive_guard (id) VALUES (1)"};
static const tia__sql sql_guard_off = {"archive.guard_off",
                                       "SELECT set_config('tokyoia.archiving', 'off', true)",
                                       "DELETE FROM archive_guard"};

static const tia__sql sql_pick = {
    "archive.pick",
    "SELECT w.id::text FROM workflows w WHERE " ELIGIBLE_PG
    " ORDER BY w.completed_at, w.id LIMIT $2 FOR UPDATE OF w SKIP LOCKED",
    /* Without INDEXED BY, SQLite takes idx_workflows_status and sorts every finished
       workflow for each batch (measured: 1.7 s a batch at 1,000,000 tasks). */
    "SELECT w.id FROM workflows w INDEXED BY idx_workflows_finished WHERE " ELIGIBLE_LITE
    " ORDER BY w.completed_at, w.id LIMIT ?2",
};

/* Copies into the archive tables: the same columns in the same order, then archived_at. */
static const tia__sql sql_copy[4] = {
    {"archive.copy_workflows",
     "INSERT INTO workflows_archive SELECT w.*, now() FROM workflows w WHERE " IN_PG("w.id"),
     "INSERT INTO workflows_archive SELECT w.*, " TIA_SQLITE_NOW
     " FROM workflows w WHERE " IN_LITE("w.id")},
    {"archive.copy_tasks",
     "INSERT INTO agent_tasks_archive SELECT t.*, now() FROM agent_tasks t WHERE " IN_PG(
         "t.workflow_id"),
     "INSERT INTO agent_tasks_archive SELECT t.*, " TIA_SQLITE_NOW
     " FROM agent_tasks t WHERE " IN_LITE("t.workflow_id")},
    {"archive.copy_interactions",
     "INSERT INTO agent_interactions_archive SELECT i.*, now() FROM agent_interactions i "
     "WHERE " IN_PG("i.workflow_id"),
     "INSERT INTO agent_interactions_archive SELECT i.*, " TIA_SQLITE_NOW
     " FROM agent_interactions i WHERE " IN_LITE("i.workflow_id")},
    {"archive.copy_dependencies",
     "INSERT INTO task_dependencies_archive SELECT d.*, now() FROM task_dependencies d "
     "JOIN agent_tasks t ON t.id = d.task_id WHERE " IN_PG("t.workflow_id"),
     "INSERT INTO task_dependencies_archive SELECT d.*, " TIA_SQLITE_NOW
     " FROM task_dependencies d JOIN agent_tasks t ON t.id = d.task_id WHERE " IN_LITE(
         "t.workflow_id")},
};

/* In agent order, so that two archivers lock the totals rows in the same order. */
static const tia__sql sql_totals = {
    "archive.totals",
    "INSERT INTO archived_task_totals AS x (agent_id, tasks, completed, failed, tokens, "
    "cost_usd, duration_sum, duration_n) "
    "SELECT t.agent_id, count(*), count(*) FILTER (WHERE t.status = 'completed'), "
    "count(*) FILTER (WHERE t.status = 'failed'), COALESCE(sum(t.tokens_used), 0), "
    "COALESCE(sum(t.cost_usd), 0), COALESCE(sum(t.duration_ms), 0), count(t.duration_ms) "
    "FROM agent_tasks t WHERE " IN_PG(
        "t.workflow_id") " GROUP BY t.agent_id ORDER BY t.agent_id "
                         "ON CONFLICT (agent_id) DO UPDATE SET tasks = x.tasks + EXCLUDED.tasks, "
                         "completed = x.completed + EXCLUDED.completed, failed = x.failed + "
                         "EXCLUDED.failed, "
                         "tokens = x.tokens + EXCLUDED.tokens, cost_usd = x.cost_usd + "
                         "EXCLUDED.cost_usd, "
                         "duration_sum = x.duration_sum + EXCLUDED.duration_sum, "
                         "duration_n = x.duration_n + EXCLUDED.duration_n",
    "INSERT INTO archived_task_totals AS x (agent_id, tasks, completed, failed, tokens, "
    "cost_usd_micros, duration_sum, duration_n) "
    "SELECT t.agent_id, count(*), count(*) FILTER (WHERE t.status = 'completed'), "
    "count(*) FILTER (WHERE t.status = 'failed'), COALESCE(sum(t.tokens_used), 0), "
    "COALESCE(sum(t.cost_usd_micros), 0), COALESCE(sum(t.duration_ms), 0), "
    "count(t.duration_ms) "
    "FROM agent_tasks t WHERE " IN_LITE(
        "t.workflow_id") " GROUP BY t.agent_id "
                         "ORDER BY t.agent_id "
                         "ON CONFLICT (agent_id) DO UPDATE SET tasks = x.tasks + excluded.tasks, "
                         "completed = x.completed + excluded.completed, failed = x.failed + "
                         "excluded.failed, "
                         "tokens = x.tokens + excluded.tokens, "
                         "cost_usd_micros = x.cost_usd_micros + excluded.cost_usd_micros, "
                         "duration_sum = x.duration_sum + excluded.duration_sum, "
                         "duration_n = x.duration_n + excluded.duration_n",
};

/* Interactions, then tasks (their dependencies go by cascade), then the workflows. */
static const tia__sql sql_delete[3] = {
    {"archive.delete_interactions", "DELETE FROM agent_interactions WHERE " IN_PG("workflow_id"),
     "DELETE FROM agent_interactions WHERE " IN_LITE("workflow_id")},
    {"archive.delete_tasks", "DELETE FROM agent_tasks WHERE " IN_PG("workflow_id"),
     "DELETE FROM agent_tasks WHERE " IN_LITE("workflow_id")},
    {"archive.delete_workflows", "DELETE FROM workflows WHERE " IN_PG("id"),
     "DELETE FROM workflows WHERE " IN_LITE("id")},
};

static const tia__sql sql_hot_exists = {"archive.hot_exists",
                                        "SELECT status FROM workflows WHERE id = $1::uuid",
                                        "SELECT status FROM workflows WHERE id = ?1"};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One row of int64 columns from a statement. */
static int query_ints(tia_store *s, const tia__sql *q, const tia__param *p, int np, int64_t *out,
                      int n, tia_error *err)
{
    tia__rows *r = NULL;
    int rc = tia__db_query(s, q, p, np, &r, err);
    if (rc == 0 && (rc = tia__rows_next(r, err)) == 0)
        rc = tia_error_set(err, TIA_EDB, "%s returned no row", q->name);
    if (rc > 0) {
        rc = 0;
        for (int i = 0; i < n; i++)
            out[i] = tia__col_int(r, i);
    }
    tia__rows_free(r);
    return rc;
}

typedef struct run {
    tia_store *s;
    const tia_archive_options *o;
    tia_archive_result *res;
    tia__ar_file *file;
    char (*ids)[TIA_UUID_BUF];
    size_t n_ids;
    int64_t batch_deps, batch_skipped;
    char *line; /* reused buffer for a document's text */
} run;

/*
 * Writes one document as a line of the file. A workflow the file holds already
 * (an interrupted run's batch, or one this run wrote before its transaction
 * failed) is written again, as it is now: its rows may have changed since (an
 * interaction added to the finished workflow, the concurrent write that made a
 * PostgreSQL batch fail), and they are deleted after this copy, so skipping it
 * lost those changes. Readers take the last copy (tia_archive_show_file).
 */
static int write_doc(void *ctx, const char *id, json_t *doc, tia_error *err)
{
    run *R = ctx;
    if (tia__ar_file_has(R->file, id))
        R->batch_skipped++;
    char *text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory writing workflow %s", id);
    int rc = tia__ar_file_line(R->file, id, text, strlen(text), err);
    free(text);
    return rc;
}

/* Picks the batch's workflows into R->ids; 0 with R->n_ids == 0 when none is left. */
static int pick(run *R, tia_error *err)
{
    tia__param p[2] = {tia__p_ts(R->res->cutoff), tia__p_int(R->o->batch)};
    tia__rows *r = NULL;
    R->n_ids = 0;
    int rc = tia__db_query(R->s, &sql_pick, p, 2, &r, err);
    while (rc == 0 && (rc = tia__rows_next(r, err)) > 0) {
        if (R->n_ids < (size_t)R->o->batch) {
            const char *id = tia__col_text(r, 0);
            snprintf(R->ids[R->n_ids++], TIA_UUID_BUF, "%s", id != NULL ? id : "");
        }
        rc = 0;
    }
    tia__rows_free(r);
    return rc < 0 ? rc : 0;
}

/* One batch in one transaction; *moved gets its number of workflows (0: none left). */
static int one_batch(run *R, int64_t *moved, tia_error *err)
{
    tia_store *s = R->s;
    char *ids = NULL;
    int64_t n_tasks = 0, n_inter = 0, n_deps = 0, ch = 0;
    *moved = 0;
    R->batch_deps = R->batch_skipped = 0;
    int rc = tia__db_begin(s, err);
    if (rc != 0)
        return rc;
    if ((rc = tia__db_exec(s, &sql_isolation, NULL, 0, NULL, err)) != 0 ||
        (rc = tia__db_exec(s, &sql_guard_on, NULL, 0, NULL, err)) != 0 || (rc = pick(R, err)) != 0)
        goto done;
    if (R->n_ids == 0)
        goto done;
    if ((rc = tia__ar_ids_param(s, R->ids, R->n_ids, &ids, err)) != 0)
        goto done;
    tia__param p = tia__p_text(ids);
    if (R->file != NULL) {
        if ((rc = tia__ar_file_begin(R->file, err)) != 0)
            goto done;
        rc = tia__ar_documents(s, 0, ids, write_doc, R, &n_deps, err);
        if (rc == 0)
            rc = tia__ar_file_end(R->file, err);
        else
            tia__ar_file_abort(R->file);
        if (rc != 0)
            goto done;
    } else {
        for (int i = 0; i < 4 && rc == 0; i++) {
            rc = tia__db_exec(s, &sql_copy[i], &p, 1, &ch, err);
            if (i == 3)
                n_deps = ch;
        }
        if (rc != 0)
            goto done;
    }
    if ((rc = tia__db_exec(s, &sql_totals, &p, 1, NULL, err)) != 0 ||
        (rc = tia__db_exec(s, &sql_delete[0], &p, 1, &n_inter, err)) != 0 ||
        (rc = tia__db_exec(s, &sql_delete[1], &p, 1, &n_tasks, err)) != 0 ||
        (rc = tia__db_exec(s, &sql_delete[2], &p, 1, &ch, err)) != 0 ||
        (rc = tia__db_exec(s, &sql_guard_off, NULL, 0, NULL, err)) != 0)
        goto done;
    if ((size_t)ch != R->n_ids) {
        rc = tia_error_set(err, TIA_EDB, "archive: deleted %lld of %zu workflows", (long long)ch,
                           R->n_ids);
        goto done;
    }
    if ((rc = tia__db_commit(s, err)) != 0)
        goto done;
    if (R->file != NULL)
        tia__ar_file_committed(R->file, R->ids, R->n_ids);
    *moved = ch;
    R->res->workflows += ch;
    R->res->tasks += n_tasks;
    R->res->interactions += n_inter;
    R->res->dependencies += n_deps;
    R->res->already_in_file += R->batch_skipped;
    R->res->batches++;
done:
    if (rc != 0 || *moved == 0)
        tia__db_rollback(s);
    free(ids);
    return rc;
}

static const tia_archive_options no_options = {0};

static int check_options(const tia_archive_options *in, tia_archive_options *o, tia_error *err)
{
    *o = in != NULL ? *in : no_options;
    if (o->older_than_us < 0)
        return tia_error_set(err, TIA_EINVAL, "older_than must be >= 0");
    if (o->batch == 0)
        o->batch = TIA_ARCHIVE_BATCH_DEFAULT;
    if (o->batch < 1 || o->batch > TIA_ARCHIVE_BATCH_MAX)
        return tia_error_set(err, TIA_EINVAL, "batch must be 1..%d workflows, not %d",
                             TIA_ARCHIVE_BATCH_MAX, o->batch);
    if (o->to_file != NULL && *o->to_file == '\0')
        return tia_error_set(err, TIA_EINVAL, "no archive file named");
    return 0;
}

static void report(const run *R, int64_t total)
{
    if (R->o->progress == NULL)
        return;
    tia_archive_progress p = {R->res->workflows, R->res->tasks, R->res->interactions, total,
                              R->res->batches};
    R->o->progress(R->o->progress_ctx, &p);
}

int tia_archive_run(tia_store *s, const tia_archive_options *opts, tia_archive_result *out,
                    tia_error *err)
{
    double t0 = now_s();
    tia_archive_options o;
    tia_archive_result res;
    memset(&res, 0, sizeof res);
    run R = {s, &o, &res, NULL, NULL, 0, 0, 0, NULL};
    int64_t now = 0, counts[3] = {0, 0, 0};
    int rc = check_options(opts, &o, err);
    if (rc != 0)
        goto done;
    if ((rc = query_ints(s, &sql_now, NULL, 0, &now, 1, err)) != 0)
        goto done;
    res.cutoff = now - o.older_than_us;
    tia__param cut = tia__p_ts(res.cutoff);
    if ((rc = query_ints(s, &sql_count, &cut, 1, counts, 3, err)) != 0)
        goto done;
    if (o.dry_run) {
        struct stat st;
        if (o.to_file != NULL && !o.append && stat(o.to_file, &st) == 0) {
            rc = tia_error_set(err, TIA_ECONFLICT,
                               "'%s' already exists (use --append to add to it)", o.to_file);
            goto done;
        }
        res.workflows = counts[0];
        res.tasks = counts[1];
        res.interactions = counts[2];
        goto done;
    }
    R.ids = malloc((size_t)o.batch * sizeof *R.ids);
    if (R.ids == NULL) {
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory for a batch of %d", o.batch);
        goto done;
    }
    if (o.to_file != NULL &&
        (rc = tia__ar_file_open(o.to_file, o.append, &R.file, &res.repaired_bytes, err)) != 0)
        goto done;
    report(&R, counts[0]);
    for (;;) {
        int64_t moved = 0;
        for (int attempt = 0;; attempt++) {
            rc = one_batch(&R, &moved, err);
            /* A concurrent update of one of the batch's rows: take the batch again. */
            if (rc != TIA_ECONFLICT || attempt + 1 >= RETRIES)
                break;
            usleep(10000u << attempt);
        }
        if (rc != 0 || moved == 0)
            break;
        report(&R, counts[0] > res.workflows ? counts[0] : res.workflows);
    }
done:
    tia__ar_file_close(R.file);
    free(R.ids);
    res.seconds = now_s() - t0;
    if (out != NULL)
        *out = res;
    return rc;
}

/* ---- show ---- */

static int keep_doc(void *ctx, const char *id, json_t *doc, tia_error *err)
{
    char **out = ctx;
    (void)id;
    free(*out);
    *out = json_dumps(doc, JSON_COMPACT);
    return *out != NULL ? 0 : tia_error_set(err, TIA_ENOMEM, "out of memory");
}

int tia_archive_show(tia_store *s, const char *workflow_id, char **json_out, tia_error *err)
{
    char key[1][TIA_UUID_BUF];
    char *ids = NULL, *doc = NULL;
    tia__rows *r = NULL;
    *json_out = NULL;
    int rc = tia__check_uuid(err, "workflow id", workflow_id, 1, key[0]);
    if (rc == 0)
        rc = tia__ar_ids_param(s, key, 1, &ids, err);
    if (rc == 0)
        rc = tia__ar_documents(s, 1, ids, keep_doc, &doc, NULL, err);
    if (rc != 0 || doc != NULL)
        goto done;
    tia__param p = tia__p_text(key[0]);
    if ((rc = tia__db_query(s, &sql_hot_exists, &p, 1, &r, err)) == 0 &&
        (rc = tia__rows_next(r, err)) >= 0) {
        if (rc > 0)
            rc = tia_error_set(err, TIA_ENOTFOUND,
                               "workflow %s is not archived: it is in the hot tables (%s); see "
                               "'tokyoia workflows show %s'",
                               key[0], tia__col_text(r, 0), key[0]);
        else
            rc = tia_error_set(err, TIA_ENOTFOUND, "workflow %s is not in the archive", key[0]);
    }
done:
    tia__rows_free(r);
    free(ids);
    if (rc != 0) {
        free(doc);
        return rc;
    }
    *json_out = doc;
    return 0;
}
