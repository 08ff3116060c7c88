/*
 * Fuzz target: the CLI's option parser (src/cli/args.c) without a database. The
 * input is argv, one argument per line, given to tia_cli_dispatch over a group
 * of two subcommands whose options cover every option kind (strings, repeated,
 * integers, numbers, durations, times, costs, statuses, buckets), with a
 * required option and typed positionals. Besides crashes and leaks it checks
 * the parser's promises: success means exactly the declared positionals and
 * the required option given; failure returns the usage exit code (or 0 after
 * --help).
 */
#include <stdlib.h>
#include <string.h>

#include <tokyoia/agents.h>
#include <tokyoia/metrics.h>
#include <tokyoia/types.h>

#include "cli/cli.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARGS_MAX 64

static int check_result(int rc, const tia_cli_pos *pos, size_t want, int required_seen)
{
    TIA_FUZZ_CHECK(rc == -1 || rc == TIA_EXIT_OK || rc == TIA_EXIT_USAGE, "parse returned %d", rc);
    if (rc == -1) {
        TIA_FUZZ_CHECK(pos->n == want, "%zu positionals accepted, %zu declared", pos->n, want);
        TIA_FUZZ_CHECK(required_seen, "accepted without the required option");
        return TIA_EXIT_OK;
    }
    return rc;
}

/* `fuzz all ID STATUS`: every kind of option, --name required. */
static int run_all(int argc, char **argv, const tia_cli_opts *opts)
{
    (void)opts;
    const char *name = NULL, *str = NULL;
    tia_cli_strv tags = {0};
    int64_t count = -1, size = -1, dur = -1, cost = -1;
    double ratio = 0;
    tia_time_us at = 0;
    tia_agent_status ast = 0;
    tia_run_status rst = 0, pos_status = 0;
    tia_bucket bucket = 0;
    int name_seen = 0;
    const tia_cli_opt o[] = {
        {"--name", TIA_OPT_STR, &name, 1, "N", "a name", &name_seen},
        {"--str", TIA_OPT_STR, &str, 0, "S", "a string", NULL},
        {"--tag", TIA_OPT_MULTI, &tags, 0, "T", "repeatable", NULL},
        {"--count", TIA_OPT_INT, &count, 0, "N", "an integer", NULL},
        {"--size", TIA_OPT_POSINT, &size, 0, "N", "a positive integer", NULL},
        {"--ratio", TIA_OPT_DOUBLE, &ratio, 0, "X", "a number", NULL},
        {"--timeout", TIA_OPT_DURATION, &dur, 0, "D", "a duration", NULL},
        {"--at", TIA_OPT_TIME, &at, 0, "T", "a time", NULL},
        {"--cost", TIA_OPT_COST, &cost, 0, "USD", "a cost", NULL},
        {"--agent-status", TIA_OPT_AGENT_STATUS, &ast, 0, "S", "an agent status", NULL},
        {"--status", TIA_OPT_RUN_STATUS, &rst, 0, "S", "a run status", NULL},
        {"--bucket", TIA_OPT_BUCKET, &bucket, 0, "B", "a bucket", NULL},
    };
    tia_cli_parse_spec spec = {"fuzz all",
                               "ID STATUS",
                               "every option kind",
                               o,
                               sizeof o / sizeof o[0],
                               {TIA_OPT_STR, TIA_OPT_RUN_STATUS},
                               {NULL, &pos_status}};
    tia_cli_pos pos;
    int rc = tia_cli_parse(&spec, argc, argv, &pos);
    rc = check_result(rc, &pos, 2, name_seen);
    if (rc == TIA_EXIT_OK && name_seen)
        TIA_FUZZ_CHECK(name != NULL, "--name seen without a value");
    for (size_t i = 0; i < tags.n; i++)
        TIA_FUZZ_CHECK(tags.v[i] != NULL, "--tag %zu is NULL", i);
    tia_cli_strv_free(&tags);
    return rc;
}

/* `fuzz one [options]`: no positionals, nothing required (the group's default). */
static int run_one(int argc, char **argv, const tia_cli_opts *opts)
{
    (void)opts;
    int64_t limit = 50;
    const char *cursor = NULL;
    const tia_cli_opt o[] = {
        {"--limit", TIA_OPT_POSINT, &limit, 0, "N", "page size", NULL},
        {"--cursor", TIA_OPT_STR, &cursor, 0, "C", "next page", NULL},
    };
    tia_cli_parse_spec spec = {"fuzz one", "", "few options", o, sizeof o / sizeof o[0], {0}, {0}};
    tia_cli_pos pos;
    int rc = tia_cli_parse(&spec, argc, argv, &pos);
    rc = check_result(rc, &pos, 0, 1);
    TIA_FUZZ_CHECK(rc != TIA_EXIT_OK || limit >= 1, "limit %lld", (long long)limit);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const tia_cli_cmd cmds[] = {
        {"all", "ID STATUS", "every option kind", run_all},
        {"one", "", "few options", run_one},
    };
    char *text = tia_fuzz_cstr(data, size);
    char *argv[ARGS_MAX + 2];
    int argc = 0;
    argv[argc++] = "fuzz";
    for (char *p = text; p && argc < ARGS_MAX;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        argv[argc++] = p;
        p = nl ? nl + 1 : NULL;
    }
    argv[argc] = NULL;
    tia_cli_opts opts = {NULL, 0};
    int rc = tia_cli_dispatch("fuzz", "a group for the fuzzer", cmds, 2, "one", argc, argv, &opts);
    TIA_FUZZ_CHECK(rc == TIA_EXIT_OK || rc == TIA_EXIT_USAGE, "dispatch returned %d", rc);
    free(text);
    return 0;
}
