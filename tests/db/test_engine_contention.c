/*
 * Contention on the queue, on both backends: 10,000 tasks of one workflow
 * claimed at once by 4 threads (each with its own store) and 2 processes (this
 * executable run again with --worker), each completing what it claims in
 * batches. Every task must be completed exactly once: each worker lists the
 * tasks whose completion it was told succeeded, the lists together must hold
 * every task once, and the database must agree (every task completed at its
 * first attempt, the workflow completed, the counters equal a recomputation).
 * SQLite serialises the writers; they wait on its busy timeout.
 */
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine_test_util.h"

#include <tokyoia/tasks.h>
#include <tokyoia/workflows.h>

#define N_TASKS 10000
#define N_THREADS 4
#define N_PROCS 2
#define CLAIM_BATCH 100
#define COMPLETE_BATCH 50

static const char *const agents[2] = {"akira-001", "yuki-002"};

/* One worker's run: the ids it completed, or an error. */
typedef struct run {
    const char *url;
    char name[32];
    char (*done)[TIA_UUID_BUF];
    size_t n_done;
    int rc;
    tia_error err;
} run;

/* Runs op until it is not TIA_EBUSY (SQLite: another writer outlasted the busy timeout). */
#define RETRY_BUSY(rc, op)                                                                         \
    do {                                                                                           \
        (rc) = (op);                                                                               \
    } while ((rc) == TIA_EBUSY)

static int complete_some(tia_store *s, run *r, const struct tia_claim_list *l, size_t from,
                         size_t to)
{
    tia_completion items[COMPLETE_BATCH];
    int rcs[COMPLETE_BATCH];
    size_t n = to - from;
    for (size_t i = 0; i < n; i++)
        items[i] = completion_of(&l->items[from + i], r->name, "{\"ok\":true}", 3);
    int rc;
    RETRY_BUSY(rc, tia_engine_complete_batch(s, items, n, rcs, &r->err));
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (rcs[i] != 0)
            return tia_error_set(&r->err, rcs[i], "%s: item %zu of a batch refused: %s", r->name, i,
                                 r->err.message);
        memcpy(r->done[r->n_done++], items[i].task_id, TIA_UUID_BUF);
    }
    return rc;
}

/* Claims and completes until the queue stays empty. */
static void *work(void *arg)
{
    run *r = arg;
    tia_store *s = NULL;
    tia_store_options opts = {.busy_timeout_ms = 60000};
    int empty = 0;
    r->done = calloc(N_TASKS, TIA_UUID_BUF);
    r->rc = r->done ? tia_store_open(r->url, &opts, &s, &r->err) : TIA_ENOMEM;
    while (r->rc == 0 && empty < 3) {
        struct tia_claim_list l;
        RETRY_BUSY(r->rc, tia_engine_claim(s, agents, 2, r->name, CLAIM_BATCH, 60000, &l, &r->err));
        if (r->rc != 0)
            break;
        empty = l.n == 0 ? empty + 1 : 0;
        for (size_t i = 0; r->rc == 0 && i < l.n; i += COMPLETE_BATCH)
            r->rc = complete_some(s, r, &l, i, i + COMPLETE_BATCH < l.n ? i + COMPLETE_BATCH : l.n);
        tia_claim_list_free(&l);
        if (empty)
            usleep(20000);
    }
    tia_store_close(s);
    return NULL;
}

/* The --worker process: works, then writes its ids, one a line, to path. */
static int worker_main(const char *url, const char *name, const char *path)
{
    run r = {.url = url};
    snprintf(r.name, sizeof r.name, "%s", name);
    work(&r);
    FILE *f = fopen(path, "w");
    for (size_t i = 0; f != NULL && i < r.n_done; i++)
        fprintf(f, "%s\n", r.done[i]);
    if (f == NULL || fclose(f) != 0 || r.rc != 0) {
        fprintf(stderr, "%s: %d %s\n", name, r.rc, r.err.message);
        return 1;
    }
    free(r.done);
    return 0;
}

static pid_t spawn_worker(const char *url, const char *name, const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {
            "test_engine_contention", "--worker", (char *)url, (char *)name, (char *)path, NULL};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    return pid;
}

