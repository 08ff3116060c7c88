/*
 * Conformance tests of the model price list, on both backends: the seven prices
 * migration 0005 seeds, setting (create and update) and listing, the bounds a
 * price and a model name must respect (refused, nothing written), the price the
 * engine finds for an agent through its model, and the exact rounding of costs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tia_test.h"

#include <tokyoia/engine.h>

#include "engine/engine_internal.h"

static int setup(void **state)
{
    *state = tia_test_open();
    return 0;
}

static int teardown(void **state)
{
    tia_test_close(*state);
    return 0;
}

/* The price of model in l, or -1 when it is not listed. */
static int64_t price_of(const struct tia_price_list *l, const char *model)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].model, model) == 0)
            return l->items[i].usd_per_1k_micros;
    return -1;
}

static void test_seeded(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    struct tia_price_list l;
    TIA_OK_OR_FAIL(tia_price_list(s, &l, &err), &err);
    static const struct {
        const char *model;
        int64_t micros;
    } want[] = {{"claude-opus-4.1", 15000},  {"claude-sonnet-4.5", 8000},
                {"gemini-3.0-ultra", 10000}, {"grok-4", 12000},
                {"llama-4-405b", 0},         {"o3-mini", 15000},
                {"openai-o3", 30000}};
    assert_int_equal(l.n, 7);
    for (size_t i = 0; i < 7; i++) { /* listed by model, byte-wise */
        assert_string_equal(l.items[i].model, want[i].model);
        assert_int_equal(l.items[i].usd_per_1k_micros, want[i].micros);
        assert_true(l.items[i].updated_at > 0);
    }
    tia_price_list_free(&l);
    assert_null(l.items);
    tia_price_list_free(NULL);
}

static void test_set_and_list(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    struct tia_price_list l;
    TIA_OK_OR_FAIL(tia_price_set(s, "mistral-large", 2500, &err), &err);
    TIA_OK_OR_FAIL(tia_price_set(s, "openai-o3", 31234, &err), &err);
    TIA_OK_OR_FAIL(tia_price_set(s, "max", INT64_C(999999999999), &err), &err);
    TIA_OK_OR_FAIL(tia_price_list(s, &l, &err), &err);
    assert_int_equal(l.n, 9);
    assert_int_equal(price_of(&l, "mistral-large"), 2500);
    assert_int_equal(price_of(&l, "openai-o3"), 31234);
    assert_int_equal(price_of(&l, "max"), INT64_C(999999999999));
    assert_int_equal(price_of(&l, "grok-4"), 12000);
    tia_price_list_free(&l);
}

static void test_set_refused(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    char long_model[102];
    memset(long_model, 'm', 101);
    long_model[101] = '\0';
    TIA_ASSERT_RC(tia_price_set(s, "x", -1, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "usd_per_1k_tokens"));
    TIA_ASSERT_RC(tia_price_set(s, "x", INT64_C(1000000000000), &err), TIA_EINVAL, &err);
    TIA_ASSERT_RC(tia_price_set(s, NULL, 1, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "model"));
    TIA_ASSERT_RC(tia_price_set(s, "", 1, &err), TIA_EINVAL, &err);
    TIA_ASSERT_RC(tia_price_set(s, long_model, 1, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "model"));
    long_model[100] = '\0'; /* exactly 100 characters is allowed */
    TIA_OK_OR_FAIL(tia_price_set(s, long_model, 1, &err), &err);
    assert_int_equal(
        tia_test_int(s, "SELECT count(*) FROM model_prices", "SELECT count(*) FROM model_prices"),
        8);
}

static void test_price_for_agent(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    int64_t price = -1;
    int found = -1;
    /* kenji-005 runs openai-o3; akira-001 claude-opus-4.1; hiro-003 llama-4-405b (free) */
    TIA_OK_OR_FAIL(tia__price_for_agent(s, "kenji-005", &price, &found, &err), &err);
    assert_int_equal(found, 1);
    assert_int_equal(price, 30000);
    TIA_OK_OR_FAIL(tia__price_for_agent(s, "akira-001", &price, &found, &err), &err);
    assert_int_equal(price, 15000);
    TIA_OK_OR_FAIL(tia__price_for_agent(s, "hiro-003", &price, &found, &err), &err);
    assert_int_equal(found, 1);
    assert_int_equal(price, 0);
    TIA_OK_OR_FAIL(tia__price_for_agent(s, "nobody-999", &price, &found, &err), &err);
    assert_int_equal(found, 0);
    assert_int_equal(price, 0);
    TIA_OK_OR_FAIL(tia_test_exec(s, "DELETE FROM model_prices WHERE model = 'openai-o3'",
                                 "DELETE FROM model_prices WHERE model = 'openai-o3'", &err),
                   &err);
    TIA_OK_OR_FAIL(tia__price_for_agent(s, "kenji-005", &price, &found, &err), &err);
    assert_int_equal(found, 0);
}

static void test_cost_rounding(void **state)
{
    (void)state;
    assert_int_equal(tia_price_cost(1000, 30000), 30000); /* 1k tokens of openai-o3 */
    assert_int_equal(tia_price_cost(1500, 30000), 45000);
    assert_int_equal(tia_price_cost(1, 15000), 15); /* 15 exactly */
    assert_int_equal(tia_price_cost(1, 1500), 2);   /* 1.5 rounds up */
    assert_int_equal(tia_price_cost(1, 1499), 1);   /* 1.499 rounds down */
    assert_int_equal(tia_price_cost(1, 499), 0);    /* 0.499 rounds down */
    assert_int_equal(tia_price_cost(1, 500), 1);    /* 0.5 rounds up */
    assert_int_equal(tia_price_cost(3, 8000), 24);
    assert_int_equal(tia_price_cost(333, 10001), 3330);     /* 3330.333 */
    assert_int_equal(tia_price_cost(12345, 12345), 152399); /* 152399.025 */
    assert_int_equal(tia_price_cost(0, 30000), 0);
    assert_int_equal(tia_price_cost(1000000, 0), 0);
    assert_int_equal(tia_price_cost(-5, 30000), 0);
    /* the largest int4 token count at the largest price, exact */
    assert_int_equal(tia_price_cost(INT32_MAX, INT64_C(999999999999)),
                     INT64_C(2147483646997852516));
    /* beyond int64: saturates instead of wrapping */
    assert_int_equal(tia_price_cost(INT64_MAX, INT64_MAX), INT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seeded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_price_for_agent, setup, teardown),
        cmocka_unit_test(test_cost_rounding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
