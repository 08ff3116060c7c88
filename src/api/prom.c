/*
 * Prometheus counters of the server (to be written).
 */
#include <stdlib.h>

#include "api/api.h"

struct tia__prom {
    size_t n_routes;
};

int tia__prom_new(size_t n_routes, tia__prom **out)
{
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return TIA_ENOMEM;
    (*out)->n_routes = n_routes;
    return 0;
}

void tia__prom_free(tia__prom *p)
{
    free(p);
}

void tia__prom_observe(tia__prom *p, size_t route_id, int status, int64_t dur_us)
{
    (void)p;
    (void)route_id;
    (void)status;
    (void)dur_us;
}