static size_t read_ids(const char *path, char (*out)[TIA_UUID_BUF], size_t at)
{
    FILE *f = fopen(path, "r");
    char line[64];
    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL && at < 2 * N_TASKS) {
        line[strcspn(line, "\n")] = '\0';
        snprintf(out[at++], TIA_UUID_BUF, "%.36s", line);
    }
    fclose(f);
    return at;
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void create_queue(tia_store *s, char wf[TIA_UUID_BUF])
{
    tia_error err = {0};
    tia_workflow_new w = {.name = "contention"};
    TIA_OK_OR_FAIL(tia_workflow_create(s, &w, wf, &err), &err);
    tia_task_new *t = calloc(1000, sizeof *t);
    assert_non_null(t);
    for (int chunk = 0; chunk < N_TASKS / 1000; chunk++) {
        for (int i = 0; i < 1000; i++) {
            t[i] = (tia_task_new){.agent_id = agents[i % 2],
                                  .workflow_id = wf,
                                  .task_type = "work",
                                  .description = "contended"};
        }
        TIA_OK_OR_FAIL(tia_task_create_batch(s, t, 1000, NULL, &err), &err);
    }
    free(t);
}

static void test_every_task_completed_once(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    char wf[TIA_UUID_BUF], dir[] = "/tmp/tia-contention-XXXXXX", paths[N_PROCS][96];
    create_queue(s, wf);
    assert_non_null(mkdtemp(dir));

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pids[N_PROCS];
    for (int i = 0; i < N_PROCS; i++) {
        char name[16];
        snprintf(name, sizeof name, "proc-%d", i);
        snprintf(paths[i], sizeof paths[i], "%s/%s.ids", dir, name);
        pids[i] = spawn_worker(tia_test_url(s), name, paths[i]);
        assert_true(pids[i] > 0);
    }
    run runs[N_THREADS];
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        runs[i] = (run){.url = tia_test_url(s)};
        snprintf(runs[i].name, sizeof runs[i].name, "thread-%d", i);
        assert_int_equal(pthread_create(&th[i], NULL, work, &runs[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N_PROCS; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);

    /* Every completion the workers were told succeeded, together: each task once. */
    char(*all)[TIA_UUID_BUF] = calloc(2 * N_TASKS, TIA_UUID_BUF);
    assert_non_null(all);
    size_t n = 0;
    int busy_workers = 0; /* SQLite's lock is not fair: a worker may starve, not all */
    for (int i = 0; i < N_THREADS; i++) {
        if (runs[i].rc != 0)
            fail_msg("%s: %d %s", runs[i].name, runs[i].rc, runs[i].err.message);
        print_message("%s: %zu tasks\n", runs[i].name, runs[i].n_done);
        busy_workers += runs[i].n_done > 0;
        memcpy(all[n], runs[i].done, runs[i].n_done * TIA_UUID_BUF);
        n += runs[i].n_done;
        free(runs[i].done);
    }
    for (int i = 0; i < N_PROCS; i++) {
        size_t before = n;
        n = read_ids(paths[i], all, n);
        print_message("proc-%d: %zu tasks\n", i, n - before);
        busy_workers += n > before;
        unlink(paths[i]);
    }
    assert_true(busy_workers >= 2);
    rmdir(dir);
    assert_int_equal(n, N_TASKS);
    qsort(all, n, TIA_UUID_BUF, cmp_id);
    for (size_t i = 1; i < n; i++)
        if (strcmp(all[i - 1], all[i]) == 0)
            fail_msg("task %s completed twice", all[i]);
    free(all);

    const char *q = "SELECT count(*) FROM agent_tasks WHERE status = 'completed' AND attempt = 1";
    assert_int_equal(tia_test_int(s, q, q), N_TASKS);
    tia_error err = {0};
    tia_workflow *w = NULL;
    TIA_OK_OR_FAIL(tia_workflow_get(s, wf, &w, &err), &err);
    assert_int_equal(w->status, TIA_COMPLETED);
    assert_int_equal(w->completed_tasks, N_TASKS);
    assert_int_equal(w->total_tokens_used, 3 * N_TASKS);
    tia_workflow_free(w);
    assert_counters_agree(s);
    print_message("%d tasks, %d threads + %d processes: %.2f s\n", N_TASKS, N_THREADS, N_PROCS,
                  (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    tia_test_close(s);
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--worker") == 0)
        return worker_main(argv[2], argv[3], argv[4]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_task_completed_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
