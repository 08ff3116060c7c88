/*
 * Conformance tests of the agents module, run on both backends: the five seeded
 * agents byte for byte, create/get/list/update/set_status/delete, every kind of
 * bad input (each refused with TIA_EINVAL and writing nothing), column limits
 * counted in characters, the updated_at trigger, and delete's cascade and its
 * refusal when rows without an ON DELETE rule name the agent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "tia_test.h"

#include <tokyoia/agents.h>
#include <tokyoia/interactions.h>

#define COUNT(s, table)                                                                            \
    tia_test_int((s), "SELECT count(*) FROM " table, "SELECT count(*) FROM " table)

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

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* n copies of unit, malloc'd. */
static char *rep(const char *unit, size_t n)
{
    size_t len = strlen(unit);
    char *s = malloc(len * n + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * len, unit, len);
    s[len * n] = '\0';
    return s;
}

static void assert_json_equal(const char *got, const char *want)
{
    json_t *g = json_loads(got, JSON_DECODE_ANY, NULL);
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    if (g == NULL || w == NULL || !json_equal(g, w))
        fail_msg("JSON differs: got %s, want %s", got ? got : "(null)", want);
    json_decref(g);
    json_decref(w);
}

static void assert_specialties(const tia_agent *a, const char *const *want, size_t n)
{
    assert_int_equal(a->n_specialties, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(a->specialties[i], want[i]);
}

typedef struct seeded {
    const char *id, *name, *role, *model, *emoji;
    const char *specialties[5];
    size_t n;
} seeded;

/* In id order, as tia_agent_list returns them; emoji as explicit UTF-8 bytes. */
static const seeded seeds[5] = {
    {"akira-001",
     "Akira",
     "Code Review Master",
     "claude-opus-4.1",
     "\xe4\xbe\x8d",
     {"security", "performance", "architecture", "code-quality"},
     4},
    {"hiro-003",
     "Hiro",
     "SRE & DevOps Guardian",
     "llama-4-405b",
     "\xf0\x9f\x9b\xa1\xef\xb8\x8f",
     {"kubernetes", "ci-cd", "monitoring", "infrastructure", "reliability"},
     5},
    {"kenji-005",
     "Kenji",
     "Architecture Visionary",
     "openai-o3",
     "\xf0\x9f\x8f\x97\xef\xb8\x8f",
     {"system-design", "architecture", "design-patterns", "scalability"},
     4},
    {"sakura-004",
     "Sakura",
     "Documentation Artist",
     "gemini-3.0-ultra",
     "\xf0\x9f\x8c\xb8",
     {"technical-writing", "documentation", "diagrams", "api-docs"},
     4},
    {"yuki-002",
     "Yuki",
     "Test Engineering Specialist",
     "openai-o3",
     "\xe2\x9d\x84\xef\xb8\x8f",
     {"unit-testing", "integration-testing", "e2e-testing", "test-automation"},
     4},
};

static void assert_seeded(const tia_agent *a, const seeded *w)
{
    assert_string_equal(a->id, w->id);
    assert_string_equal(a->name, w->name);
    assert_string_equal(a->role, w->role);
    assert_string_equal(a->model, w->model);
    assert_non_null(a->personality_emoji);
    if (strcmp(a->personality_emoji, w->emoji) != 0)
        fail_msg("%s: emoji bytes differ (got %zu bytes)", w->id, strlen(a->personality_emoji));
    assert_specialties(a, w->specialties, w->n);
    assert_non_null(a->backstory);
    assert_int_equal(a->status, TIA_AGENT_ACTIVE);
    assert_int_equal(a->total_tasks_completed, 0);
    assert_int_equal(a->total_tokens_used, 0);
    assert_true(a->success_rate == 100.0);
    assert_true(a->created_at != TIA_TIME_NONE);
    assert_json_equal(a->metadata, "{}");
}

static void test_seeded_agents(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    struct tia_agent_list l;
    TIA_OK_OR_FAIL(tia_agent_list(s, NULL, &l, &err), &err);
    assert_int_equal(l.n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_seeded(l.items[i], &seeds[i]);
    tia_agent_list_free(&l);
    assert_int_equal(l.n, 0);
    assert_null(l.items);
    for (size_t i = 0; i < 5; i++) {
        tia_agent *a = NULL;
        TIA_OK_OR_FAIL(tia_agent_get(s, seeds[i].id, &a, &err), &err);
        assert_seeded(a, &seeds[i]);
        tia_agent_free(a);
    }
    tia_agent_free(NULL);
    tia_agent_list_free(NULL);
}

static void test_create_and_get(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    const char *sp[] = {"rust", "\xe4\xbe\x8d-review"};
    tia_agent_new n = {.id = "mika-006",
                       .name = "Mika",
                       .role = "Data Wrangler",
                       .model = "o3-mini",
                       .specialties = sp,
                       .n_specialties = 2,
                       .backstory = "Counts everything twice.",
                       .personality_emoji = "\xf0\x9f\x8c\xb8",
                       .status = TIA_AGENT_MAINTENANCE,
                       .metadata = "{\"team\": \"data\", \"level\": [1, 2]}"};
    tia_time_us before = tia_now_us();
    TIA_OK_OR_FAIL(tia_agent_create(s, &n, &err), &err);
    tia_agent *a = NULL;
    TIA_OK_OR_FAIL(tia_agent_get(s, "mika-006", &a, &err), &err);
    assert_string_equal(a->name, "Mika");
    assert_string_equal(a->role, "Data Wrangler");
    assert_string_equal(a->model, "o3-mini");
    assert_specialties(a, sp, 2);
    assert_string_equal(a->backstory, "Counts everything twice.");
    assert_string_equal(a->personality_emoji, "\xf0\x9f\x8c\xb8");
    assert_int_equal(a->status, TIA_AGENT_MAINTENANCE);
    assert_json_equal(a->metadata, n.metadata);
    assert_int_equal(a->created_at, a->updated_at);
    /* The database clock and ours agree to within a minute. */
    assert_true(a->created_at > before - 60000000 && a->created_at < before + 60000000);
    tia_agent_free(a);

    /* Optional fields left out get the schema's defaults. */
    tia_agent_new m = {.id = "bare-007", .name = "Bare", .role = "r", .model = "m"};
    TIA_OK_OR_FAIL(tia_agent_create(s, &m, &err), &err);
    TIA_OK_OR_FAIL(tia_agent_get(s, "bare-007", &a, &err), &err);
    assert_int_equal(a->n_specialties, 0);
    assert_null(a->backstory);
    assert_null(a->personality_emoji);
    assert_int_equal(a->status, TIA_AGENT_ACTIVE);
    assert_json_equal(a->metadata, "{}");
    tia_agent_free(a);

    /* A taken id is a conflict and writes nothing. */
    int64_t count = COUNT(s, "agents");
    TIA_ASSERT_RC(tia_agent_create(s, &m, &err), TIA_ECONFLICT, &err);
    assert_non_null(strstr(err.message, "bare-007"));
    assert_int_equal(COUNT(s, "agents"), count);

    TIA_ASSERT_RC(tia_agent_get(s, "nobody-999", &a, &err), TIA_ENOTFOUND, &err);
    assert_null(a);
    TIA_ASSERT_RC(tia_agent_get(s, NULL, &a, &err), TIA_EINVAL, &err);
}

/* Each case spoils one field of a valid agent. */
typedef enum spoil {
    SP_ID_NULL,
    SP_ID_EMPTY,
    SP_ID_LONG,
    SP_ID_UTF8,
    SP_NAME_NULL,
    SP_NAME_LONG,
    SP_NAME_UTF8,
    SP_ROLE_EMPTY,
    SP_ROLE_LONG,
    SP_MODEL_LONG,
    SP_MODEL_UTF8,
    SP_EMOJI_LONG,
    SP_EMOJI_UTF8,
    SP_BACKSTORY_UTF8,
    SP_SPEC_EMPTY,
    SP_SPEC_NULL,
    SP_SPEC_UTF8,
    SP_SPEC_ARRAY_NULL,
    SP_SPEC_SEPARATOR,
    SP_STATUS,
    SP_STATUS_NEG,
    SP_META_JSON,
    SP_META_TRAILING,
    SP_COUNT
} spoil;

static const char *const spoil_field[SP_COUNT] = {"agent id",
                                                  "agent id",
                                                  "agent id",
                                                  "agent id",
                                                  "name",
                                                  "name",
                                                  "name",
                                                  "role",
                                                  "role",
                                                  "model",
                                                  "model",
                                                  "personality_emoji",
                                                  "personality_emoji",
                                                  "backstory",
                                                  "specialties[1]",
                                                  "specialties[1]",
                                                  "specialties[1]",
                                                  "specialties",
                                                  "specialties[1]",
                                                  "status",
                                                  "status",
                                                  "metadata",
                                                  "metadata"};

static void test_create_refuses_bad_input(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    char *id51 = rep("\xe4\xbe\x8d", TIA_AGENT_ID_MAX + 1);
    char *name101 = rep("\xe4\xbe\x8d", TIA_AGENT_NAME_MAX + 1);
    char *role201 = rep("\xe4\xbe\x8d", TIA_AGENT_ROLE_MAX + 1);
    char *model101 = rep("\xe4\xbe\x8d", TIA_AGENT_MODEL_MAX + 1);
    char *emoji11 = rep("\xe4\xbe\x8d", TIA_AGENT_EMOJI_MAX + 1);
    int64_t agents = COUNT(s, "agents"), totals = COUNT(s, "agent_task_totals");
    for (int c = 0; c < SP_COUNT; c++) {
        const char *sp[] = {"ok", "fine"};
        tia_agent_new n = {.id = "spoilt-1",
                           .name = "N",
                           .role = "R",
                           .model = "M",
                           .specialties = sp,
                           .n_specialties = 2,
                           .metadata = "{}"};
        switch ((spoil)c) {
        case SP_ID_NULL: n.id = NULL; break;
        case SP_ID_EMPTY: n.id = ""; break;
        case SP_ID_LONG: n.id = id51; break;
        case SP_ID_UTF8: n.id = "bad-\xc3\x28"; break;
        case SP_NAME_NULL: n.name = NULL; break;
        case SP_NAME_LONG: n.name = name101; break;
        case SP_NAME_UTF8: n.name = "\xff\xfe"; break;
        case SP_ROLE_EMPTY: n.role = ""; break;
        case SP_ROLE_LONG: n.role = role201; break;
        case SP_MODEL_LONG: n.model = model101; break;
        case SP_MODEL_UTF8: n.model = "\xed\xa0\x80"; break; /* a surrogate */
        case SP_EMOJI_LONG: n.personality_emoji = emoji11; break;
        case SP_EMOJI_UTF8: n.personality_emoji = "\xf0\x9f\x8c"; break;
        case SP_BACKSTORY_UTF8: n.backstory = "once \xc0\xaf upon"; break; /* overlong */
        case SP_SPEC_EMPTY: sp[1] = ""; break;
        case SP_SPEC_NULL: sp[1] = NULL; break;
        case SP_SPEC_UTF8: sp[1] = "\x80"; break;
        case SP_SPEC_ARRAY_NULL: n.specialties = NULL; break;
        case SP_SPEC_SEPARATOR: sp[1] = "a\x1f" "b"; break; /* the packing separator */
        case SP_STATUS: n.status = (tia_agent_status)42; break;
        case SP_STATUS_NEG: n.status = (tia_agent_status)-1; break;
        case SP_META_JSON: n.metadata = "{\"a\":"; break;
        case SP_META_TRAILING: n.metadata = "{} x"; break;
        case SP_COUNT: break;
        }
        tia_error_clear(&err);
        int rc = tia_agent_create(s, &n, &err);
        if (rc != TIA_EINVAL)
            fail_msg("case %d: got %d (%s), want TIA_EINVAL", c, rc, err.message);
        if (strstr(err.message, spoil_field[c]) == NULL)
            fail_msg("case %d: message '%s' does not name %s", c, err.message, spoil_field[c]);
        assert_int_equal(COUNT(s, "agents"), agents);
        assert_int_equal(COUNT(s, "agent_task_totals"), totals);
    }
    free(id51);
    free(name101);
    free(role201);
    free(model101);
    free(emoji11);
}

/* Exactly at each limit is accepted, counted in characters (3 bytes each here). */
static void test_create_accepts_limits_in_characters(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    char *id = rep("\xe4\xbe\x8d", TIA_AGENT_ID_MAX);
    char *name = rep("\xe4\xbe\x8d", TIA_AGENT_NAME_MAX);
    char *role = rep("\xe4\xbe\x8d", TIA_AGENT_ROLE_MAX);
    char *model = rep("\xe4\xbe\x8d", TIA_AGENT_MODEL_MAX);
    /* Ten characters of which five are U+FE0F: 🛡️ counts as two. */
    char *emoji = rep("\xf0\x9f\x9b\xa1\xef\xb8\x8f", TIA_AGENT_EMOJI_MAX / 2);
    tia_agent_new n = {
        .id = id, .name = name, .role = role, .model = model, .personality_emoji = emoji};
    TIA_OK_OR_FAIL(tia_agent_create(s, &n, &err), &err);
    tia_agent *a = NULL;
    TIA_OK_OR_FAIL(tia_agent_get(s, id, &a, &err), &err);
    assert_string_equal(a->id, id);
    assert_string_equal(a->name, name);
    assert_string_equal(a->role, role);
    assert_string_equal(a->model, model);
    assert_string_equal(a->personality_emoji, emoji);
    tia_agent_free(a);
    assert_int_equal(tia_test_int(s, "SELECT max(length(name)) FROM agents",
                                  "SELECT max(length(name)) FROM agents"),
                     TIA_AGENT_NAME_MAX);
    free(id);
    free(name);
    free(role);
    free(model);
    free(emoji);
}

static void test_update_fields(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    tia_agent *before = NULL, *a = NULL;
    TIA_OK_OR_FAIL(tia_agent_get(s, "akira-001", &before, &err), &err);
    sleep_ms(20);

    const char *sp[] = {"fuzzing", "\xe4\xbe\x8d"};
    struct tia_agent_update u = {.fields = TIA_AGENT_SET_NAME | TIA_AGENT_SET_SPECIALTIES |
                                           TIA_AGENT_SET_BACKSTORY | TIA_AGENT_SET_METADATA,
                                 .name = "Akira II",
                                 .role = "ignored: not in the mask",
                                 .specialties = sp,
                                 .n_specialties = 2,
                                 .backstory = NULL,
                                 .metadata = "{\"v\": 2}"};
    TIA_OK_OR_FAIL(tia_agent_update(s, "akira-001", &u, &err), &err);
    TIA_OK_OR_FAIL(tia_agent_get(s, "akira-001", &a, &err), &err);
    assert_string_equal(a->name, "Akira II");
    assert_string_equal(a->role, before->role);
    assert_string_equal(a->model, before->model);
    assert_specialties(a, sp, 2);
    assert_null(a->backstory);
    assert_string_equal(a->personality_emoji, before->personality_emoji);
    assert_json_equal(a->metadata, "{\"v\": 2}");
    assert_int_equal(a->created_at, before->created_at);
    if (a->updated_at <= before->updated_at)
        fail_msg("updated_at did not move: %lld then %lld", (long long)before->updated_at,
                 (long long)a->updated_at);
    tia_agent_free(a);

    /* The rest of the mask: role, model, emoji (NULL clears), status, empty specialties. */
    struct tia_agent_update v = {.fields = TIA_AGENT_SET_ROLE | TIA_AGENT_SET_MODEL |
                                           TIA_AGENT_SET_EMOJI | TIA_AGENT_SET_STATUS |
                                           TIA_AGENT_SET_SPECIALTIES | TIA_AGENT_SET_METADATA,
                                 .role = "Reviewer",
                                 .model = "grok-4",
                                 .personality_emoji = NULL,
                                 .status = TIA_AGENT_INACTIVE,
                                 .n_specialties = 0,
                                 .metadata = NULL};
    TIA_OK_OR_FAIL(tia_agent_update(s, "akira-001", &v, &err), &err);
    TIA_OK_OR_FAIL(tia_agent_get(s, "akira-001", &a, &err), &err);
    assert_string_equal(a->name, "Akira II");
    assert_string_equal(a->role, "Reviewer");
    assert_string_equal(a->model, "grok-4");
    assert_null(a->personality_emoji);
    assert_int_equal(a->status, TIA_AGENT_INACTIVE);
    assert_int_equal(a->n_specialties, 0);
    assert_json_equal(a->metadata, "{}");
    tia_agent_free(a);
    tia_agent_free(before);
}

static void test_update_refuses_bad_input(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    tia_agent *before = NULL, *after = NULL;
    TIA_OK_OR_FAIL(tia_agent_get(s, "yuki-002", &before, &err), &err);
    char *name101 = rep("\xe4\xbe\x8d", TIA_AGENT_NAME_MAX + 1);
    const char *bad_sp[] = {"ok", ""};
    struct tia_agent_update cases[] = {
        {.fields = 0},
        {.fields = 1u << 8, .name = "x"},
        {.fields = TIA_AGENT_SET_NAME, .name = name101},
        {.fields = TIA_AGENT_SET_NAME, .name = NULL},
        {.fields = TIA_AGENT_SET_ROLE, .role = "\xff"},
        {.fields = TIA_AGENT_SET_SPECIALTIES, .specialties = bad_sp, .n_specialties = 2},
        {.fields = TIA_AGENT_SET_STATUS, .status = (tia_agent_status)42},
        {.fields = TIA_AGENT_SET_METADATA, .metadata = "[1,"},
        /* a good field next to a bad one: nothing of either is written */
        {.fields = TIA_AGENT_SET_MODEL | TIA_AGENT_SET_EMOJI,
         .model = "m",
         .personality_emoji = "12345678901"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = tia_agent_update(s, "yuki-002", &cases[i], &err);
        if (rc != TIA_EINVAL)
            fail_msg("case %zu: got %d (%s), want TIA_EINVAL", i, rc, err.message);
    }
    TIA_OK_OR_FAIL(tia_agent_get(s, "yuki-002", &after, &err), &err);
    assert_string_equal(after->name, before->name);
    assert_string_equal(after->model, before->model);
    assert_string_equal(after->personality_emoji, before->personality_emoji);
    assert_int_equal(after->updated_at, before->updated_at);
    tia_agent_free(after);
    tia_agent_free(before);
    free(name101);

    struct tia_agent_update ok = {.fields = TIA_AGENT_SET_NAME, .name = "x"};
    TIA_ASSERT_RC(tia_agent_update(s, "nobody-999", &ok, &err), TIA_ENOTFOUND, &err);
    TIA_ASSERT_RC(tia_agent_update(s, NULL, &ok, &err), TIA_EINVAL, &err);
    TIA_ASSERT_RC(tia_agent_update(s, "yuki-002", NULL, &err), TIA_EINVAL, &err);
}

static void test_set_status_and_list_by_status(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_agent_set_status(s, "hiro-003", TIA_AGENT_MAINTENANCE, &err), &err);
    TIA_OK_OR_FAIL(tia_agent_set_status(s, "sakura-004", TIA_AGENT_INACTIVE, &err), &err);
    TIA_OK_OR_FAIL(tia_agent_set_status(s, "akira-001", TIA_AGENT_INACTIVE, &err), &err);

    struct tia_agent_list l;
    tia_agent_status st = TIA_AGENT_INACTIVE;
    TIA_OK_OR_FAIL(tia_agent_list(s, &st, &l, &err), &err);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0]->id, "akira-001");
    assert_string_equal(l.items[1]->id, "sakura-004");
    tia_agent_list_free(&l);
    st = TIA_AGENT_MAINTENANCE;
    TIA_OK_OR_FAIL(tia_agent_list(s, &st, &l, &err), &err);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0]->id, "hiro-003");
    assert_int_equal(l.items[0]->status, TIA_AGENT_MAINTENANCE);
    tia_agent_list_free(&l);
    st = TIA_AGENT_ACTIVE;
    TIA_OK_OR_FAIL(tia_agent_list(s, &st, &l, &err), &err);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0]->id, "kenji-005");
    assert_string_equal(l.items[1]->id, "yuki-002");
    tia_agent_list_free(&l);

    st = (tia_agent_status)42;
    TIA_ASSERT_RC(tia_agent_list(s, &st, &l, &err), TIA_EINVAL, &err);
    assert_int_equal(l.n, 0);
    TIA_ASSERT_RC(tia_agent_set_status(s, "kenji-005", (tia_agent_status)42, &err), TIA_EINVAL,
                  &err);
    assert_int_equal(tia_test_int(s, "SELECT count(*) FROM agents WHERE status = 'active'",
                                  "SELECT count(*) FROM agents WHERE status = 'active'"),
                     2);
    TIA_ASSERT_RC(tia_agent_set_status(s, "nobody-999", TIA_AGENT_ACTIVE, &err), TIA_ENOTFOUND,
                  &err);
}

