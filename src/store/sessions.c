/*
 * The user_sessions table. A token is "tia_" and 64 hex characters of 32 random
 * bytes; it is handed to the caller once, at creation, and the database keeps
 * only its SHA-256 (migration 0003 refuses anything else), so a copy of the
 * database cannot be replayed as credentials. Validation refuses a malformed
 * token before touching the database, looks the hash up and compares it again in
 * constant time. Expiry is judged by the database's clock, the same clock that
 * stamped started_at, so a skewed client clock cannot extend a session. Records
 * handed out never carry the token or its hash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokyoia/sessions.h>

#include "core/crypto.h"
#include "core/validate.h"
#include "core/vec.h"
#include "store/db.h"

#define TOKEN_PREFIX "tia_"
#define TOKEN_PREFIX_LEN 4
#define TOKEN_HEX_LEN 64
#define TOKEN_BYTES 32
/* A bound on ttl_us that keeps now + ttl far from overflowing any timestamp type. */
#define TTL_MAX_US (INT64_C(100) * 366 * 86400 * 1000000)

/* clang-format off: SQL reads best laid out by hand. */
/*
 * The reads of sessions are binary statements (pg.c): the times come as
 * timestamptz, not through numeric arithmetic, and abbrev() gives the address
 * as inet's own output does. The token check runs on every authenticated
 * request, and the numeric arithmetic was about a quarter of its execution.
 */
#define PG_COLS                                                                                    \
    "id, user_id, device_info, abbrev(ip_address), started_at, last_activity_at, expires_at, "     \
    "status"
#define LITE_COLS                                                                                  \
    "id, user_id, device_info, ip_address, started_at, last_activity_at, expires_at, status"
/* 1 when an active session's time is up, by the database's clock. */
#define PG_PAST "CASE WHEN expires_at <= CURRENT_TIMESTAMP THEN 1 ELSE 0 END"
#define LITE_PAST "CASE WHEN expires_at <= " TIA_SQLITE_NOW " THEN 1 ELSE 0 END"

static const tia__sql sql_insert = {
    "session.insert",
    "INSERT INTO user_sessions (id, user_id, session_token, device_info, ip_address, "
    "started_at, last_activity_at, expires_at, status) VALUES ($1::uuid, $2, $3, $4::jsonb, "
    "$5::inet, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, "
    "CURRENT_TIMESTAMP + $6::int8 * interval '1 microsecond', 'active')",
    "INSERT INTO user_sessions (id, user_id, session_token, device_info, ip_address, "
    "started_at, last_activity_at, expires_at, status) "
    "SELECT ?1, ?2, ?3, ?4, ?5, n, n, n + ?6, 'active' FROM (SELECT " TIA_SQLITE_NOW " AS n)",
};

static const tia__sql sql_by_token = {
    "session.by_token",
    "SELECT " PG_COLS ", " PG_PAST ", session_token FROM user_sessions WHERE session_token = $1",
    "SELECT " LITE_COLS ", " LITE_PAST ", session_token FROM user_sessions "
    "WHERE session_token = ?1",
    .binary = 1,
};

/*
 * The token's session as a guard (tia__session_check_begin): its one row when
 * the session is usable, and an error (a division by zero, the plain way to fail
 * a statement on a condition) when it is unknown, revoked or past its expiry, so
 * that PostgreSQL skips the read sent behind it. The LEFT JOIN from one row
 * makes an unknown token a row of NULLs, which fails too. Guards run on
 * PostgreSQL only; the SQLite text is sql_by_token's, for completeness.
 */
static const tia__sql sql_guard = {
    "session.guard",
    "SELECT " PG_COLS ", " PG_PAST ", session_token, 1 / CASE WHEN status = 'active' AND "
    "(expires_at IS NULL OR expires_at > CURRENT_TIMESTAMP) THEN 1 ELSE 0 END "
    "FROM (SELECT 1) AS one LEFT JOIN user_sessions ON session_token = $1",
    "SELECT " LITE_COLS ", " LITE_PAST ", session_token FROM user_sessions "
    "WHERE session_token = ?1",
    .binary = 1,
};

