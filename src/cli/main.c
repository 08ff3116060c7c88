/*
 * The tokyoia command: takes the global options (--db, --read-url, --json...) out
 * of argv wherever they appear, then hands the rest to the command group named
 * first.
 * Exit codes are those of cli.h, listed by `tokyoia --help`.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#ifndef TIA_VERSION
#define TIA_VERSION "0.0.0-unknown"
#endif

typedef struct group {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv, const tia_cli_opts *opts);
} group;

static const group groups[] = {
    {"init", "create or open the database and apply migrations", tia_cli_init},
    {"migrate", "apply pending migrations; 'migrate status' lists them", tia_cli_migrate},
    {"agents", "list, show, add, update, set status of and delete agents", tia_cli_agents},
    {"workflows", "list, show, add, set status of, cancel and delete workflows", tia_cli_workflows},
    {"tasks", "list, show, add, retry and cancel tasks, move them through their states",
     tia_cli_tasks},
    {"run", "submit a workflow from a template; --follow shows it until it ends",
     tia_cli_run_template},
    {"serve", "serve the Registry API over HTTP (docs/api.md)", tia_cli_serve},
    {"worker", "run an agent's tasks with a command or an LLM endpoint", tia_cli_worker},
    {"prices", "list and set the models' prices per 1,000 tokens", tia_cli_prices},
    {"metrics", "record, list and query agent metrics", tia_cli_metrics},
    {"interactions", "record and list interactions between agents", tia_cli_interactions},
    {"sessions", "create, list, validate, revoke and expire user sessions", tia_cli_sessions},
    {"stats", "agent statistics, overall and over a time window", tia_cli_stats},
    {"demo", "migrate, then run a code_review workflow end to end with workers", tia_cli_demo},
    {"generate", "generate bench data", tia_cli_generate},
    {"backup", "write a consistent backup of the database to a file", tia_cli_backup},
    {"restore", "restore a backup into an empty database (--force: any)", tia_cli_restore},
    {"archive", "move old finished workflows out of the hot tables; 'archive show ID'",
     tia_cli_archive},
    {"maintain", "metric partitions, rollups and retention; expire and purge sessions",
     tia_cli_maintain},
};

static void print_help(void)
{
    printf("Usage: tokyoia [--db URL] [--read-url URL] [--json] <command> [options]\n\n"
           "Tokyo-IA agent orchestration: agents, workflows, tasks and their metrics in\n"
           "PostgreSQL or SQLite.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        printf("  %-13s %s\n", groups[i].name, groups[i].summary);
    printf("\nGlobal options (before or after the command):\n"
           "  --db URL      postgres://..., 'host=... dbname=...' or a SQLite file path\n"
           "                (default: $DATABASE_URL, else ./tokyoia.db)\n"
           "  --read-url URL\n"
           "                a PostgreSQL read replica for lists, statistics and series\n"
           "                (default: $DATABASE_READ_URL, else none; docs/operations.md)\n"
           "  --max-replica-lag DURATION\n"
           "                use the replica only while this close behind (default 10s)\n"
           "  --replica-retry DURATION\n"
           "                try a replica that is down again after this (default 30s)\n"
           "  --json        print one JSON document instead of a table\n"
           "  --help        show help (also after any command)\n"
           "  --version     print the version\n"
           "\nOutput: an aligned table on a terminal, tab-separated lines with a header\n"
           "otherwise. Errors: one line 'tokyoia: <message>' on stderr.\n"
           "\nExit codes:\n"
           "  %d  success\n"
           "  %d  other error\n"
           "  %d  usage: unknown command or option, missing or malformed argument\n"
           "  %d  invalid input refused (bad JSON, too long, not a finite number...)\n"
           "  %d  not found (agent, workflow, task, session...)\n"
           "  %d  conflict (duplicate id, illegal status transition, row in use)\n"
           "  %d  authentication: unknown, expired or revoked session token\n"
           "  %d  database unreachable or busy\n"
           "  %d  schema: not migrated, newer than this binary, or a migration changed\n"
           "\nRun 'tokyoia <command> --help' for a command's subcommands and options.\n",
           TIA_EXIT_OK, TIA_EXIT_ERROR, TIA_EXIT_USAGE, TIA_EXIT_INVALID, TIA_EXIT_NOTFOUND,
           TIA_EXIT_CONFLICT, TIA_EXIT_AUTH, TIA_EXIT_UNAVAIL, TIA_EXIT_SCHEMA);
}

/* The global options that take a value. */
static const char *const valued[] = {"--db", "--read-url", "--max-replica-lag", "--replica-retry"};
#define N_VALUED (sizeof valued / sizeof valued[0])

