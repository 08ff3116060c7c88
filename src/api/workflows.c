/*
 * Routes of the Registry API: workflows (to be written).
 */
#include "api/api.h"

const tia__route_table tia__routes_workflows = {NULL, 0};
