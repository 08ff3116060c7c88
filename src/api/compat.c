/*
 * Routes of the Registry API: compat (to be written).
 */
#include "api/api.h"

const tia__route_table tia__routes_compat = {NULL, 0};
