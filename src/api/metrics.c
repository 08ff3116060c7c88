/*
 * Routes of the Registry API: metrics (to be written).
 */
#include "api/api.h"

const tia__route_table tia__routes_metrics = {NULL, 0};
