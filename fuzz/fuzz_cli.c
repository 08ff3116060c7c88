/*
 * Fuzz target: the tokyoia command line run in-process (src/cli/main.c's main,
 * compiled as tia_fuzz_cli_main, see CMakeLists.txt) on a scratch SQLite
 * database. The input is argv after "tokyoia", one argument per line. The
 * first must name one of the groups below; the others are left out because
 * they serve, spawn workers, sleep, or read and write files named by their
 * arguments (serve, worker, demo, generate, backup, restore), and so are
 * --db (the database is always the scratch one), --templates (a directory to
 * read) and --follow (waits for a workflow to end). Whatever the arguments,
 * the command must return one of the documented exit codes without crashing,
 * leaking or tripping a sanitizer.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli_main.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define ARGS_MAX 48

static char db_path[512];

static const char *const groups[] = {"init",  "migrate", "agents",  "workflows",    "tasks",
                                     "run",   "prices",  "metrics", "interactions", "sessions",
                                     "stats", "help",    "--help",  "--version",    NULL};

static int allowed_group(const char *g)
{
    for (size_t i = 0; groups[i]; i++)
        if (strcmp(groups[i], g) == 0)
            return 1;
    return 0;
}

static int left_out(const char *a)
{
    return strncmp(a, "--db", 4) == 0 || strncmp(a, "--templates", 11) == 0 ||
           strncmp(a, "--follow", 8) == 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(db_path, sizeof db_path, "%s/cli.db", tia_fuzz_tmpdir());
    /* The commands print tables; the fuzzer needs none of it. */
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        close(fd);
    }
    char *init[] = {"tokyoia", "--db", db_path, "init", NULL};
    int rc = tia_fuzz_cli_main(4, init);
    TIA_FUZZ_CHECK(rc == TIA_EXIT_OK, "tokyoia init %s: exit %d", db_path, rc);
    /* An agent for the commands to find. */
    char *agent[] = {"tokyoia", "--db",   db_path,  "agents", "add",     "--id", "fuzz-001",
                     "--name",  "Fuzzer", "--role", "tester", "--model", "m",    NULL};
    rc = tia_fuzz_cli_main(13, agent);
    TIA_FUZZ_CHECK(rc == TIA_EXIT_OK, "tokyoia agents add: exit %d", rc);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = tia_fuzz_cstr(data, size);
    char *argv[ARGS_MAX + 4];
    int argc = 0;
    argv[argc++] = "tokyoia";
    argv[argc++] = "--db";
    argv[argc++] = db_path;
    int first = 1;
    for (char *p = text; p && argc < ARGS_MAX;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        if (first && !allowed_group(p))
            goto done;
        if (first || !left_out(p))
            argv[argc++] = p;
        first = 0;
        p = nl ? nl + 1 : NULL;
    }
    argv[argc] = NULL;
    int rc = tia_fuzz_cli_main(argc, argv);
    TIA_FUZZ_CHECK(rc >= TIA_EXIT_OK && rc <= TIA_EXIT_SCHEMA, "exit code %d", rc);
done:
    free(text);
    return 0;
}