static const tia__sql sql_get = {
    "session.get",
    "SELECT " PG_COLS ", " PG_PAST " FROM user_sessions WHERE id = $1::uuid",
    "SELECT " LITE_COLS ", " LITE_PAST " FROM user_sessions WHERE id = ?1",
    .binary = 1,
};

static const tia__sql sql_list = {
    "session.list",
    "SELECT " PG_COLS " FROM user_sessions WHERE ($1::text IS NULL OR user_id = $1::text) "
    "ORDER BY started_at DESC NULLS LAST, id DESC LIMIT $2::int8",
    "SELECT " LITE_COLS " FROM user_sessions WHERE (?1 IS NULL OR user_id = ?1) "
    "ORDER BY started_at DESC NULLS LAST, id DESC LIMIT ?2",
    .binary = 1,
};

static const tia__sql sql_mark_expired = {
    "session.mark_expired",
    "UPDATE user_sessions SET status = 'expired' WHERE id = $1::uuid AND status = 'active'",
    "UPDATE user_sessions SET status = 'expired' WHERE id = ?1 AND status = 'active'",
};

static const tia__sql sql_touch = {
    "session.touch",
    "UPDATE user_sessions SET last_activity_at = CURRENT_TIMESTAMP WHERE id = $1::uuid "
    "AND status = 'active' AND (expires_at IS NULL OR expires_at > CURRENT_TIMESTAMP)",
    "UPDATE user_sessions SET last_activity_at = " TIA_SQLITE_NOW " WHERE id = ?1 "
    "AND status = 'active' AND (expires_at IS NULL OR expires_at > " TIA_SQLITE_NOW ")",
    .keeps_reads = 1, /* bookkeeping: the request's reads may still go to a replica */
};

static const tia__sql sql_revoke = {
    "session.revoke",
    "UPDATE user_sessions SET status = 'revoked' WHERE id = $1::uuid AND status = 'active'",
    "UPDATE user_sessions SET status = 'revoked' WHERE id = ?1 AND status = 'active'",
};

static const tia__sql sql_expire = {
    "session.expire",
    "UPDATE user_sessions SET status = 'expired' WHERE status = 'active' "
    "AND expires_at <= CURRENT_TIMESTAMP",
    "UPDATE user_sessions SET status = 'expired' WHERE status = 'active' "
    "AND expires_at <= " TIA_SQLITE_NOW,
};
/* clang-format on */

void tia_session_free(tia_session *s)
{
    if (s == NULL)
        return;
    free(s->user_id);
    free(s->device_info);
    free(s->ip_address);
    free(s);
}

