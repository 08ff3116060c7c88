/*
 * Unit tests of src/core: UUIDv7 layout and order, text formats (time, duration,
 * money), status names and the transition rule, and the input checks.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tia_test.h"

#include <tokyoia/types.h>

#include "core/crypto.h"
#include "core/uuid.h"
#include "core/validate.h"

static void test_uuid7_layout_and_order(void **state)
{
    (void)state;
    tia__uuid_gen g = {0};
    char prev[37] = "";
    for (int i = 0; i < 10000; i++) {
        char id[37];
        tia__uuid7(&g, id);
        assert_int_equal(strlen(id), 36);
        assert_true(tia__uuid_valid(id));
        assert_int_equal(id[14], '7');                 /* version */
        assert_non_null(strchr("89ab", id[19]));       /* variant */
        if (i > 0 && strcmp(prev, id) >= 0)
            fail_msg("not increasing: %s then %s", prev, id);
        memcpy(prev, id, sizeof id);
    }
}

/*
 * The random bytes come from a per-thread block (uuid.c): after a fork the
 * child must not hand out the bytes its parent hands out next. Each side makes
 * ids after the fork; no random tail (the last 12 hex digits) may repeat.
 */
static void test_uuid7_fork(void **state)
{
    (void)state;
    tia__uuid_gen g = {0};
    char id[37], child_ids[8][37], ids[8][37];
    tia__uuid7(&g, id); /* the parent's block is filled and partly used */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (int i = 0; i < 8; i++)
            tia__uuid7(&g, child_ids[i]);
        ssize_t w = write(fds[1], child_ids, sizeof child_ids);
        _exit(w == (ssize_t)sizeof child_ids ? 0 : 1);
    }
    close(fds[1]);
    for (int i = 0; i < 8; i++)
        tia__uuid7(&g, ids[i]);
    size_t got = 0;
    while (got < sizeof child_ids) {
        ssize_t r = read(fds[0], (char *)child_ids + got, sizeof child_ids - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
            if (strcmp(ids[i] + 24, child_ids[j] + 24) == 0)
                fail_msg("parent %s and child %s share their random bytes", ids[i], child_ids[j]);
}

static void test_uuid_valid(void **state)
{
    (void)state;
    assert_true(tia__uuid_valid("670e9511-f3ac-52e5-b827-557766551111"));
    assert_true(tia__uuid_valid("670E9511-F3AC-52E5-B827-557766551111"));
    assert_false(tia__uuid_valid("670e9511f3ac52e5b827557766551111"));
    assert_false(tia__uuid_valid("670e9511-f3ac-52e5-b827-55776655111"));
    assert_false(tia__uuid_valid("670e9511-f3ac-52e5-b827-5577665511111"));
    assert_false(tia__uuid_valid("g70e9511-f3ac-52e5-b827-557766551111"));
    assert_false(tia__uuid_valid(NULL));
}

static void test_time_format(void **state)
{
    (void)state;
    char buf[40];
    tia_time_format(0, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000000Z");
    tia_time_format(INT64_C(1795379716123456), buf, sizeof buf);
    assert_string_equal(buf, "2026-11-22T20:35:16.123456Z");
    tia_time_format(TIA_TIME_NONE, buf, sizeof buf);
    assert_string_equal(buf, "");

    /*
     * Against libc's calendar (gmtime_r): the edges of the four-digit years, the
     * epoch's neighbours, leap days of 400-year and 100-year rules, and a spread of
     * values over every era from year 1 to 9999 and a little past both ends.
     */
    static const int64_t edges[] = {
        INT64_C(-62135596800000000), /* 0001-01-01T00:00:00Z */
        INT64_C(253402300799999999), /* 9999-12-31T23:59:59.999999Z */
        INT64_C(253402300800000000), /* 10000-01-01: past four digits */
        INT64_C(-62135596800000001), /* 0000-12-31T23:59:59.999999Z */
        INT64_C(-62198755200000000), /* -0001-01-01 */
        -1, 1, 999999, -999999, -1000000, -1000001, INT64_C(86399999999), INT64_C(-86400000000),
        INT64_C(951782400000000),   /* 2000-02-29 */
        INT64_C(-2203891200000000), /* 1900-03-01 */
        INT64_C(4107456000000000),  /* 2100-02-28 */
        INT64_C(4107542400000000),  /* 2100-03-01 */
        INT64_C(68169600000000),    /* 1972-02-29 */
    };
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 20000; i++) {
        int64_t t;
        if (i < (int)(sizeof edges / sizeof edges[0])) {
            t = edges[i];
        } else {
            x ^= x << 13; /* xorshift64: a fixed, reproducible spread */
            x ^= x >> 7;
            x ^= x << 17;
            t = INT64_C(-62198755200000000) +
                (int64_t)(x % (uint64_t)(INT64_C(253465459200000000) + INT64_C(62198755200000000)));
        }
        time_t sec = (time_t)(t / 1000000);
        int64_t us = t % 1000000;
        if (us < 0) {
            us += 1000000;
            sec -= 1;
        }
        struct tm tm;
        assert_non_null(gmtime_r(&sec, &tm));
        char want[64];
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%06" PRId64 "Z",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
        tia_time_format(t, buf, sizeof buf);
        if (strcmp(buf, want) != 0)
            fail_msg("time %" PRId64 ": %s, libc says %s", t, buf, want);
    }
    /* A short buffer is cut, never overrun. */
    char small[8];
    tia_time_format(0, small, sizeof small);
    assert_string_equal(small, "1970-01");
}

/*
 * A day past its month's length is refused, not carried into the next month
 * (2026-02-31 was read as 2026-03-03): leap years by the Gregorian rules.
 */
static void test_time_parse_calendar(void **state)
{
    (void)state;
    static const char *const ok[] = {"2026-01-31T00:00:00Z",        "2024-02-29T00:00:00Z",
                                     "2000-02-29T12:00:00Z",        "2026-04-30T23:59:59Z",
                                     "2026-12-31T23:59:59.999999Z", "0001-01-01T00:00:00Z"};
    static const char *const bad[] = {
        "2026-02-31T10:00:00Z", "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
        "2100-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-06-31",
        "2026-11-31T00:00:00Z", "2026-00-10T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-01-00T00:00:00Z", "2026-01-32T00:00:00Z"};
    tia_time_us t;
    char buf[40];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (tia_time_parse(ok[i], &t) != 0)
            fail_msg("%s refused", ok[i]);
        tia_time_format(t, buf, sizeof buf);
        if (strncmp(buf, ok[i], 10) != 0)
            fail_msg("%s read as %s", ok[i], buf);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (tia_time_parse(bad[i], &t) != TIA_EINVAL)
            fail_msg("%s accepted", bad[i]);
}

static void test_duration_parse(void **state)
{
    (void)state;
    int64_t us = 0;
    assert_int_equal(tia_duration_parse("24h", &us), 0);
    assert_true(us == INT64_C(86400000000));
    assert_int_equal(tia_duration_parse("1h30m", &us), 0);
    assert_true(us == INT64_C(5400000000));
    assert_int_equal(tia_duration_parse("500ms", &us), 0);
    assert_true(us == 500000);
    assert_int_equal(tia_duration_parse("7d", &us), 0);
    assert_true(us == INT64_C(604800000000));
    assert_int_equal(tia_duration_parse("", &us), TIA_EINVAL);
    assert_int_equal(tia_duration_parse("0s", &us), TIA_EINVAL);
    assert_int_equal(tia_duration_parse("-5m", &us), TIA_EINVAL);
    assert_int_equal(tia_duration_parse("5", &us), TIA_EINVAL);
    assert_int_equal(tia_duration_parse("5y", &us), TIA_EINVAL);
    assert_int_equal(tia_duration_parse("99999999999999999999h", &us), TIA_EINVAL);
}

static void test_cost(void **state)
{
    (void)state;
    int64_t m = 0;
    assert_int_equal(tia_cost_parse("0.0015", &m), 0);
    assert_true(m == 1500);
    assert_int_equal(tia_cost_parse("12", &m), 0);
    assert_true(m == 12000000);
    assert_int_equal(tia_cost_parse("9999.999999", &m), 0);
    assert_true(m == TIA_COST_MAX_MICROS);
    assert_int_equal(tia_cost_parse("1.0000001", &m), TIA_EINVAL);
    assert_int_equal(tia_cost_parse("1.5000000", &m), 0);
    assert_true(m == 1500000);
    assert_int_equal(tia_cost_parse("abc", &m), TIA_EINVAL);
    assert_int_equal(tia_cost_parse(".", &m), TIA_EINVAL);
    char buf[32];
    tia_cost_format(1500, buf, sizeof buf);
    assert_string_equal(buf, "0.001500");
    tia_cost_format(-2500001, buf, sizeof buf);
    assert_string_equal(buf, "-2.500001");
    tia_cost_format(0, buf, sizeof buf);
    assert_string_equal(buf, "0.000000");
    tia_cost_format(INT64_MAX, buf, sizeof buf);
    assert_string_equal(buf, "9223372036854.775807");
    tia_cost_format(INT64_MIN, buf, sizeof buf);
    assert_string_equal(buf, "-9223372036854.775808");
    char small[5];
    tia_cost_format(123456789, small, sizeof small);
    assert_string_equal(small, "123.");
}

/* Every byte value at every position, against printf's %02x and the dashes of 8-4-4-4-12. */
static void test_uuid_format(void **state)
{
    (void)state;
    for (int v = 0; v < 256; v++) {
        unsigned char b[16];
        for (int i = 0; i < 16; i++)
            b[i] = (unsigned char)((v + 17 * i) & 0xff);
        char got[37], want[37];
        memset(got, 'X', sizeof got);
        tia__uuid_format(b, got);
        snprintf(want, sizeof want,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                 b[15]);
        assert_string_equal(got, want);
        assert_true(tia__uuid_valid(got));
    }
}

static void test_status_names_and_transitions(void **state)
{
    (void)state;
    tia_run_status r;
    /* Every name of each enum parses to its own value (completed and cancelled
     * share a first letter), and a name's prefix, extension or case does not. */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(tia_run_status_parse(tia_run_status_name((tia_run_status)i), &r), 0);
        assert_int_equal(r, i);
    }
    tia_agent_status a;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tia_agent_status_parse(tia_agent_status_name((tia_agent_status)i), &a), 0);
        assert_int_equal(a, i);
    }
    tia_session_status ss;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            tia_session_status_parse(tia_session_status_name((tia_session_status)i), &ss), 0);
        assert_int_equal(ss, i);
    }
    static const char *const bad[] = {"done",       "",          "c",         "complete",
                                      "completed ", "Completed", "cancelledx"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(tia_run_status_parse(bad[i], &r), TIA_EINVAL);
    assert_int_equal(tia_run_status_parse(NULL, &r), TIA_EINVAL);
    assert_int_equal(tia_run_status_parse("completed", &r), 0);
    assert_int_equal(r, TIA_COMPLETED);
    assert_null(tia_run_status_name((tia_run_status)42));
    assert_string_equal(tia_agent_status_name(TIA_AGENT_MAINTENANCE), "maintenance");
    assert_true(tia_run_transition_ok(TIA_PENDING, TIA_RUNNING));
    assert_true(tia_run_transition_ok(TIA_PENDING, TIA_CANCELLED));
    assert_true(tia_run_transition_ok(TIA_RUNNING, TIA_COMPLETED));
    assert_true(tia_run_transition_ok(TIA_RUNNING, TIA_FAILED));
    assert_true(tia_run_transition_ok(TIA_RUNNING, TIA_CANCELLED));
    assert_false(tia_run_transition_ok(TIA_PENDING, TIA_COMPLETED));
    assert_false(tia_run_transition_ok(TIA_COMPLETED, TIA_RUNNING));
    assert_false(tia_run_transition_ok(TIA_FAILED, TIA_PENDING));
    assert_false(tia_run_transition_ok(TIA_CANCELLED, TIA_RUNNING));
}

