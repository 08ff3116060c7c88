/*
 * The dependency graph of a workflow being submitted, checked before anything
 * is written: keys unique, every depends_on a key of the same workflow (not the
 * task itself, not twice), and no cycle, found by Kahn's algorithm in O(tasks +
 * dependencies). Keys are looked up through a jansson object, which is a hash
 * table, so that a 10,000-task workflow costs no quadratic scan. Submit and
 * templates share this file so that both refuse the same graphs in the same words.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/validate.h"
#include "engine/engine_internal.h"

/* Keys printed in a cycle message before it is cut short. */
#define CYCLE_SHOWN 8

void tia__task_graph_free(tia__task_graph *g)
{
    if (g == NULL)
        return;
    free(g->start);
    free(g->dep);
    g->start = NULL;
    g->dep = NULL;
    g->n = 0;
}

/* Fills map with key -> index, refusing empty, long and duplicate keys. */
static int index_keys(const tia_task_spec *t, size_t n, json_t *map, tia_error *err)
{
    for (size_t i = 0; i < n; i++) {
        char field[48];
        snprintf(field, sizeof field, "tasks[%zu].key", i);
        int rc = tia__check_text(err, field, t[i].key, TIA__TASK_KEY_MAX, 1);
        if (rc != 0)
            return rc;
        json_t *prev = json_object_get(map, t[i].key);
        if (prev != NULL)
            return tia_error_set(err, TIA_EINVAL,
                                 "%s: duplicate key '%.60s' (also tasks[%lld].key)", field,
                                 t[i].key, (long long)json_integer_value(prev));
        if (json_object_set_new(map, t[i].key, json_integer((json_int_t)i)) != 0)
            return tia_error_set(err, TIA_ENOMEM, "out of memory indexing task keys");
    }
    return 0;
}

/* The index of dependency j of task i into *out, refusing unknown, self and repeated keys. */
static int resolve_one(const tia_task_spec *t, size_t i, size_t j, json_t *map,
                       const tia__task_graph *g, size_t pos, size_t *out, tia_error *err)
{
    const char *d = t[i].depends_on[j];
    if (d == NULL)
        return tia_error_set(err, TIA_EINVAL, "tasks[%zu].depends_on[%zu] is required", i, j);
    json_t *v = json_object_get(map, d);
    if (v == NULL)
        return tia_error_set(err, TIA_EINVAL, "tasks[%zu].depends_on[%zu]: unknown key '%.60s'", i,
                             j, d);
    size_t idx = (size_t)json_integer_value(v);
    if (idx == i)
        return tia_error_set(err, TIA_EINVAL,
                             "tasks[%zu].depends_on[%zu]: task '%.60s' depends on itself", i, j, d);
    for (size_t k = g->start[i]; k < pos; k++)
        if (g->dep[k] == idx)
            return tia_error_set(err, TIA_EINVAL,
                                 "tasks[%zu].depends_on[%zu]: '%.60s' is listed twice", i, j, d);
    *out = idx;
    return 0;
}

/* Resolves every depends_on into g's compressed rows. */
static int resolve_deps(const tia_task_spec *t, size_t n, json_t *map, tia__task_graph *g,
                        tia_error *err)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i].n_depends_on > TIA_TASK_DEPS_MAX)
            return tia_error_set(err, TIA_EINVAL, "tasks[%zu].depends_on has %zu keys, at most %d",
                                 i, t[i].n_depends_on, TIA_TASK_DEPS_MAX);
        if (t[i].n_depends_on > 0 && t[i].depends_on == NULL)
            return tia_error_set(err, TIA_EINVAL, "tasks[%zu].depends_on is required", i);
        total += t[i].n_depends_on;
    }
    g->start = malloc((n + 1) * sizeof *g->start);
    g->dep = malloc((total ? total : 1) * sizeof *g->dep);
    if (g->start == NULL || g->dep == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory for %zu dependencies", total);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        g->start[i] = pos;
        for (size_t j = 0; j < t[i].n_depends_on; j++, pos++) {
            int rc = resolve_one(t, i, j, map, g, pos, &g->dep[pos], err);
            if (rc != 0)
                return rc;
        }
    }
    g->start[n] = pos;
    return 0;
}

