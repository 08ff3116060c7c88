/*
 * What the CLI's command files share. Each command group is a function
 * tia_cli_<group>(argc, argv, opts) that returns the process exit code (see
 * `tokyoia --help`); argv[0] is the group's name. Groups describe their
 * subcommands and options as tables (tia_cli_cmd, tia_cli_opt) so that parsing,
 * usage errors and --help text come from one place (args.c); results are built as
 * jansson values and printed by output.c as an aligned table, tab-separated lines
 * or one JSON document.
 */
#ifndef TIA_CLI_H
#define TIA_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <tokyoia/error.h>
#include <tokyoia/store.h>

#include "json/encode.h"

typedef struct tia_cli_opts {
    const char *db_url; /* --db, or NULL for DATABASE_URL / ./tokyoia.db */
    int json;           /* --json */
    const char *read_url;      /* --read-url, or NULL for DATABASE_READ_URL / none */
    int64_t max_replica_lag;   /* --max-replica-lag in microseconds; 0: the default */
    int64_t replica_retry;     /* --replica-retry in microseconds; 0: the default */
} tia_cli_opts;

/* Exit codes, documented in `tokyoia --help`. */
enum {
    TIA_EXIT_OK = 0,
    TIA_EXIT_ERROR = 1,    /* anything not listed below */
    TIA_EXIT_USAGE = 2,    /* unknown command or option, missing argument */
    TIA_EXIT_INVALID = 3,  /* input refused (TIA_EINVAL) */
    TIA_EXIT_NOTFOUND = 4, /* TIA_ENOTFOUND */
    TIA_EXIT_CONFLICT = 5, /* TIA_ECONFLICT */
    TIA_EXIT_AUTH = 6,     /* TIA_EAUTH */
    TIA_EXIT_UNAVAIL = 7,  /* database unreachable or busy */
    TIA_EXIT_SCHEMA = 8    /* not migrated, newer schema, or checksum mismatch */
};

/* `tokyoia generate`: bench data (src/cli/generate.c). */
int tia_cli_generate(int argc, char **argv, const tia_cli_opts *opts);

/* ---- command groups (one file each) ---- */
int tia_cli_init(int argc, char **argv, const tia_cli_opts *opts);
int tia_cli_migrate(int argc, char **argv, const tia_cli_opts *opts);
int tia_cli_agents(int argc, char **argv, const tia_cli_opts *opts);
int tia_cli_workflows(int argc, char **argv, const tia_cli_opts *opts);
int tia_cli_tasks(int argc, char **argv, const tia_cli_opts *opts);
int tia_cli_metrics(int argc, char **argv, const tia_cli_opts *opts);
int tia_cli_interactions(int argc, char **argv, const tia_cli_opts *opts);
int tia_cli_sessions(int argc, char **argv, const tia_cli_opts *opts);
int tia_cli_stats(int argc, char **argv, const tia_cli_opts *opts);
int tia_cli_demo(int argc, char **argv, const tia_cli_opts *opts);
int tia_cli_worker(int argc, char **argv, const tia_cli_opts *opts);
int tia_cli_run_template(int argc, char **argv, const tia_cli_opts *opts); /* `run` */
int tia_cli_prices(int argc, char **argv, const tia_cli_opts *opts);
int tia_cli_serve(int argc, char **argv, const tia_cli_opts *opts);
int tia_cli_backup(int argc, char **argv, const tia_cli_opts *opts);  /* backup.c */
int tia_cli_archive(int argc, char **argv, const tia_cli_opts *opts); /* archive.c */
int tia_cli_maintain(int argc, char **argv, const tia_cli_opts *opts); /* maintain.c */
int tia_cli_restore(int argc, char **argv, const tia_cli_opts *opts); /* backup.c */

/* ---- tables ---- */

/* Columns of a table: JSON member names, shown as the header. */
typedef struct tia_cli_cols {
    size_t n;
    const char *const *names;
} tia_cli_cols;

#define TIA_CLI_N(arr) (sizeof(arr) / sizeof((arr)[0]))
#define TIA_CLI_COLS(arr) ((tia_cli_cols){TIA_CLI_N(arr), (arr)})

/* A nested array of objects printed as its own table after an object. */
typedef struct tia_cli_nested {
    const char *key;
    const tia_cli_cols *cols;
} tia_cli_nested;

/* ---- option parsing (args.c) ---- */

