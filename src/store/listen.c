/*
 * PostgreSQL LISTEN on a connection of its own (listen.h). Part of the
 * PostgreSQL backend: it reads the store's PGconn for its connection
 * parameters (PQconninfo gives the values in use, password included, after the
 * URL was expanded), so that the listener reaches the same database as the
 * store without the store keeping its URL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/backend.h"
#include "store/listen.h"

#define CHANNEL_MAX 63

struct tia__listener {
    PGconn *conn;
    char channel[CHANNEL_MAX + 1];
};

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static int channel_ok(const char *c)
{
    size_t n = c ? strlen(c) : 0;
    if (n == 0 || n > CHANNEL_MAX || (c[0] >= '0' && c[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= '0' && c[i] <= '9') || c[i] == '_'))
            return 0;
    return 1;
}

/* The connection's error text without its trailing newline. */
static void conn_message(PGconn *c, char *buf, size_t n)
{
    snprintf(buf, n, "%s", c ? PQerrorMessage(c) : "out of memory");
    size_t len = strlen(buf);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
        buf[--len] = '\0';
}

/* A new connection with the parameters s's connection uses. */
static PGconn *connect_like(PGconn *model)
{
    PQconninfoOption *opts = PQconninfo(model);
    PGconn *c = NULL;
    size_t n = 0, k = 0;
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        n++;
    const char **keys = calloc(n + 1, sizeof *keys), **vals = calloc(n + 1, sizeof *vals);
    if (opts != NULL && keys != NULL && vals != NULL) {
        for (PQconninfoOption *o = opts; o->keyword; o++)
            if (o->val != NULL) {
                keys[k] = o->keyword;
                vals[k++] = o->val;
            }
        c = PQconnectdbParams(keys, vals, 0);
    }
    free(keys);
    free(vals);
    PQconninfoFree(opts);
    return c;
}

/* Runs LISTEN on the listener's connection. */
static int run_listen(tia__listener *l, tia_error *err)
{
    char sql[CHANNEL_MAX + 16], msg[256];
    snprintf(sql, sizeof sql, "LISTEN \"%s\"", l->channel); /* checked by channel_ok */
    PGresult *res = PQexec(l->conn, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (ok)
        return 0;
    conn_message(l->conn, msg, sizeof msg);
    return tia_error_set(err, TIA_EUNAVAIL, "LISTEN %s: %s", l->channel, msg);
}

int tia__listen_open(tia_store *s, const char *channel, tia__listener **out, tia_error *err)
{
    int rc = 0;
    char msg[256];
    *out = NULL;
    if (tia_store_backend(s) != TIA_BACKEND_POSTGRES)
        return tia_error_set(err, TIA_EINVAL, "LISTEN needs a PostgreSQL store");
    if (!channel_ok(channel))
        return tia_error_set(err, TIA_EINVAL, "channel: '%.80s' is not a plain identifier",
                             channel ? channel : "");
    tia__listener *l = calloc(1, sizeof *l);
    if (l == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory opening a listener");
    snprintf(l->channel, sizeof l->channel, "%s", channel);
    l->conn = connect_like((PGconn *)s->conn);
    if (l->conn == NULL || PQstatus(l->conn) != CONNECTION_OK) {
        conn_message(l->conn, msg, sizeof msg);
        rc = tia_error_set(err, TIA_EUNAVAIL, "cannot open a LISTEN connection: %s", msg);
        goto done;
    }
    PQsetNoticeProcessor(l->conn, ignore_notice, NULL);
    if ((rc = run_listen(l, err)) != 0)
        goto done;
    *out = l;
    l = NULL;
done:
    tia__listen_close(l);
    return rc;
}

int tia__listen_fd(const tia__listener *l)
{
    return PQstatus(l->conn) == CONNECTION_OK ? PQsocket(l->conn) : -1;
}

/* After the connection broke: connect again and LISTEN again. */
static int reconnect(tia__listener *l, tia_error *err)
{
    char msg[256];
    PQreset(l->conn);
    if (PQstatus(l->conn) != CONNECTION_OK) {
        conn_message(l->conn, msg, sizeof msg);
        return tia_error_set(err, TIA_EUNAVAIL, "LISTEN connection lost: %s", msg);
    }
    return run_listen(l, err);
}

int tia__listen_drain(tia__listener *l, void (*fn)(void *ctx, const char *payload), void *ctx,
                      tia_error *err)
{
    int n = 0;
    if (PQstatus(l->conn) != CONNECTION_OK || PQconsumeInput(l->conn) == 0) {
        int rc = reconnect(l, err);
        if (rc != 0)
            return rc;
        fn(ctx, NULL); /* whatever was sent meanwhile is lost: look for yourself */
        return 1;
    }
    PGnotify *note;
    while ((note = PQnotifies(l->conn)) != NULL) {
        fn(ctx, note->extra);
        PQfreemem(note);
        n++;
    }
    return n;
}

void tia__listen_close(tia__listener *l)
{
    if (l == NULL)
        return;
    PQfinish(l->conn);
    free(l);
}
