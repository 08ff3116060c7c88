/*
 * Routes of the Registry API: agents (to be written).
 */
#include "api/api.h"

const tia__route_table tia__routes_agents = {NULL, 0};