typedef enum tia_cli_kind {
    TIA_OPT_STR,          /* const char ** */
    TIA_OPT_MULTI,        /* tia_cli_strv *: the option may repeat */
    TIA_OPT_INT,          /* int64_t *, any integer >= 0 */
    TIA_OPT_POSINT,       /* int64_t *, an integer >= 1 */
    TIA_OPT_DOUBLE,       /* double * (nan and inf parse; the library refuses them) */
    TIA_OPT_DURATION,     /* int64_t * microseconds ("24h", "90s", ...) */
    TIA_OPT_TIME,         /* tia_time_us *, ISO-8601 ("2026-01-31T12:00:00Z") */
    TIA_OPT_COST,         /* int64_t * micro-dollars ("0.015") */
    TIA_OPT_AGENT_STATUS, /* tia_agent_status * */
    TIA_OPT_RUN_STATUS,   /* tia_run_status * */
    TIA_OPT_BUCKET,       /* tia_bucket * */
    TIA_OPT_FLAG          /* int *, set to 1 when given; takes no value (no metavar) */
} tia_cli_kind;

typedef struct tia_cli_strv {
    size_t n;
    const char **v; /* malloc'd array of borrowed argv strings */
} tia_cli_strv;

/* One option of a subcommand; `seen` (may be NULL) is set to 1 when given. */
typedef struct tia_cli_opt {
    const char *name; /* "--agent" */
    tia_cli_kind kind;
    void *out;
    int required;
    const char *metavar; /* "A" in "--agent A" */
    const char *help;
    int *seen;
} tia_cli_opt;

/* A subcommand: `tokyoia <group> <name> <args> [options]`. */
typedef struct tia_cli_cmd {
    const char *name;    /* "list" */
    const char *args;    /* positional arguments, space-separated ("ID STATUS"), or "" */
    const char *summary; /* one line */
    int (*run)(int argc, char **argv, const tia_cli_opts *opts);
} tia_cli_cmd;

/* The parser's state for one subcommand invocation. */
typedef struct tia_cli_parse_spec {
    const char *command; /* "agents add" */
    const char *args;    /* positional names, as in tia_cli_cmd */
    const char *summary;
    const tia_cli_opt *opts;
    size_t n_opts;
    /* Typed positionals: when pos_out[i] is set, argument i is converted to it. */
    tia_cli_kind pos_kind[4];
    void *pos_out[4];
} tia_cli_parse_spec;

/* Positional arguments of a parsed subcommand. */
typedef struct tia_cli_pos {
    size_t n;
    char *v[4];
} tia_cli_pos;

/*
 * Parses argv[1..] (argv[0] is the subcommand name) against spec: options as
 * "--name value" or "--name=value", positionals exactly as many as spec->args
 * names. Returns -1 when parsing succeeded, otherwise the exit code to return:
 * 0 after printing --help, TIA_EXIT_USAGE after a one-line error with a hint.
 * Free the MULTI vectors with tia_cli_strv_free even on error.
 */
int tia_cli_parse(const tia_cli_parse_spec *spec, int argc, char **argv, tia_cli_pos *pos);

void tia_cli_strv_free(tia_cli_strv *v);

/*
 * Converts text as an option of `kind` would be (positional STATUS arguments):
 * -1 when done, else TIA_EXIT_USAGE after an error naming `what`.
 */
int tia_cli_convert(const char *command, const char *what, tia_cli_kind kind, const char *text,
                    void *out);

/*
 * Runs the subcommand of a group named by argv[1]; with no subcommand runs
 * `dflt` (NULL: print the group's help and fail with usage). --help lists them.
 */
int tia_cli_dispatch(const char *group, const char *summary, const tia_cli_cmd *cmds, size_t n,
                     const char *dflt, int argc, char **argv, const tia_cli_opts *opts);

/* Prints "tokyoia: <message> (see 'tokyoia <command> --help')" and returns 2. */
int tia_cli_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- store and errors (common.c) ---- */

/* Maps a TIA_E* code to an exit code. */
int tia_cli_exit_code(int rc);

/* Prints "tokyoia: <message>" for a failed library call and returns its exit code. */
int tia_cli_fail(int rc, const tia_error *err);

/*
 * "HOST:PORT", "[V6]:PORT", "HOST" or ":PORT" into host (an empty host is
 * 0.0.0.0) and *port (left as it is when the text names none): 0, or -1 when
 * malformed (serve --listen, demo --serve).
 */
int tia_cli_parse_listen(const char *text, char *host, size_t host_len, int *port);

/* $PORT into *port when set and not empty: 0, or -1 when it is not 0..65535. */
int tia_cli_port_from_env(int *port);

