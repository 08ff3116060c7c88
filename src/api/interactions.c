/*
 * Routes of the Registry API: interactions (to be written).
 */
#include "api/api.h"

const tia__route_table tia__routes_interactions = {NULL, 0};
