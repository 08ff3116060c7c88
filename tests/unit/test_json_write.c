/*
 * Unit tests of the JSON text writer (src/json/write.c) and of the records it
 * writes (tasks, workflows, interactions, agent_stats rows): commas and
 * brackets in nested containers; text escaped exactly as jansson escapes it, text
 * that is not UTF-8 as null; integers at their limits; stored JSON columns kept as
 * stored, or re-encoded by jansson when they hold a control byte; and every record
 * equal, value for value, to the jansson tree the API printed before (tia__json_*),
 * with members set, unset and awkward.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tia_test.h"

#include "json/encode.h"
#include "json/write.h"

/* The writer's text, without its final '\n' (malloc'd). */
static char *take(tia__jw *w)
{
    size_t len;
    char *t = tia__jw_take(w, &len);
    assert_non_null(t);
    assert_int_equal(strlen(t), len);
    assert_true(len >= 1 && t[len - 1] == '\n');
    t[len - 1] = '\0';
    return t;
}

/* What jansson prints for v, with the API's flags (malloc'd); steals v. */
static char *jansson_text(json_t *v)
{
    char *t = json_dumps(v, TIA__JSON_DUMP_FLAGS);
    json_decref(v);
    assert_non_null(t);
    return t;
}

static void test_structure(void **state)
{
    (void)state;
    tia__jw w = {0};
    tia__jw_obj(&w);
    tia__jw_key(&w, "a");
    tia__jw_arr(&w);
    tia__jw_int(&w, 1);
    tia__jw_obj(&w);
    tia__jw_key(&w, "b");
    tia__jw_null(&w);
    tia__jw_end_obj(&w);
    tia__jw_arr(&w);
    tia__jw_end_arr(&w);
    tia__jw_str(&w, "x");
    tia__jw_end_arr(&w);
    tia__jw_key(&w, "c");
    tia__jw_obj(&w);
    tia__jw_end_obj(&w);
    tia__jw_key(&w, "d");
    tia__jw_value(&w, json_real(0.1));
    tia__jw_end_obj(&w);
    char *t = take(&w);
    assert_string_equal(t, "{\"a\":[1,{\"b\":null},[],\"x\"],\"c\":{},\"d\":0.1}");
    free(t);

    /* Top-level values other than an object, and an empty writer. */
    tia__jw_arr(&w);
    tia__jw_arr(&w);
    tia__jw_end_arr(&w);
    tia__jw_arr(&w);
    tia__jw_end_arr(&w);
    tia__jw_end_arr(&w);
    t = take(&w);
    assert_string_equal(t, "[[],[]]");
    free(t);
    t = take(&w);
    assert_string_equal(t, "");
    free(t);
}

static void test_strings(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "",
        "plain text, with punctuation: {}[],:/~",
        "a \"quoted\" word and a back\\slash",
        "line\nbreak, tab\t, bell\a, escape\x1b, DEL\x7f",
        "caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\xa4\x96",
        "\xe6\x9d\xb1\xe4\xba\xac",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        tia__jw w = {0};
        tia__jw_str(&w, texts[i]);
        char *t = take(&w);
        char *want = jansson_text(json_string(texts[i]));
        assert_string_equal(t, want);
        free(t);
        free(want);
    }
    /* Not UTF-8 (a lone continuation byte, a truncated sequence), and NULL: null. */
    static const char *const bad[] = {"bad \x80 byte", "cut \xe2\x98", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tia__jw w = {0};
        tia__jw_arr(&w);
        tia__jw_str(&w, bad[i]);
        tia__jw_end_arr(&w);
        char *t = take(&w);
        assert_string_equal(t, "[null]");
        free(t);
    }
}

static void test_numbers_times_costs(void **state)
{
    (void)state;
    tia__jw w = {0};
    tia__jw_arr(&w);
    tia__jw_int(&w, INT64_MIN);
    tia__jw_int(&w, INT64_MAX);
    tia__jw_int(&w, 0);
    tia__jw_time(&w, TIA_TIME_NONE);
    tia__jw_time(&w, 0);
    tia__jw_cost(&w, 15000);
    tia__jw_cost(&w, -1);
    tia__jw_value(&w, json_real(1.0 / 3.0));
    tia__jw_value(&w, json_real(1e300));
    tia__jw_end_arr(&w);
    char *t = take(&w);
    json_t *want =
        json_pack("[I,I,i,n,s,s,s,f,f]", (json_int_t)INT64_MIN, (json_int_t)INT64_MAX, 0,
                  "1970-01-01T00:00:00.000000Z", "0.015000", "-0.000001", 1.0 / 3.0, 1e300);
    char *want_text = jansson_text(want);
    assert_string_equal(t, want_text);
    free(t);
    free(want_text);
}

/* tia__jw_real's text for v against jansson's json_real(v) (NaN and infinities: null). */
static void check_real(double v)
{
    tia__jw w = {0};
    tia__jw_real(&w, v);
    char *t = take(&w);
    json_t *j = json_real(v);
    char *want = j ? jansson_text(j) : strdup("null");
    if (strcmp(t, want) != 0)
        fail_msg("%.17g: writer %s, jansson %s", v, t, want);
    free(t);
    free(want);
}