/* Text cut to fit a buffer, or holding stray bytes, is made valid UTF-8 and no more. */
static void test_utf8_repair(void **state)
{
    (void)state;
    struct {
        const char *in, *out;
    } cases[] = {
        {"plain ascii", "plain ascii"},
        {"侍🌸 intact", "侍🌸 intact"},
        {"cut \xe4\xbe", "cut "},     /* a 3-byte character cut after 2 */
        {"cut \xf0\x9f\x8c", "cut "}, /* a 4-byte one cut after 3 */
        {"cut \xe4", "cut "},         /* after its lead byte */
        {"a\xff"
         "b",
         "a?b"}, /* never a lead byte */
        {"a\x80"
         "b",
         "a?b"}, /* a stray continuation */
        {"a\xe4"
         "bc",
         "a?bc"}, /* a lead byte whose character never comes */
        {"a\xc0\xaf"
         "b",
         "a??b"}, /* overlong */
        {"a\xed\xa0\x80"
         "b",
         "a???b"}, /* surrogate */
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", cases[i].in);
        tia__utf8_repair(buf);
        assert_string_equal(buf, cases[i].out);
        assert_true(tia__utf8_chars(buf, strlen(buf)) >= 0);
    }
    /* tia_error_set's message is valid UTF-8 even when the text it quotes is cut. */
    char long_text[3 * TIA_ERROR_MSG_MAX + 1] = {0};
    for (size_t i = 0; i + 3 <= 3 * TIA_ERROR_MSG_MAX; i += 3)
        memcpy(long_text + i, "侍", 3);
    for (int shift = 0; shift < 3; shift++) {
        tia_error err = {0};
        tia_error_set(&err, TIA_EINVAL, "%.*sbad name '%s'", shift, "xx", long_text);
        assert_true(strlen(err.message) >= TIA_ERROR_MSG_MAX - 4);
        assert_true(tia__utf8_chars(err.message, strlen(err.message)) >= 0);
    }
}