static void create_plain(tia_store *s, const char *id)
{
    tia_error err = {0};
    tia_agent_new n = {.id = id, .name = id, .role = "r", .model = "m"};
    TIA_OK_OR_FAIL(tia_agent_create(s, &n, &err), &err);
}

static void test_delete_cascades(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    create_plain(s, "gone-1");
    const char *ins =
        "INSERT INTO agent_tasks (agent_id, task_type, description, status) VALUES "
        "('gone-1', 't', 'd', 'completed'), ('gone-1', 't', 'd', 'pending'), "
        "('akira-001', 't', 'kept', 'pending');"
        "INSERT INTO agent_metrics (agent_id, metric_type, metric_value) VALUES "
        "('gone-1', 'latency', 1.5), ('gone-1', 'tokens', 10), ('akira-001', 'latency', 2);";
    TIA_OK_OR_FAIL(tia_test_exec(s, ins, ins, &err), &err);
    int64_t agents = COUNT(s, "agents"), tasks = COUNT(s, "agent_tasks");
    int64_t metrics = COUNT(s, "agent_metrics"), totals = COUNT(s, "agent_task_totals");

    TIA_OK_OR_FAIL(tia_agent_delete(s, "gone-1", &err), &err);
    assert_int_equal(COUNT(s, "agents"), agents - 1);
    assert_int_equal(COUNT(s, "agent_tasks"), tasks - 2);
    assert_int_equal(COUNT(s, "agent_metrics"), metrics - 2);
    assert_int_equal(COUNT(s, "agent_task_totals"), totals - 1);
    tia_agent *a = NULL;
    TIA_ASSERT_RC(tia_agent_get(s, "gone-1", &a, &err), TIA_ENOTFOUND, &err);
    TIA_ASSERT_RC(tia_agent_delete(s, "gone-1", &err), TIA_ENOTFOUND, &err);
    TIA_ASSERT_RC(tia_agent_delete(s, "", &err), TIA_EINVAL, &err);
}

