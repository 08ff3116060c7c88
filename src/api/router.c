/*
 * The route table: the resource files' tables joined into one array, built once,
 * and matching of a method and path against it. Patterns are literal segments
 * and {name} segments; a path with empty, "." or ".." segments is refused
 * rather than normalised, so that no path reaches a handler in two spellings.
 */
#include <pthread.h>
#include <string.h>

#include "api/api.h"

static const tia__route_table *const tables[] = {
    &tia__routes_ops,     &tia__routes_compat,  &tia__routes_agents,
    &tia__routes_workflows, &tia__routes_tasks, &tia__routes_metrics,
    &tia__routes_interactions, &tia__routes_sessions, &tia__routes_prices,
    &tia__routes_events, &tia__routes_openapi, &tia__routes_web,
};

static tia__route all[TIA__ROUTES_MAX];
static size_t n_all;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build(void)
{
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (size_t i = 0; i < tables[t]->n && n_all < TIA__ROUTES_MAX; i++)
            all[n_all++] = tables[t]->items[i];
}

const tia__route *tia__routes(size_t *n)
{
    pthread_once(&once, build);
    *n = n_all;
    return all;
}

/* Splits path into segments in buf; -1 for a malformed path. */
static int split(const char *path, char *buf, size_t buf_len, char **seg, size_t max, size_t *n)
{
    size_t len = strlen(path);
    *n = 0;
    if (len == 0 || path[0] != '/' || len >= buf_len)
        return -1;
    memcpy(buf, path + 1, len); /* with the NUL */
    if (buf[0] == '\0')
        return 0; /* "/" */
    char *p = buf;
    for (;;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        if (*p == '\0' || strcmp(p, ".") == 0 || strcmp(p, "..") == 0 || *n == max)
            return -1;
        seg[(*n)++] = p;
        if (slash == NULL)
            return 0;
        p = slash + 1;
    }
}

/* Matches segments against a pattern; params receive the {name} segments. */
static int match(const char *pattern, char *const *seg, size_t n, const char **params,
                 size_t *n_params)
{
    size_t i = 0;
    *n_params = 0;
    const char *p = pattern + 1;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (i == n)
            return 0;
        if (p[0] == '{') {
            if (*n_params == TIA__PARAMS_MAX)
                return 0;
            params[(*n_params)++] = seg[i];
        } else if (strlen(seg[i]) != len || memcmp(seg[i], p, len) != 0) {
            return 0;
        }
        i++;
        p += len;
        if (*p == '/')
            p++;
    }
    return i == n;
}

tia__match tia__route_find(const char *method, const char *path, char *buf, size_t buf_len,
                           size_t *route_id, const char **params, size_t *n_params, char *allow,
                           size_t allow_len)
{
    char *seg[16];
    size_t n;
    size_t n_routes;
    const tia__route *routes = tia__routes(&n_routes);
    if (split(path, buf, buf_len, seg, 16, &n) != 0)
        return TIA__MATCH_BAD_PATH;
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
    int path_seen = 0;
    if (allow_len)
        allow[0] = '\0';
    for (size_t i = 0; i < n_routes; i++) {
        const char *tmp[TIA__PARAMS_MAX];
        size_t ntmp;
        if (!match(routes[i].pattern, seg, n, tmp, &ntmp))
            continue;
        if (strcmp(routes[i].method, want) == 0) {
            *route_id = i;
            memcpy(params, tmp, sizeof tmp);
            *n_params = ntmp;
            return TIA__MATCH_OK;
        }
        path_seen = 1;
        size_t used = strlen(allow);
        if (used + strlen(routes[i].method) + 3 < allow_len && !strstr(allow, routes[i].method))
            strcat(strcat(allow, used ? ", " : ""), routes[i].method);
    }
    return path_seen ? TIA__MATCH_METHOD : TIA__MATCH_NONE;
}