static void test_validate(void **state)
{
    (void)state;
    tia_error err = {0};
    assert_int_equal(tia__utf8_chars("侍🌸", strlen("侍🌸")), 2);
    assert_int_equal(tia__utf8_chars("\xc0\xaf", 2), -1);     /* overlong */
    assert_int_equal(tia__utf8_chars("\xed\xa0\x80", 3), -1); /* surrogate */
    assert_int_equal(tia__utf8_chars("\xe4\xbe", 2), -1);     /* truncated */
    assert_int_equal(tia__check_text(&err, "name", "abc", 3, 1), 0);
    assert_int_equal(tia__check_text(&err, "name", "abcd", 3, 1), TIA_EINVAL);
    assert_non_null(strstr(err.message, "name"));
    assert_int_equal(tia__check_text(&err, "name", "侍侍侍", 3, 1), 0);
    assert_int_equal(tia__check_text(&err, "name", NULL, 3, 1), TIA_EINVAL);
    assert_int_equal(tia__check_text(&err, "name", "", 3, 1), TIA_EINVAL);
    assert_int_equal(tia__check_text(&err, "name", NULL, 3, 0), 0);
    assert_int_equal(tia__check_json(&err, "input_data", "{\"a\": [1, 2]}", 0), 0);
    assert_int_equal(tia__check_json(&err, "input_data", "42", 0), 0);
    assert_int_equal(tia__check_json(&err, "input_data", "{\"a\": }", 0), TIA_EINVAL);
    assert_int_equal(tia__check_json(&err, "input_data", "\"\\u0000\"", 0), TIA_EINVAL);
    char out[64];
    assert_int_equal(tia__check_inet(&err, "ip", "192.168.1.10", out), 0);
    assert_string_equal(out, "192.168.1.10");
    assert_int_equal(tia__check_inet(&err, "ip", "2001:DB8:0:0::1", out), 0);
    assert_string_equal(out, "2001:db8::1");
    assert_int_equal(tia__check_inet(&err, "ip", "10.0.0.0/8", out), 0);
    assert_string_equal(out, "10.0.0.0/8");
    assert_int_equal(tia__check_inet(&err, "ip", "10.0.0.0/32", out), 0);
    assert_string_equal(out, "10.0.0.0");
    assert_int_equal(tia__check_inet(&err, "ip", "300.1.1.1", out), TIA_EINVAL);
    assert_int_equal(tia__check_inet(&err, "ip", "1.2.3.4/33", out), TIA_EINVAL);
    assert_int_equal(tia__check_inet(&err, "ip", "1.2.3.4/", out), TIA_EINVAL);
    assert_int_equal(tia__check_inet(&err, "ip", "localhost", out), TIA_EINVAL);
    assert_int_equal(tia__check_finite(&err, "v", NAN), TIA_EINVAL);
    assert_int_equal(tia__check_finite(&err, "v", INFINITY), TIA_EINVAL);
    assert_int_equal(tia__check_finite(&err, "v", 1.5), 0);
    assert_int_equal(tia__check_range(&err, "tokens", -1, 10), TIA_EINVAL);
    size_t lim = 0;
    assert_int_equal(tia__check_limit(&err, 0, &lim), 0);
    assert_int_equal(lim, 50);
    assert_int_equal(tia__check_limit(&err, TIA_PAGE_MAX + 1, &lim), TIA_EINVAL);
}

static void test_crypto(void **state)
{
    (void)state;
    char hex[65];
    assert_int_equal(tia__sha256_hex("abc", 3, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(tia__ct_equal("abcd", "abcd", 4));
    assert_false(tia__ct_equal("abcd", "abce", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid7_layout_and_order),
        cmocka_unit_test(test_uuid7_fork),
        cmocka_unit_test(test_uuid_valid),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_time_parse_calendar),
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test(test_cost),
        cmocka_unit_test(test_uuid_format),
        cmocka_unit_test(test_status_names_and_transitions),
        cmocka_unit_test(test_utf8_repair),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_crypto),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
