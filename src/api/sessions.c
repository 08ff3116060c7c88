/*
 * Routes of the Registry API: sessions (to be written).
 */
#include "api/api.h"

const tia__route_table tia__routes_sessions = {NULL, 0};
