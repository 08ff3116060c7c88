/*
 * What the CLI's command files share. Each command group is a function
 * tia_cli_<group>(argc, argv, opts) that returns the process exit code (see
 * `tokyoia --help`); argv[0] is the group's name.
 */
#ifndef TIA_CLI_H
#define TIA_CLI_H

typedef struct tia_cli_opts {
    const char *db_url; /* --db, or NULL for DATABASE_URL / ./tokyoia.db */
    int json;           /* --json */
} tia_cli_opts;

/* Exit codes, documented in `tokyoia --help`. */
enum {
    TIA_EXIT_OK = 0,
    TIA_EXIT_ERROR = 1,     /* anything not listed below */
    TIA_EXIT_USAGE = 2,     /* unknown command or option, missing argument */
    TIA_EXIT_INVALID = 3,   /* input refused (TIA_EINVAL) */
    TIA_EXIT_NOTFOUND = 4,  /* TIA_ENOTFOUND */
    TIA_EXIT_CONFLICT = 5,  /* TIA_ECONFLICT */
    TIA_EXIT_AUTH = 6,      /* TIA_EAUTH */
    TIA_EXIT_UNAVAIL = 7,   /* database unreachable or busy */
    TIA_EXIT_SCHEMA = 8     /* not migrated, newer schema, or checksum mismatch */
};

/* `tokyoia generate`: bench data (src/cli/generate.c). */
int tia_cli_generate(int argc, char **argv, const tia_cli_opts *opts);

#endif