/* Stores the value of valued[k] into opts; -1, or an exit code for a bad value. */
static int set_global(size_t k, const char *v, tia_cli_opts *opts)
{
    /* An empty URL would fall back to $DATABASE_URL or ./tokyoia.db: the database
     * of an unset shell variable ("--db $URL") must not be another one. */
    if (k <= 1 && *v == '\0') {
        fprintf(stderr, "tokyoia: %s: the URL is empty (see 'tokyoia --help')\n", valued[k]);
        return TIA_EXIT_USAGE;
    }
    if (k == 0) {
        opts->db_url = v;
    } else if (k == 1) {
        opts->read_url = v;
    } else {
        int64_t us = 0;
        /* Whole milliseconds, at most a day: what the store's options hold. */
        if (tia_duration_parse(v, &us) != 0 || us < 1000 || us > (int64_t)86400 * 1000000) {
            fprintf(stderr,
                    "tokyoia: %s: '%s' is not a duration from 1ms to 1d such as 10s or 500ms "
                    "(see 'tokyoia --help')\n",
                    valued[k], v);
            return TIA_EXIT_USAGE;
        }
        *(k == 2 ? &opts->max_replica_lag : &opts->replica_retry) = us;
    }
    return -1;
}

/*
 * Removes the global options (--json, and --db, --read-url, --max-replica-lag,
 * --replica-retry with their values, as "--opt V" or "--opt=V") from argv up to
 * a "--", filling opts. Returns -1, or an exit code for a missing or bad value.
 */
static int take_globals(int *argc, char **argv, tia_cli_opts *opts)
{
    int out = 1, i = 1;
    for (; i < *argc && strcmp(argv[i], "--") != 0; i++) {
        size_t k = 0, len = 0;
        for (; k < N_VALUED; k++) {
            len = strlen(valued[k]);
            if (strncmp(argv[i], valued[k], len) == 0 &&
                (argv[i][len] == '\0' || argv[i][len] == '='))
                break;
        }
        if (strcmp(argv[i], "--json") == 0) {
            opts->json = 1;
        } else if (k < N_VALUED) {
            const char *v = argv[i][len] == '=' ? argv[i] + len + 1 : NULL;
            if (v == NULL && i + 1 >= *argc) {
                fprintf(stderr, "tokyoia: option %s needs a value (see 'tokyoia --help')\n",
                        valued[k]);
                return TIA_EXIT_USAGE;
            }
            if (v == NULL)
                v = argv[++i];
            int rc = set_global(k, v, opts);
            if (rc >= 0)
                return rc;
        } else {
            argv[out++] = argv[i];
        }
    }
    while (i < *argc)
        argv[out++] = argv[i++];
    argv[out] = NULL;
    *argc = out;
    return -1;
}

/*
 * The end of every command: its output must have reached stdout. A write that
 * failed (a full disk, a closed descriptor) may have failed at any earlier flush,
 * so the stream's error flag is asked as well as the last flush: a command whose
 * output was lost is not a success, and says so once.
 */
/*
 * Descriptors 0, 1 and 2 closed at start are opened on /dev/null, as for a
 * daemon: else the first file or socket opened takes one of them, and what the
 * command prints would go into the PostgreSQL connection (SQLite guards its own
 * files).
 */
static void guard_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        int got = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (got != fd && got >= 0)
            close(got); /* not the lowest free descriptor: leave it closed */
    }
}

static int finish(int rc)
{
    errno = 0;
    int flushed = fflush(stdout) == 0;
    int saved = errno;
    if (flushed && !ferror(stdout))
        return rc;
    fprintf(stderr, "tokyoia: cannot write the output%s%s\n", saved ? ": " : "",
            saved ? strerror(saved) : "");
    return rc == TIA_EXIT_OK ? TIA_EXIT_ERROR : rc;
}

static int run(int argc, char **argv)
{
    tia_cli_opts opts = {0};
    int rc = take_globals(&argc, argv, &opts);
    if (rc >= 0)
        return rc;
    if (argc < 2) {
        print_help();
        return TIA_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        print_help();
        return TIA_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("tokyoia %s\n", TIA_VERSION);
        return TIA_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if (strcmp(groups[i].name, cmd) == 0)
            return groups[i].run(argc - 1, argv + 1, &opts);
    fprintf(stderr, "tokyoia: unknown command '%s' (see 'tokyoia --help')\n", cmd);
    return TIA_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    guard_std_fds();
    return finish(run(argc, argv));
}
