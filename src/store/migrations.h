/*
 * The migrations embedded at build time (cmake/embed_migrations.cmake writes
 * migrations_data.c from db/migrations/{postgres,sqlite}/NNNN_name.sql).
 */
#ifndef TIA_STORE_MIGRATIONS_H
#define TIA_STORE_MIGRATIONS_H

#include <stddef.h>

typedef struct tia__migration {
    int version;
    const char *name; /* "initial_schema" */
    const char *sql;  /* the file's bytes, NUL-terminated */
    size_t len;
} tia__migration;

extern const tia__migration tia__migrations_postgres[];
extern const size_t tia__n_migrations_postgres;
extern const tia__migration tia__migrations_sqlite[];
extern const size_t tia__n_migrations_sqlite;

#endif
