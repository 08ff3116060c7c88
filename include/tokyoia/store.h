/*
 * Opening a tokyoia database and managing its schema. One interface, two
 * backends: PostgreSQL through libpq (production) and SQLite (embedded default).
 * A tia_store is one connection and must be used by one thread at a time; open one
 * store per thread.
 */
#ifndef TOKYOIA_STORE_H
#define TOKYOIA_STORE_H

#include <tokyoia/error.h>
#include <tokyoia/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tia_backend { TIA_BACKEND_SQLITE = 0, TIA_BACKEND_POSTGRES } tia_backend;

typedef struct tia_store_options {
    int busy_timeout_ms; /* SQLite: wait this long for a lock (default 5000) */
    int connect_timeout_s; /* PostgreSQL: libpq connect_timeout (default 10) */
} tia_store_options;

/*
 * Chooses the database: url if not NULL or empty, else $DATABASE_URL if set and
 * not empty, else "./tokyoia.db". Never NULL; the result points into url or the
 * environment or a static string.
 */
const char *tia_store_default_url(const char *url);

/*
 * Opens a database. "postgres://...", "postgresql://..." and libpq key=value
 * strings ("host=... dbname=...") go to PostgreSQL; "sqlite:PATH" or any other
 * text is a SQLite file path (created if missing; WAL, foreign keys on, busy
 * timeout). url NULL means tia_store_default_url(NULL). opts may be NULL.
 * On success *out owns the connection (close with tia_store_close).
 * Errors: TIA_EUNAVAIL (cannot connect or open), TIA_ENOMEM, TIA_EINVAL.
 * Opening does not migrate: call tia_store_migrate.
 */
int tia_store_open(const char *url, const tia_store_options *opts, tia_store **out, tia_error *err);

/* Closes and frees; NULL is accepted. */
void tia_store_close(tia_store *s);

tia_backend tia_store_backend(const tia_store *s);

/* "postgresql" or "sqlite". */
const char *tia_backend_name(tia_backend b);

/*
 * Applies every embedded migration not yet applied, each in its own transaction,
 * recording it in schema_migrations with the SHA-256 of its text. Refuses with
 * TIA_ECHECKSUM, applying nothing, when an applied migration's text differs from
 * the embedded one, and with TIA_ESCHEMA when the database has a migration this
 * binary does not know. *applied (may be NULL) receives the number applied.
 */
int tia_store_migrate(tia_store *s, int *applied, tia_error *err);

typedef struct tia_migration_status {
    int version;
    char name[64];
    int applied;              /* 1 when recorded in schema_migrations */
    int changed;              /* 1 when applied with a different checksum */
    int unknown;              /* 1 when recorded but not embedded in this binary */
    tia_time_us applied_at;   /* TIA_TIME_NONE when not applied */
    char checksum[65];        /* of the embedded text (of the recorded one if unknown) */
} tia_migration_status;

/*
 * Lists every embedded migration, and any unknown recorded one, by version.
 * *items is malloc'd (free with free()); *n its length.
 */
int tia_store_migration_status(tia_store *s, tia_migration_status **items, size_t *n,
                               tia_error *err);

#ifdef __cplusplus
}
#endif
#endif
