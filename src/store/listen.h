/*
 * PostgreSQL LISTEN on a connection of its own: the receiving half of
 * NOTIFY, for whoever must wake when another session commits something (the
 * engine's idle workers, Server-Sent Events). A listener opens a second
 * connection to the database of an open store, with the same connection
 * parameters, because a store's connection is busy running statements and
 * notifications are only read from an idle one. The caller polls the
 * listener's socket (tia__listen_fd) with whatever else it waits on and calls
 * tia__listen_drain when it is readable. PostgreSQL only; the SQLite backend
 * has no notifications (see src/engine/notify.c for its in-process signals).
 */
#ifndef TIA_STORE_LISTEN_H
#define TIA_STORE_LISTEN_H

#include <tokyoia/store.h>

typedef struct tia__listener tia__listener;

/*
 * Connects to s's database (s must be a PostgreSQL store) and runs LISTEN on
 * channel (an SQL identifier of at most 63 bytes: [a-z_][a-z0-9_]*; it is
 * quoted, never taken from user input). TIA_EINVAL for a SQLite store or a bad
 * channel, TIA_EUNAVAIL when the connection fails.
 */
int tia__listen_open(tia_store *s, const char *channel, tia__listener **out, tia_error *err);

/* The socket to poll for POLLIN, or -1 when the connection is down. */
int tia__listen_fd(const tia__listener *l);

/*
 * Reads what arrived without blocking and calls fn(ctx, payload) for each
 * notification; returns how many there were, or a negative TIA_E* code. A
 * broken connection is re-established (and LISTEN run again) here; since
 * notifications sent meanwhile are lost, the call then returns 1 with a NULL
 * payload given to fn, so that the caller looks for itself.
 */
int tia__listen_drain(tia__listener *l, void (*fn)(void *ctx, const char *payload), void *ctx,
                      tia_error *err);

/* Closes the connection; NULL is accepted. */
void tia__listen_close(tia__listener *l);

#endif
