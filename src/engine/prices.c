/*
 * The model_prices table: USD per 1,000 tokens by model, read by the engine to
 * cost a completion that reports tokens but no cost. Prices travel as integer
 * micro-dollars on both backends (NUMERIC(12,6) on PostgreSQL, *_micros on
 * SQLite), so a cost is computed exactly, never through a float.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokyoia/engine.h>

#include "core/validate.h"
#include "engine/engine_internal.h"
#include "store/db.h"

/* NUMERIC(12,6): at most 999999.999999 USD. */
#define PRICE_MAX_MICROS INT64_C(999999999999)

/* COLLATE "C" so that PostgreSQL orders models byte-wise, as SQLite does. */
static const tia__sql sql_list = {
    "price.list",
    "SELECT model, usd_per_1k_tokens, " TIA_PG_US(
        "updated_at") " FROM model_prices ORDER BY model COLLATE \"C\"",
    "SELECT model, usd_per_1k_micros, updated_at FROM model_prices ORDER BY model",
};

static const tia__sql sql_set = {
    "price.set",
    "INSERT INTO model_prices (model, usd_per_1k_tokens) VALUES ($1, $2::numeric) "
    "ON CONFLICT (model) DO UPDATE SET usd_per_1k_tokens = EXCLUDED.usd_per_1k_tokens, "
    "updated_at = statement_timestamp()",
    "INSERT INTO model_prices (model, usd_per_1k_micros) VALUES (?1, ?2) "
    "ON CONFLICT (model) DO UPDATE SET usd_per_1k_micros = excluded.usd_per_1k_micros, "
    "updated_at = " TIA_SQLITE_NOW,
};

static const tia__sql sql_for_agent = {
    "price.for_agent",
    "SELECT p.usd_per_1k_tokens FROM agents a JOIN model_prices p ON p.model = a.model "
    "WHERE a.id = $1",
    "SELECT p.usd_per_1k_micros FROM agents a JOIN model_prices p ON p.model = a.model "
    "WHERE a.id = ?1",
};

void tia_price_list_free(struct tia_price_list *l)
{
    if (l == NULL)
        return;
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* Appends the current row to out (capacity *cap); TIA_ENOMEM when it cannot grow. */
static int append_row(tia__rows *r, struct tia_price_list *out, size_t *cap, tia_error *err)
{
    if (out->n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        tia_price *grown = realloc(out->items, c * sizeof *grown);
        if (grown == NULL)
            return tia_error_set(err, TIA_ENOMEM, "out of memory listing prices");
        out->items = grown;
        *cap = c;
    }
    tia_price *p = &out->items[out->n++];
    const char *model = tia__col_text(r, 0);
    snprintf(p->model, sizeof p->model, "%s", model ? model : "");
    p->usd_per_1k_micros = tia__col_cost(r, 1);
    p->updated_at = tia__col_time(r, 2);
    return 0;
}

int tia_price_list(tia_store *s, struct tia_price_list *out, tia_error *err)
{
    tia__rows *r = NULL;
    size_t cap = 0;
    memset(out, 0, sizeof *out);
    int rc = tia__db_query(s, &sql_list, NULL, 0, &r, err);
    if (rc != 0)
        goto done;
    while ((rc = tia__rows_next(r, err)) > 0)
        if ((rc = append_row(r, out, &cap, err)) != 0)
            break;
done:
    tia__rows_free(r);
    if (rc < 0)
        tia_price_list_free(out);
    return rc < 0 ? rc : 0;
}

int tia_price_set(tia_store *s, const char *model, int64_t usd_per_1k_micros, tia_error *err)
{
    int rc = tia__check_text(err, "model", model, TIA_AGENT_MODEL_MAX, 1);
    if (rc != 0)
        return rc;
    if ((rc = tia__check_range(err, "usd_per_1k_tokens", usd_per_1k_micros, PRICE_MAX_MICROS)) != 0)
        return rc;
    tia__param p[2] = {tia__p_text(model), tia__p_cost(usd_per_1k_micros)};
    return tia__db_exec(s, &sql_set, p, 2, NULL, err);
}

/* a + b, saturating at INT64_MAX (both are non-negative). */
static int64_t sat_add(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* a * b, saturating at INT64_MAX (both are non-negative). */
static int64_t sat_mul(int64_t a, int64_t b)
{
    return b != 0 && a > INT64_MAX / b ? INT64_MAX : a * b;
}

/*
 * tokens * price / 1000 rounded half up, exactly and without overflow: with
 * tokens = 1000a + b and price = 1000c + d, the product over 1000 is
 * 1000ac + ad + bc + bd/1000, and only bd (< 10^6) needs rounding.
 */
int64_t tia_price_cost(int64_t tokens, int64_t usd_per_1k_micros)
{
    if (tokens <= 0 || usd_per_1k_micros <= 0)
        return 0;
    int64_t a = tokens / 1000, b = tokens % 1000;
    int64_t c = usd_per_1k_micros / 1000, d = usd_per_1k_micros % 1000;
    int64_t v = sat_mul(sat_mul(a, c), 1000);
    v = sat_add(v, sat_mul(a, d));
    v = sat_add(v, sat_mul(b, c));
    return sat_add(v, (b * d + 500) / 1000);
}

int tia__price_for_agent(tia_store *s, const char *agent_id, int64_t *usd_per_1k_micros, int *found,
                         tia_error *err)
{
    tia__rows *r = NULL;
    *usd_per_1k_micros = 0;
    *found = 0;
    tia__param p = tia__p_text(agent_id);
    int rc = tia__db_query(s, &sql_for_agent, &p, 1, &r, err);
    if (rc != 0)
        goto done;
    rc = tia__rows_next(r, err);
    if (rc > 0) {
        *usd_per_1k_micros = tia__col_cost(r, 0);
        *found = 1;
        rc = 0;
    }
done:
    tia__rows_free(r);
    return rc;
}
