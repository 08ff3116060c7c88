/*
 * Routes of the Registry API: tasks (to be written).
 */
#include "api/api.h"

const tia__route_table tia__routes_tasks = {NULL, 0};