/* A dependency of task i that is still waiting (left[] > 0): one exists for every waiting task. */
static size_t waiting_dep(const tia__task_graph *g, const size_t *left, size_t i)
{
    for (size_t k = g->start[i]; k < g->start[i + 1]; k++)
        if (left[g->dep[k]] > 0)
            return g->dep[k];
    return i; /* not reached: a waiting task waits for a waiting dependency */
}

/*
 * Names a cycle among the tasks Kahn's algorithm could not order. Following
 * waiting dependencies from any waiting task enters a cycle within n steps.
 */
static int report_cycle(const tia_task_spec *t, const tia__task_graph *g, const size_t *left,
                        tia_error *err)
{
    size_t cur = 0;
    while (left[cur] == 0)
        cur++;
    for (size_t k = 0; k < g->n; k++)
        cur = waiting_dep(g, left, cur);
    /* start the message at the cycle's first task, so that it reads the same every time */
    size_t first = cur;
    for (size_t at = waiting_dep(g, left, cur); at != cur; at = waiting_dep(g, left, at))
        first = at < first ? at : first;
    cur = first;
    /* at most CYCLE_SHOWN keys of 30 bytes and the closing one: fits */
    char path[360];
    size_t len = 0, shown = 0, at = cur;
    do {
        len += (size_t)snprintf(path + len, sizeof path - len, "'%.30s' -> ", t[at].key);
        at = waiting_dep(g, left, at);
    } while (at != cur && ++shown < CYCLE_SHOWN);
    snprintf(path + len, sizeof path - len, "%s'%.30s'", at == cur ? "" : "... -> ", t[cur].key);
    return tia_error_set(err, TIA_EINVAL, "tasks[%zu].depends_on: dependency cycle %s", cur, path);
}

/* Kahn's algorithm: orders the tasks whose dependencies are ordered; any left over is a cycle. */
static int check_acyclic(const tia_task_spec *t, const tia__task_graph *g, tia_error *err)
{
    int rc = 0;
    size_t n = g->n, m = g->start[n], head = 0, tail = 0;
    size_t *left = malloc((n ? n : 1) * sizeof *left);
    size_t *rstart = calloc(n + 1, sizeof *rstart);
    size_t *rdep = malloc((m ? m : 1) * sizeof *rdep);
    size_t *queue = malloc((n ? n : 1) * sizeof *queue);
    if (left == NULL || rstart == NULL || rdep == NULL || queue == NULL) {
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory checking the dependency graph");
        goto done;
    }
    /* dependents of each task, in compressed rows too */
    for (size_t k = 0; k < m; k++)
        rstart[g->dep[k] + 1]++;
    for (size_t i = 0; i < n; i++)
        rstart[i + 1] += rstart[i];
    for (size_t i = 0; i < n; i++) {
        left[i] = g->start[i + 1] - g->start[i];
        if (left[i] == 0)
            queue[tail++] = i;
        for (size_t k = g->start[i]; k < g->start[i + 1]; k++)
            rdep[rstart[g->dep[k]]++] = i;
    }
    for (size_t i = n; i > 0; i--) /* the fill above advanced each row start by its length */
        rstart[i] = rstart[i - 1];
    rstart[0] = 0;
    while (head < tail) {
        size_t i = queue[head++];
        for (size_t k = rstart[i]; k < rstart[i + 1]; k++)
            if (--left[rdep[k]] == 0)
                queue[tail++] = rdep[k];
    }
    if (tail < n)
        rc = report_cycle(t, g, left, err);
done:
    free(left);
    free(rstart);
    free(rdep);
    free(queue);
    return rc;
}

int tia__task_graph_build(const tia_task_spec *t, size_t n, tia__task_graph *g, tia_error *err)
{
    memset(g, 0, sizeof *g);
    g->n = n;
    json_t *map = json_object();
    int rc = map == NULL ? tia_error_set(err, TIA_ENOMEM, "out of memory indexing task keys") : 0;
    if (rc == 0)
        rc = index_keys(t, n, map, err);
    if (rc == 0)
        rc = resolve_deps(t, n, map, g, err);
    if (rc == 0)
        rc = check_acyclic(t, g, err);
    json_decref(map);
    if (rc != 0)
        tia__task_graph_free(g);
    return rc;
}