static void test_delete_refused_by_interaction(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    create_plain(s, "talker-1");
    const char *ins = "INSERT INTO agent_tasks (agent_id, task_type, description) VALUES "
                      "('talker-1', 't', 'd');";
    TIA_OK_OR_FAIL(tia_test_exec(s, ins, ins, &err), &err);
    tia_interaction_new in = {
        .from_agent_id = "akira-001", .to_agent_id = "talker-1", .interaction_type = "handoff"};
    TIA_OK_OR_FAIL(tia_interaction_record(s, &in, NULL, &err), &err);
    int64_t agents = COUNT(s, "agents"), tasks = COUNT(s, "agent_tasks");

    TIA_ASSERT_RC(tia_agent_delete(s, "talker-1", &err), TIA_ECONFLICT, &err);
    assert_non_null(strstr(err.message, "talker-1"));
    assert_non_null(strstr(err.message, "1 interaction"));
    assert_int_equal(COUNT(s, "agents"), agents);
    assert_int_equal(COUNT(s, "agent_tasks"), tasks);
    tia_agent *a = NULL;
    TIA_OK_OR_FAIL(tia_agent_get(s, "talker-1", &a, &err), &err);
    tia_agent_free(a);
}

static void test_delete_refused_by_other_agents_subtask(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    create_plain(s, "parent-1");
    const char *ins =
        "INSERT INTO agent_tasks (id, agent_id, task_type, description) VALUES "
        "('01900000-0000-7000-8000-000000000001', 'parent-1', 't', 'parent'), "
        "('01900000-0000-7000-8000-000000000002', 'parent-1', 't', 'own child');"
        "UPDATE agent_tasks SET parent_task_id = '01900000-0000-7000-8000-000000000001' "
        "WHERE id = '01900000-0000-7000-8000-000000000002';"
        "INSERT INTO agent_tasks (agent_id, task_type, description, parent_task_id) VALUES "
        "('yuki-002', 't', 'subtask', '01900000-0000-7000-8000-000000000001');";
    TIA_OK_OR_FAIL(tia_test_exec(s, ins, ins, &err), &err);
    int64_t agents = COUNT(s, "agents"), tasks = COUNT(s, "agent_tasks");
    TIA_ASSERT_RC(tia_agent_delete(s, "parent-1", &err), TIA_ECONFLICT, &err);
    assert_non_null(strstr(err.message, "1 task(s) of other agents"));
    assert_int_equal(COUNT(s, "agents"), agents);
    assert_int_equal(COUNT(s, "agent_tasks"), tasks);

    /* Without the other agent's subtask, its own parent/child pair goes with it. */
    const char *del = "DELETE FROM agent_tasks WHERE agent_id = 'yuki-002'";
    TIA_OK_OR_FAIL(tia_test_exec(s, del, del, &err), &err);
    TIA_OK_OR_FAIL(tia_agent_delete(s, "parent-1", &err), &err);
    assert_int_equal(COUNT(s, "agent_tasks"), tasks - 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seeded_agents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_refuses_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_accepts_limits_in_characters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_refuses_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_status_and_list_by_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_cascades, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_refused_by_interaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_refused_by_other_agents_subtask, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
