/*
 * `tokyoia prices`: the model price list the engine charges tasks with when a
 * worker reports tokens but no cost (USD per 1,000 tokens, exact to the
 * micro-dollar). `set` creates or updates one model's price.
 */
#include <stdio.h>
#include <string.h>

#include <tokyoia/engine.h>

#include "cli/cli.h"

static const char *const price_cols[] = {"model", "usd_per_1k_tokens", "updated_at"};

typedef struct price_args {
    tia_cli_pos pos;
    int64_t micros;
} price_args;

/* The whole list as an array, or only `model`'s row as an object. */
static int prices_json(tia_store *s, const char *model, json_t **out, tia_error *err)
{
    struct tia_price_list l = {0};
    int rc = tia_price_list(s, &l, err);
    *out = model ? NULL : json_array();
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        if (model == NULL)
            json_array_append_new(*out, tia__json_price(&l.items[i]));
        else if (strcmp(l.items[i].model, model) == 0)
            *out = tia__json_price(&l.items[i]);
    }
    if (rc == 0 && *out == NULL) /* no such model, or no memory for the array */
        rc = model ? tia_error_set(err, TIA_ENOTFOUND, "model '%s' has no price", model)
                   : tia_error_set(err, TIA_ENOMEM, "out of memory");
    tia_price_list_free(&l);
    return rc;
}

static int list_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    (void)ctx;
    res->cols = TIA_CLI_COLS(price_cols);
    return prices_json(s, NULL, &res->value, err);
}

static int prices_list(int argc, char **argv, const tia_cli_opts *opts)
{
    price_args a = {0};
    tia_cli_parse_spec spec = {"prices list", "",
                               "Lists the models' prices in USD per 1,000 tokens.", NULL, 0};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, list_body, &a);
}

static int set_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    price_args *a = ctx;
    int rc = tia_price_set(s, a->pos.v[0], a->micros, err);
    return rc != 0 ? rc : prices_json(s, a->pos.v[0], &res->value, err);
}

static int prices_set(int argc, char **argv, const tia_cli_opts *opts)
{
    price_args a = {0};
    tia_cli_parse_spec spec = {"prices set",
                               "MODEL USD_PER_1K",
                               "Sets a model's price in USD per 1,000 tokens (0.015: at most 6 "
                               "decimals); tasks completed from now on are charged with it.",
                               NULL,
                               0,
                               {0, TIA_OPT_COST},
                               {NULL, &a.micros}};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, set_body, &a);
}

int tia_cli_prices(int argc, char **argv, const tia_cli_opts *opts)
{
    static const tia_cli_cmd cmds[] = {
        {"list", "", "list the models' prices", prices_list},
        {"set", "MODEL USD_PER_1K", "set a model's price per 1,000 tokens", prices_set},
    };
    return tia_cli_dispatch("prices", "Model prices the engine charges tokens with.", cmds,
                            TIA_CLI_N(cmds), "list", argc, argv, opts);
}