/* How tia_cli_open takes the database. */
enum {
    TIA_CLI_CREATE =
        0, /* any schema; a missing SQLite file is created (init, migrate, demo, restore) */
    TIA_CLI_MIGRATED = 1, /* every migration applied unchanged; a missing SQLite file is exit 8 */
    TIA_CLI_EXISTING = 2  /* any schema; a missing SQLite file is exit 4 (backup) */
};

/*
 * Opens the database of opts as mode says (TIA_CLI_*). Only TIA_CLI_CREATE makes
 * a SQLite file, so a refused command leaves none behind and never removes one
 * (another process may be creating it). Returns 0 or the exit code (message
 * printed).
 */
int tia_cli_open(const tia_cli_opts *opts, int mode, tia_store **out);

/* What a command produces, printed by tia_cli_run. */
typedef struct tia_cli_result {
    json_t *value;                /* an array (a list) or an object */
    tia_cli_cols cols;            /* columns of a list */
    const tia_cli_nested *nested; /* tables after an object */
    size_t n_nested;
    char message[256];                /* without --json, printed instead of value if set */
    char next_cursor[TIA_CURSOR_BUF]; /* a list's next page, said on stderr if set */
} tia_cli_result;

/* The work of a command on an open store; returns 0 or a TIA_E* code. */
typedef int (*tia_cli_body)(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err);

/*
 * Parses argv with spec into pos (the body's ctx holds the option values), opens
 * the migrated database, runs body and prints its result or its error. Returns
 * the exit code.
 */
int tia_cli_run(const tia_cli_parse_spec *spec, int argc, char **argv, tia_cli_pos *pos,
                const tia_cli_opts *opts, tia_cli_body body, void *ctx);

/* ---- migrations (migrate.c) ---- */

/* Applies pending migrations; *applied gets a JSON array of {version, name}. */
int tia_cli_apply_migrations(tia_store *s, json_t **applied, tia_error *err);

/* Says what tia_cli_apply_migrations applied (a line each, or "up to date"). */
void tia_cli_say_applied(const tia_cli_opts *opts, tia_store *s, const json_t *applied);

/* ---- output (output.c) ---- */

/*
 * Prints a list (a JSON array of objects): the array as JSON with --json, else the
 * given columns as an aligned table on a terminal or tab-separated lines with a
 * header. Steals `arr`. Returns 0 or an exit code.
 */
int tia_cli_print_list(const tia_cli_opts *opts, json_t *arr, tia_cli_cols cols);

/*
 * Prints one object: as JSON with --json, else "field value" lines for its scalar
 * members, followed by a table for each `nested` array member. Steals `obj`.
 */
int tia_cli_print_object(const tia_cli_opts *opts, json_t *obj, const tia_cli_nested *nested,
                         size_t n_nested);

/* Prints a plain message line on stdout (never in --json mode). */
void tia_cli_say(const tia_cli_opts *opts, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Display width of UTF-8 text in terminal columns (wide characters count 2). */
size_t tia_cli_display_width(const char *s);

/* ---- entity conversions shared between groups ---- */
extern const tia_cli_cols tia_cli_task_cols;
extern const tia_cli_cols tia_cli_interaction_cols;

/*
 * A workflow with its "tasks" and "interactions" as one JSON object (workflows
 * show, demo); print it with tia_cli_workflow_nested. Returns a TIA_E* code.
 */
int tia_cli_workflow_build(tia_store *s, const char *id, json_t **out, tia_error *err);
extern const tia_cli_nested tia_cli_workflow_nested[2];

/* agent_stats of every agent with its stats over window_us (stats, demo). */
int tia_cli_stats_build(tia_store *s, int64_t window_us, json_t **out, tia_error *err);
extern const tia_cli_cols tia_cli_stats_cols;

/*
 * Follows a workflow until it ends (run --follow, demo): unless --json, a
 * progress bar redrawn in place on a terminal, else a line per task that moves
 * and per handoff. timeout_us 0 waits for ever; past it, returns with the
 * workflow still running. *summary (may be NULL) gets {workflow_id, name,
 * status, total_tasks, completed_tasks, failed_tasks, total_tokens_used,
 * total_cost_usd, duration_ms} as last seen. Returns a TIA_E* code.
 */
int tia_cli_follow(tia_store *s, const tia_cli_opts *opts, const char *workflow_id,
                   int64_t timeout_us, json_t **summary, tia_error *err);

/* Out of memory in the CLI itself: message and exit code 1. */
int tia_cli_oom(void);

#endif
