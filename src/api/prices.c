/*
 * Routes of the Registry API for model prices (USD per 1,000 tokens, which the
 * engine uses to cost tasks that report tokens but no cost): anyone with read
 * access may list them; only an admin may set one, since a price changes what
 * every later task of that model is charged.
 */
#include <string.h>

#include <tokyoia/engine.h>

#include "api/api.h"

static const char *const set_members[] = {"usd_per_1k_tokens", NULL};

/* GET /api/v1/prices */
static void prices_list(tia__call *c)
{
    struct tia_price_list l = {0};
    tia_error err = {0};
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_price_list(s, &l, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(items, tia__json_price(&l.items[i]));
    tia__reply(c, MHD_HTTP_OK, json_pack("{s:o,s:n}", "items", items, "next_cursor"));
done:
    tia_price_list_free(&l);
}

/* PUT /api/v1/prices/{model} {"usd_per_1k_tokens": 0.03 or "0.03"}: admins only. */
static void prices_set(tia__call *c)
{
    struct tia_price_list l = {0};
    tia_error err = {0};
    int64_t micros;
    const char *model = c->param[0];
    if (!tia__is_admin(c)) {
        tia__fail(c, MHD_HTTP_FORBIDDEN, "forbidden", "only an admin may set prices");
        return;
    }
    if (tia__body_only(c, set_members) != 0 ||
        tia__body_cost(c, "usd_per_1k_tokens", 1, 0, &micros) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_price_set(s, model, micros, &err);
    if (rc == 0)
        rc = tia_price_list(s, &l, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    for (size_t i = 0; i < l.n; i++)
        if (strcmp(l.items[i].model, model) == 0) {
            tia__reply(c, MHD_HTTP_OK, tia__json_price(&l.items[i]));
            goto done;
        }
    /* Deleted by someone else between the two statements. */
    tia__fail(c, MHD_HTTP_CONFLICT, "conflict", "the price of '%.64s' changed concurrently", model);
done:
    tia_price_list_free(&l);
}

static const tia__route routes[] = {
    {"GET", "/api/v1/prices", prices_list, TIA__R_SHARED, "List model prices"},
    {"PUT", "/api/v1/prices/{model}", prices_set, TIA__R_JSON, "Set a model's price (admins only)"},
};

const tia__route_table tia__routes_prices = {routes, sizeof routes / sizeof routes[0]};
