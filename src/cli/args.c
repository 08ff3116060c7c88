/*
 * Option parsing shared by every command: each subcommand describes its options
 * in a table, and this file turns argv into values, refuses what does not fit with
 * one usage line (exit 2) and writes --help from the same table, so that the help
 * text can never disagree with what is accepted.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokyoia/metrics.h>
#include <tokyoia/types.h>

#include "cli/cli.h"

#define MAX_OPTS 32

int tia_cli_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tokyoia: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'tokyoia %s --help')\n", command);
    return TIA_EXIT_USAGE;
}

void tia_cli_strv_free(tia_cli_strv *v)
{
    if (v == NULL)
        return;
    free(v->v);
    v->v = NULL;
    v->n = 0;
}

static size_t count_words(const char *s)
{
    size_t n = 0;
    for (const char *p = s; p && *p; p++)
        if (*p != ' ' && (p == s || p[-1] == ' '))
            n++;
    return n;
}

/* Word i of a space-separated list, into buf. */
static const char *word(const char *s, size_t i, char *buf, size_t len)
{
    while (*s == ' ')
        s++;
    for (; i > 0 && *s; i--) {
        s += strcspn(s, " ");
        s += strspn(s, " ");
    }
    snprintf(buf, len, "%.*s", (int)strcspn(s, " "), s);
    return buf;
}

static int is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

static void print_help(const tia_cli_parse_spec *spec)
{
    printf("Usage: tokyoia %s%s%s%s\n\n%s\n", spec->command, *spec->args ? " " : "", spec->args,
           spec->n_opts ? " [options]" : "", spec->summary);
    printf("\nOptions:\n");
    for (size_t i = 0; i < spec->n_opts; i++) {
        const tia_cli_opt *o = &spec->opts[i];
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        printf("  %-22s %s%s%s\n", left, o->help, o->required ? " (required)" : "",
               o->kind == TIA_OPT_MULTI ? " (repeatable)" : "");
    }
    printf("  %-22s %s\n", "--help", "show this help");
    printf("\nGlobal options: --db URL (else $DATABASE_URL, else ./tokyoia.db), --read-url URL "
           "(else $DATABASE_READ_URL), --json (tokyoia --help lists them all)\n");
}

static int parse_i64(const char *text, int64_t min, int64_t *out)
{
    if (text == NULL || *text == '\0')
        return -1;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min)
        return -1;
    *out = v;
    return 0;
}

/* Stores one option value; returns 0 or -1 with *what naming the expected form. */
static int store_value(const tia_cli_opt *o, const char *val, const char **what)
{
    switch (o->kind) {
    case TIA_OPT_STR: *(const char **)o->out = val; return 0;
    case TIA_OPT_MULTI: {
        tia_cli_strv *v = o->out;
        const char **grown = realloc(v->v, (v->n + 1) * sizeof *grown);
        if (grown == NULL) {
            *what = "memory for it";
            return -1;
        }
        v->v = grown;
        v->v[v->n++] = val;
        return 0;
    }
    case TIA_OPT_INT: *what = "a non-negative integer"; return parse_i64(val, 0, o->out);
    case TIA_OPT_POSINT: *what = "a positive integer"; return parse_i64(val, 1, o->out);
    case TIA_OPT_DOUBLE: {
        *what = "a number";
        char *end = NULL;
        errno = 0;
        double d = strtod(val, &end);
        if (*val == '\0' || *end != '\0' || errno == ERANGE)
            return -1;
        *(double *)o->out = d;
        return 0;
    }
    case TIA_OPT_DURATION:
        *what = "a duration such as 90s, 30m, 24h, 7d or 1h30m";
        return tia_duration_parse(val, o->out) == 0 ? 0 : -1;
    case TIA_OPT_TIME:
        *what = "an ISO-8601 time such as 2026-01-31T12:00:00Z";
        return tia_time_parse(val, o->out) == 0 ? 0 : -1;
    case TIA_OPT_COST:
        *what = "a dollar amount such as 0.015 (at most 6 decimals)";
        return tia_cost_parse(val, o->out) == 0 ? 0 : -1;
    case TIA_OPT_AGENT_STATUS:
        *what = "one of active, inactive, maintenance";
        return tia_agent_status_parse(val, o->out) == 0 ? 0 : -1;
    case TIA_OPT_RUN_STATUS:
        *what = "one of pending, running, completed, failed, cancelled";
        return tia_run_status_parse(val, o->out) == 0 ? 0 : -1;
    case TIA_OPT_BUCKET:
        *what = "one of minute, hour, day";
        return tia_bucket_parse(val, o->out) == 0 ? 0 : -1;
    case TIA_OPT_FLAG: *what = "given without a value"; return -1; /* parse_option's */
    }
    return -1;
}

int tia_cli_convert(const char *command, const char *what, tia_cli_kind kind, const char *text,
                    void *out)
{
    tia_cli_opt o = {what, kind, out, 0, NULL, NULL, NULL};
    const char *expected = "a value";
    if (store_value(&o, text, &expected) != 0)
        return tia_cli_usage_error(command, "%s: '%s' is not %s", what, text, expected);
    return -1;
}

static const tia_cli_opt *find_opt(const tia_cli_parse_spec *spec, const char *name, size_t len,
                                   size_t *idx)
{
    for (size_t i = 0; i < spec->n_opts; i++)
        if (strlen(spec->opts[i].name) == len && strncmp(spec->opts[i].name, name, len) == 0) {
            *idx = i;
            return &spec->opts[i];
        }
    return NULL;
}