/* 64 random bits (xorshift64*, a fixed seed: the same values on every run). */
static uint64_t next_bits(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 2685821657736338717u;
}

static void test_reals(void **state)
{
    (void)state;
    /* clang-format off */
    static const double fixed[] = {0.0, -0.0, 1.0, -1.0, 95.24, 100.0, 1e14, 1e15, 1e-4, 1e-5,
                                   9.99999999999999e14, 999999999999999.9, 0.000099999999999999,
                                   0.00010000000000000001, 44129.2280041146, 0.1, 0.5, 2.5,
                                   1.0 / 3.0, 2.0 / 3.0, 123456789012345.6, 0.1234567890123455,
                                   1e300, -1e-300, 5e-324, NAN, INFINITY, -INFINITY};
    /* clang-format on */
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        check_real(fixed[i]);
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 200000; i++) {
        uint64_t b = next_bits(&x);
        double v;
        switch (i % 4) {
        case 0: /* any bit pattern in [1e-5, 1e16): every exponent the fast path takes, and past it
                 */
            v = ldexp(1.0 + (double)(b >> 12) / 4503599627370496.0, (int)(b % 74) - 17);
            break;
        case 1: /* decimals as averages and rates come: k / 10^j */
            v = (double)(b % 100000000000u) / pow(10.0, (double)(b >> 60));
            break;
        case 2: /* halves between two 15-digit values: where the rounding is decided */
            v = ((double)(b % 900000000000000u + 100000000000000u) + 0.5) /
                pow(10.0, (double)((b >> 58) % 19));
            break;
        default: /* next to a power of ten */
            v = nextafter(pow(10.0, (double)((int)(b % 20) - 5)), (b >> 63) ? 0.0 : INFINITY);
            break;
        }
        check_real((b >> 62) & 1 ? -v : v);
    }
}