void tia_session_list_free(struct tia_session_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        tia_session_free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* Reads the first eight columns (PG_COLS / LITE_COLS) of the current row. */
static int read_session(tia__rows *r, tia_session **out, tia_error *err)
{
    int oom = 0, rc = 0;
    tia_session *s = calloc(1, sizeof *s);
    if (s == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory reading a session");
    snprintf(s->id, sizeof s->id, "%s", tia__col_text(r, 0) ? tia__col_text(r, 0) : "");
    s->user_id = tia__col_dup(r, 1, &oom);
    s->device_info = tia__col_dup(r, 2, &oom);
    s->ip_address = tia__col_dup(r, 3, &oom);
    s->started_at = tia__col_time(r, 4);
    s->last_activity_at = tia__col_time(r, 5);
    s->expires_at = tia__col_time(r, 6);
    if (oom)
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory reading a session");
    else if (tia_session_status_parse(tia__col_text(r, 7), &s->status) != 0)
        rc = tia_error_set(err, TIA_EDB, "session %s has an unknown status '%s'", s->id,
                           tia__col_text(r, 7) ? tia__col_text(r, 7) : "NULL");
    if (rc != 0) {
        tia_session_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/*
 * 0 when a session may be used; TIA_EAUTH saying why not otherwise. An active
 * session whose time is up is marked expired here, so that the table tells the
 * truth without waiting for tia_session_expire.
 */
static int refuse_unusable(tia_store *s, const tia_session *row, int past, tia_error *err)
{
    if (row->status == TIA_SESSION_REVOKED)
        return tia_error_set(err, TIA_EAUTH, "session revoked");
    if (row->status == TIA_SESSION_ACTIVE && past) {
        tia__param p = tia__p_text(row->id);
        int rc = tia__db_exec(s, &sql_mark_expired, &p, 1, NULL, err);
        if (rc != 0)
            return rc;
    } else if (row->status == TIA_SESSION_ACTIVE) {
        return 0;
    }
    return tia_error_set(err, TIA_EAUTH, "session expired");
}

/*
 * Runs a query that selects one session and its PAST flag by the parameter p;
 * *out is NULL when there is no such row.
 */
static int fetch_one(tia_store *s, const tia__sql *q, const char *p, tia_session **out, int *past,
                     tia_error *err)
{
    *out = NULL;
    tia__rows *r = NULL;
    tia__param prm = tia__p_text(p);
    int rc = tia__db_query(s, q, &prm, 1, &r, err);
    if (rc != 0)
        return rc;
    if ((rc = tia__rows_next(r, err)) <= 0)
        goto done;
    *past = (int)tia__col_int(r, 8);
    /* A stored hash equal to the one asked for, compared in constant time. */
    if (q == &sql_by_token) {
        const char *stored = tia__col_text(r, 9);
        if (stored == NULL || strlen(stored) != TOKEN_HEX_LEN ||
            !tia__ct_equal(stored, p, TOKEN_HEX_LEN)) {
            rc = 0;
            goto done;
        }
    }
    rc = read_session(r, out, err);
done:
    tia__rows_free(r);
    return rc < 0 ? rc : 0;
}

static int check_id(const char *id, char out[TIA_UUID_BUF], tia_error *err)
{
    return tia__check_uuid(err, "session id", id, 1, out);
}

static int check_new(const tia_session_new *n, char ip[64], tia_error *err)
{
    int rc;
    if (n == NULL)
        return tia_error_set(err, TIA_EINVAL, "session is required");
    if ((rc = tia__check_text(err, "user_id", n->user_id, TIA_USER_ID_MAX, 1)) != 0 ||
        (rc = tia__check_json(err, "device_info", n->device_info, 0)) != 0 ||
        (rc = tia__check_range(err, "ttl_us", n->ttl_us, TTL_MAX_US)) != 0)
        return rc;
    if (n->ip_address != NULL && (rc = tia__check_inet(err, "ip_address", n->ip_address, ip)) != 0)
        return rc;
    return 0;
}

static void hex_encode(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 0xf];
    }
    out[2 * n] = '\0';
}

int tia_session_create(tia_store *s, const tia_session_new *n, char token_out[TIA_TOKEN_BUF],
                       char id_out[TIA_UUID_BUF], tia_error *err)
{
    char ip[64], id[TIA_UUID_BUF], token[TIA_TOKEN_BUF], hash[65];
    unsigned char raw[TOKEN_BYTES];
    int rc = check_new(n, ip, err);
    if (rc != 0)
        return rc;
    memcpy(token, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
    if (tia__random_bytes(raw, sizeof raw) != 0)
        return tia_error_set(err, TIA_EIO, "cannot draw random bytes for a session token");
    hex_encode(raw, sizeof raw, token + TOKEN_PREFIX_LEN);
    if (tia__sha256_hex(token, strlen(token), hash) != 0)
        return tia_error_set(err, TIA_EIO, "cannot hash a session token");
    tia__store_uuid7(s, id);
    tia__param p[6] = {tia__p_text(id),
                       tia__p_text(n->user_id),
                       tia__p_text(hash),
                       tia__p_text(n->device_info),
                       tia__p_text(n->ip_address ? ip : NULL),
                       n->ttl_us > 0 ? tia__p_int(n->ttl_us) : tia__p_null()};
    if ((rc = tia__db_exec(s, &sql_insert, p, 6, NULL, err)) != 0)
        return rc;
    memcpy(token_out, token, TIA_TOKEN_BUF);
    if (id_out != NULL)
        memcpy(id_out, id, TIA_UUID_BUF);
    return 0;
}

/* "tia_" and exactly 64 lowercase hex characters. */
static int token_well_formed(const char *t)
{
    if (t == NULL || strncmp(t, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0)
        return 0;
    size_t i = TOKEN_PREFIX_LEN;
    for (; t[i] != '\0' && i < TOKEN_PREFIX_LEN + TOKEN_HEX_LEN; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
            return 0;
    return i == TOKEN_PREFIX_LEN + TOKEN_HEX_LEN && t[i] == '\0';
}

int tia_session_validate(tia_store *s, const char *token, tia_session **out, tia_error *err)
{
    char hash[65];
    tia_session *row = NULL;
    int past = 0;
    if (out != NULL)
        *out = NULL;
    if (!token_well_formed(token))
        return tia_error_set(err, TIA_EAUTH, "malformed session token");
    if (tia__sha256_hex(token, strlen(token), hash) != 0)
        return tia_error_set(err, TIA_EIO, "cannot hash a session token");
    int rc = fetch_one(s, &sql_by_token, hash, &row, &past, err);
    if (rc == 0 && row == NULL)
        rc = tia_error_set(err, TIA_EAUTH, "unknown session");
    if (rc == 0)
        rc = refuse_unusable(s, row, past, err);
    if (rc == 0 && out != NULL) {
        *out = row;
        row = NULL;
    }
    tia_session_free(row);
    return rc;
}

int tia__session_check_begin(tia_store *s, const char *token, tia__session_check *chk,
                             tia_error *err)
{
    memset(chk, 0, sizeof *chk);
    chk->token = token;
    if (!token_well_formed(token))
        return tia_error_set(err, TIA_EAUTH, "malformed session token");
    if (tia__sha256_hex(token, strlen(token), chk->hash) != 0)
        return tia_error_set(err, TIA_EIO, "cannot hash a session token");
    chk->guard.q = &sql_guard;
    chk->guard.params[0] = tia__p_text(chk->hash);
    chk->guard.n = 1;
    tia_error ignored = {0};
    chk->queued = tia__db_guard(s, &chk->guard, &ignored) == 0;
    return 0;
}

int tia__session_check_end(tia_store *s, tia__session_check *chk, tia_session **out,
                           tia_error *err)
{
    tia_session *row = NULL;
    tia__rows *r = NULL;
    tia_error gerr = {0};
    int ok = 0;
    *out = NULL;
    if (!chk->queued)
        return tia_session_validate(s, chk->token, out, err);
    chk->queued = 0;
    if (tia__db_guard_finish(s, &chk->guard, &gerr) != 0)
        goto done;
    r = chk->guard.rows;
    chk->guard.rows = NULL;
    if (tia__rows_next(r, &gerr) <= 0 || tia__col_int(r, 8) != 0)
        goto done;
    /* The stored hash equal to the one asked for, compared in constant time, as fetch_one. */
    const char *stored = tia__col_text(r, 9);
    if (stored == NULL || strlen(stored) != TOKEN_HEX_LEN ||
        !tia__ct_equal(stored, chk->hash, TOKEN_HEX_LEN))
        goto done;
    if (read_session(r, &row, &gerr) != 0 || row->status != TIA_SESSION_ACTIVE)
        goto done;
    ok = 1;
done:
    tia__rows_free(r);
    if (ok) {
        *out = row;
        return 0;
    }
    tia_session_free(row);
    /* Not usable, or the check could not run: the full check says why (and marks expiry). */
    return tia_session_validate(s, chk->token, out, err);
}

/* The session by id, or TIA_ENOTFOUND naming it. */
static int load(tia_store *s, const char *id, tia_session **out, int *past, tia_error *err)
{
    int rc = fetch_one(s, &sql_get, id, out, past, err);
    if (rc == 0 && *out == NULL)
        rc = tia_error_set(err, TIA_ENOTFOUND, "session %s not found", id);
    return rc;
}

int tia_session_touch(tia_store *s, const char *id, tia_error *err)
{
    char uid[TIA_UUID_BUF];
    int64_t changed = 0;
    tia_session *row = NULL;
    int past = 0;
    int rc = check_id(id, uid, err);
    if (rc != 0)
        return rc;
    tia__param p = tia__p_text(uid);
    if ((rc = tia__db_exec(s, &sql_touch, &p, 1, &changed, err)) != 0 || changed > 0)
        return rc;
    /* Nothing touched: say why, the same way validate would. */
    if ((rc = load(s, uid, &row, &past, err)) == 0) {
        rc = refuse_unusable(s, row, past, err);
        if (rc == 0) /* it became usable between the two statements */
            rc = tia_error_set(err, TIA_ECONFLICT, "session %s changed concurrently", uid);
    }
    tia_session_free(row);
    return rc;
}

int tia_session_revoke(tia_store *s, const char *id, tia_error *err)
{
    char uid[TIA_UUID_BUF];
    int64_t changed = 0;
    tia_session *row = NULL;
    int past = 0;
    int rc = check_id(id, uid, err);
    if (rc != 0)
        return rc;
    tia__param p = tia__p_text(uid);
    if ((rc = tia__db_exec(s, &sql_revoke, &p, 1, &changed, err)) != 0 || changed > 0)
        return rc;
    if ((rc = load(s, uid, &row, &past, err)) == 0)
        rc = tia_error_set(err, TIA_ECONFLICT, "session %s is %s, not active", uid,
                           tia_session_status_name(row->status));
    tia_session_free(row);
    return rc;
}

int tia_session_expire(tia_store *s, int64_t *n, tia_error *err)
{
    int64_t changed = 0;
    int rc = tia__db_exec(s, &sql_expire, NULL, 0, &changed, err);
    if (n != NULL)
        *n = rc == 0 ? changed : 0;
    return rc;
}

int tia_session_get(tia_store *s, const char *id, tia_session **out, tia_error *err)
{
    char uid[TIA_UUID_BUF];
    int past = 0;
    *out = NULL;
    int rc = check_id(id, uid, err);
    if (rc != 0)
        return rc;
    return load(s, uid, out, &past, err);
}

int tia_session_list(tia_store *s, const char *user_id, struct tia_session_list *out,
                     tia_error *err)
{
    out->n = 0;
    out->items = NULL;
    struct tia_session_list l = {0, NULL};
    size_t cap = 0;
    tia__rows *r = NULL;
    int rc = tia__check_text(err, "user_id", user_id, TIA_USER_ID_MAX, 0);
    if (rc != 0)
        return rc;
    tia__param p[2] = {tia__p_text(user_id), tia__p_int(TIA_PAGE_MAX)};
    if ((rc = tia__db_query(s, &sql_list, p, 2, &r, err)) != 0)
        goto done;
    while ((rc = tia__rows_next(r, err)) > 0) {
        tia_session *row = NULL;
        if ((rc = read_session(r, &row, err)) != 0)
            goto done;
        if (tia__vec_push((void ***)&l.items, &l.n, &cap, row) != 0) {
            tia_session_free(row);
            rc = tia_error_set(err, TIA_ENOMEM, "out of memory listing sessions");
            goto done;
        }
    }
    if (rc == 0) {
        *out = l;
        l.items = NULL;
        l.n = 0;
    }
done:
    tia__rows_free(r);
    tia_session_list_free(&l);
    return rc;
}
