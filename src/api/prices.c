/*
 * Routes of the Registry API: prices (to be written).
 */
#include "api/api.h"

const tia__route_table tia__routes_prices = {NULL, 0};