static void test_raw_json(void **state)
{
    (void)state;
    struct {
        const char *stored, *written;
    } cases[] = {
        /* as stored: PostgreSQL's jsonb text, SQLite's as given */
        {"{\"a\": [1, 2.50, \"x\"], \"b\": {\"c\": null}}",
         "{\"a\": [1, 2.50, \"x\"], \"b\": {\"c\": null}}"},
        {"\"just text\"", "\"just text\""},
        {"123456789012345678901234567890", "123456789012345678901234567890"},
        {"[]", "[]"},
        /* layout with control bytes: jansson re-encodes it */
        {"{\n\t\"a\": 1\n}", "{\"a\":1}"},
        /* a control byte inside a string: not JSON, shown as text */
        {"\"a\tb\"", "\"\\\"a\\tb\\\"\""},
        /* UTF-8 kept as stored; bytes that are not UTF-8 (SQLite's json_valid lets
           them through): no JSON text can carry them, null */
        {"{\"k\": \"caf\xc3\xa9 \xf0\x9f\xa4\x96\"}", "{\"k\": \"caf\xc3\xa9 \xf0\x9f\xa4\x96\"}"},
        {"{\"k\": \"bad \xff\"}", "null"},
        {NULL, "null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tia__jw w = {0};
        tia__jw_rawjson(&w, cases[i].stored);
        char *t = take(&w);
        assert_string_equal(t, cases[i].written);
        free(t);
    }
}

/*
 * The record as text equals, parsed, the tree of the same record as the API
 * prints it (parsed back too: reals go out with 15 significant digits).
 */
static void assert_same(char *text, json_t *tree)
{
    json_error_t jerr;
    json_t *parsed = json_loads(text, 0, &jerr);
    if (parsed == NULL)
        fail_msg("the writer's text is not JSON (%s): %s", jerr.text, text);
    char *want = json_dumps(tree, TIA__JSON_DUMP_FLAGS);
    assert_non_null(want);
    json_t *printed = json_loads(want, 0, &jerr);
    assert_non_null(printed);
    if (!json_equal(parsed, printed))
        fail_msg("text and tree differ:\n  text %s\n  tree %s", text, want);
    json_decref(printed);
    free(want);
    json_decref(parsed);
    json_decref(tree);
    free(text);
}

static void test_tasks(void **state)
{
    (void)state;
    tia_task full = {
        .id = "018f0000-0000-7000-8000-000000000001",
        .agent_id = "akira-001",
        .workflow_id = "018f0000-0000-7000-8000-000000000002",
        .task_type = "code_review",
        .description = "Review \"auth.c\"\nline two \xe2\x9c\x93",
        .status = TIA_COMPLETED,
        .input_data = "{\"files\": [\"a.c\", \"b.c\"], \"n\": 2}",
        .output_data = "{\n  \"ok\": true\n}",
        .error_message = "tab\there",
        .started_at = 1700000000123456,
        .completed_at = 1700000001123456,
        .duration_ms = 1000,
        .tokens_used = INT64_MAX,
        .cost_micros = 123456789,
        .retry_count = 3,
        .parent_task_id = "018f0000-0000-7000-8000-000000000003",
        .created_at = -86400000000,
        .metadata = "{}",
    };
    tia_task empty = {
        .id = "018f0000-0000-7000-8000-000000000004",
        .agent_id = "yuki-002",
        .task_type = "t",
        .description = "bad \xff utf-8",
        .status = TIA_PENDING,
        .input_data = "{\"k\": \"bad \xff\"}",
        .started_at = TIA_TIME_NONE,
        .completed_at = TIA_TIME_NONE,
        .duration_ms = -1,
        .created_at = 0,
    };
    const tia_task *tasks[] = {&full, &empty};
    for (size_t i = 0; i < 2; i++) {
        tia__jw w = {0};
        tia__jw_task(&w, tasks[i]);
        assert_same(take(&w), tia__json_task(tasks[i]));
    }

    /* A list of them, as the API's pages write it. */
    tia__jw w = {0};
    tia__jw_arr(&w);
    for (size_t i = 0; i < 2; i++)
        tia__jw_task(&w, tasks[i]);
    tia__jw_end_arr(&w);
    json_t *arr = json_array();
    for (size_t i = 0; i < 2; i++)
        json_array_append_new(arr, tia__json_task(tasks[i]));
    assert_same(take(&w), arr);
}

static void test_workflow_and_interactions(void **state)
{
    (void)state;
    tia_workflow wf = {
        .id = "018f0000-0000-7000-8000-000000000010",
        .name = "Review \\ deploy",
        .status = TIA_RUNNING,
        .workflow_type = "code_review",
        .total_tasks = 3,
        .completed_tasks = 1,
        .started_at = 1700000000000000,
        .completed_at = TIA_TIME_NONE,
        .duration_ms = -1,
        .total_tokens_used = 42,
        .total_cost_micros = 0,
        .created_at = 1700000000000000,
        .updated_at = 1700000000000001,
        .metadata = "{\"k\": [\"\\u00e9\"]}",
    };
    tia_interaction in[2] = {
        {
            .id = "018f0000-0000-7000-8000-000000000011",
            .workflow_id = "018f0000-0000-7000-8000-000000000010",
            .from_agent_id = "akira-001",
            .to_agent_id = "yuki-002",
            .from_agent_name = "Akira",
            .to_agent_name = "Yuki \xe2\x9d\x84",
            .interaction_type = "handoff",
            .message = "done \"now\"",
            .payload = "{\"task\": \"x\"}",
            .created_at = 1700000000000002,
        },
        {
            .id = "018f0000-0000-7000-8000-000000000012",
            .from_agent_id = "a",
            .to_agent_id = "b",
            .from_agent_name = "A",
            .to_agent_name = "B",
            .interaction_type = "review",
            .created_at = TIA_TIME_NONE,
        },
    };
    tia__jw w = {0};
    tia__jw_workflow_open(&w, &wf);
    tia__jw_key(&w, "interactions");
    tia__jw_arr(&w);
    for (size_t i = 0; i < 2; i++)
        tia__jw_interaction(&w, &in[i]);
    tia__jw_end_arr(&w);
    tia__jw_end_obj(&w);
    json_t *tree = tia__json_workflow(&wf);
    json_t *ia = json_array();
    for (size_t i = 0; i < 2; i++)
        json_array_append_new(ia, tia__json_interaction(&in[i]));
    json_object_set_new(tree, "interactions", ia);
    assert_same(take(&w), tree);
}

static void test_agent_stats(void **state)
{
    (void)state;
    tia_agent_stats st[2] = {
        {
            .id = "akira-001",
            .name = "Akira \xe2\x9a\x94",
            .role = "Code \"Review\" Master",
            .status = TIA_AGENT_MAINTENANCE,
            .total_tasks = 1000000,
            .completed_tasks = 999999,
            .failed_tasks = 1,
            .total_tokens = INT64_MAX,
            .total_cost_micros = 1234567,
            .avg_duration_ms = 1234.5678901234567,
            .success_rate = 99.99,
        },
        {.id = "x", .status = TIA_AGENT_ACTIVE, .avg_duration_ms = 0.0 / 0.0, .success_rate = 100},
    };
    tia_agent_window_stats ws = {.total_tasks = 7, .avg_latency_ms = 0.1, .total_tokens = 3,
                                 .total_cost_micros = 10};
    for (size_t i = 0; i < 2; i++) {
        tia__jw w = {0};
        tia__jw_agent_stats_open(&w, &st[i]);
        tia__jw_key(&w, "window");
        tia__jw_window_stats_open(&w, &ws);
        tia__jw_end_obj(&w);
        tia__jw_end_obj(&w);
        json_t *tree = tia__json_agent_stats(&st[i]);
        json_object_set_new(tree, "window", tia__json_window_stats(&ws));
        assert_same(take(&w), tree);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_numbers_times_costs),
        cmocka_unit_test(test_reals),
        cmocka_unit_test(test_raw_json),
        cmocka_unit_test(test_tasks),
        cmocka_unit_test(test_workflow_and_interactions),
        cmocka_unit_test(test_agent_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