/*
 * Whether --help or -h stands where an option may: not as the value of the option
 * before it (`--name -h` names an agent "-h") and not after "--". Looked for
 * before anything else, so that help is shown whatever the other arguments are.
 */
static int help_asked(const tia_cli_parse_spec *spec, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            return 0;
        if (is_help(a))
            return 1;
        size_t idx = 0;
        const tia_cli_opt *o =
            a[0] == '-' && strchr(a, '=') == NULL ? find_opt(spec, a, strlen(a), &idx) : NULL;
        if (o != NULL && o->kind != TIA_OPT_FLAG)
            i++; /* its value */
    }
    return 0;
}

/* Handles argv[*i], an option; advances *i past its value. */
static int parse_option(const tia_cli_parse_spec *spec, int argc, char **argv, int *i, int *seen)
{
    const char *a = argv[*i];
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    size_t idx = 0;
    const tia_cli_opt *o = find_opt(spec, a, len, &idx);
    if (o == NULL)
        return tia_cli_usage_error(spec->command, "unknown option '%.*s' for '%s'", (int)len, a,
                                   spec->command);
    if (seen[idx] && o->kind != TIA_OPT_MULTI)
        return tia_cli_usage_error(spec->command, "option %s given twice", o->name);
    if (o->kind == TIA_OPT_FLAG) {
        /* "--dry-run=no" must not run for real with the flag dropped. */
        if (eq != NULL)
            return tia_cli_usage_error(spec->command, "option %s takes no value", o->name);
        *(int *)o->out = 1;
        seen[idx] = 1;
        if (o->seen)
            *o->seen = 1;
        return -1;
    }
    const char *val = eq ? eq + 1 : NULL;
    if (val == NULL) {
        if (*i + 1 >= argc)
            return tia_cli_usage_error(spec->command, "option %s needs a value", o->name);
        val = argv[++*i];
    }
    const char *what = "a value";
    if (store_value(o, val, &what) != 0)
        return tia_cli_usage_error(spec->command, "option %s: '%s' is not %s", o->name, val, what);
    seen[idx] = 1;
    if (o->seen)
        *o->seen = 1;
    return -1;
}

static int check_done(const tia_cli_parse_spec *spec, const tia_cli_pos *pos, const int *seen)
{
    size_t want = count_words(spec->args);
    if (pos->n < want)
        return tia_cli_usage_error(spec->command, "missing argument (expected %s)", spec->args);
    for (size_t i = 0; i < spec->n_opts; i++)
        if (spec->opts[i].required && !seen[i])
            return tia_cli_usage_error(spec->command, "missing required option %s",
                                       spec->opts[i].name);
    for (size_t i = 0; i < pos->n; i++) {
        char name[32];
        int rc = spec->pos_out[i] == NULL
                     ? -1
                     : tia_cli_convert(spec->command, word(spec->args, i, name, sizeof name),
                                       spec->pos_kind[i], pos->v[i], spec->pos_out[i]);
        if (rc >= 0)
            return rc;
    }
    return -1;
}

int tia_cli_parse(const tia_cli_parse_spec *spec, int argc, char **argv, tia_cli_pos *pos)
{
    int seen[MAX_OPTS] = {0};
    size_t want = count_words(spec->args);
    pos->n = 0;
    if (help_asked(spec, argc, argv)) {
        print_help(spec);
        return TIA_EXIT_OK;
    }
    if (spec->n_opts > MAX_OPTS)
        return tia_cli_usage_error(spec->command, "too many options declared");
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
        } else if (!only_pos && a[0] == '-' && a[1] != '\0') {
            int rc = parse_option(spec, argc, argv, &i, seen);
            if (rc >= 0)
                return rc;
        } else if (pos->n >= want || pos->n >= sizeof pos->v / sizeof pos->v[0]) {
            return tia_cli_usage_error(spec->command, "unexpected argument '%s'", a);
        } else {
            pos->v[pos->n++] = argv[i];
        }
    }
    return check_done(spec, pos, seen);
}

static void print_group_help(const char *group, const char *summary, const tia_cli_cmd *cmds,
                             size_t n, const char *dflt)
{
    printf("Usage: tokyoia %s <command> [options]\n\n%s\n\nCommands:\n", group, summary);
    for (size_t i = 0; i < n; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", cmds[i].name, *cmds[i].args ? " " : "", cmds[i].args);
        printf("  %-18s %s%s\n", left, cmds[i].summary,
               dflt && strcmp(dflt, cmds[i].name) == 0 ? " (the default)" : "");
    }
    printf("\nRun 'tokyoia %s <command> --help' for a command's options.\n", group);
}

int tia_cli_dispatch(const char *group, const char *summary, const tia_cli_cmd *cmds, size_t n,
                     const char *dflt, int argc, char **argv, const tia_cli_opts *opts)
{
    if (argc >= 2 && is_help(argv[1])) {
        print_group_help(group, summary, cmds, n, dflt);
        return TIA_EXIT_OK;
    }
    /* No subcommand, or options straight after the group: the default one. */
    const char *name = argc >= 2 && argv[1][0] != '-' ? argv[1] : dflt;
    if (name == NULL)
        return tia_cli_usage_error(group, "'%s' needs a command", group);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cmds[i].name, name) != 0)
            continue;
        if (name == dflt && (argc < 2 || argv[1][0] == '-')) {
            argv[0] = (char *)cmds[i].name; /* argv[1..] are the default's options */
            return cmds[i].run(argc, argv, opts);
        }
        return cmds[i].run(argc - 1, argv + 1, opts);
    }
    return tia_cli_usage_error(group, "unknown command '%s %s'", group, name);
}

