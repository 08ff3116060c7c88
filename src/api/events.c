/*
 * The event hub behind GET /api/v1/events (to be written).
 */
#include "api/api.h"

const tia__route_table tia__routes_events = {NULL, 0};

int tia__hub_start(tia__api *api, tia__hub **out, tia_error *err)
{
    (void)api;
    (void)err;
    *out = NULL;
    return 0;
}

void tia__hub_stop(tia__hub *h)
{
    (void)h;
}
