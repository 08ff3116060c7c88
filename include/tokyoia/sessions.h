/*
 * The user_sessions table. A session's token is returned once, at creation; the
 * database keeps only its SHA-256, and validation compares hashes in constant time.
 */
#ifndef TOKYOIA_SESSIONS_H
#define TOKYOIA_SESSIONS_H

#include <tokyoia/error.h>
#include <tokyoia/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A token is "tia_" and 64 hex characters (32 random bytes). */
#define TIA_TOKEN_BUF 69

typedef struct tia_session {
    char id[TIA_UUID_BUF];
    char *user_id;
    char *device_info; /* JSON text, NULL when NULL */
    char *ip_address;  /* canonical text, NULL when NULL */
    tia_time_us started_at;
    tia_time_us last_activity_at;
    tia_time_us expires_at; /* TIA_TIME_NONE: never */
    tia_session_status status;
} tia_session;

void tia_session_free(tia_session *s);

/*
 * A struct tag, not a typedef: tia_session_list is also the name of the function
 * below, and C puts typedef and function names in one namespace (as with struct
 * stat and stat()).
 */
struct tia_session_list {
    size_t n;
    tia_session **items;
};

void tia_session_list_free(struct tia_session_list *l);

typedef struct tia_session_new {
    const char *user_id;     /* required, <= 100 characters */
    const char *device_info; /* JSON, NULL for NULL */
    const char *ip_address;  /* IPv4 or IPv6, optional /prefix; NULL for NULL */
    int64_t ttl_us;          /* > 0; expires_at = now + ttl; 0: never expires */
} tia_session_new;

/*
 * Creates an active session. The token goes to token_out, the only time it is
 * ever available; id_out (may be NULL) receives the session id.
 */
int tia_session_create(tia_store *s, const tia_session_new *n, char token_out[TIA_TOKEN_BUF],
                       char id_out[TIA_UUID_BUF], tia_error *err);

/*
 * Checks a token: TIA_EAUTH when unknown, malformed, revoked or expired (an
 * expired active session is marked expired). On success *out (may be NULL)
 * receives the session; last_activity_at is not changed (see touch).
 */
int tia_session_validate(tia_store *s, const char *token, tia_session **out, tia_error *err);

/* Sets last_activity_at to now. TIA_ENOTFOUND; TIA_EAUTH when not active. */
int tia_session_touch(tia_store *s, const char *id, tia_error *err);

/* Revokes a session at once. TIA_ENOTFOUND; TIA_ECONFLICT when not active. */
int tia_session_revoke(tia_store *s, const char *id, tia_error *err);

/* Marks every active session past its expiry expired; *n (may be NULL) gets the count. */
int tia_session_expire(tia_store *s, int64_t *n, tia_error *err);

int tia_session_get(tia_store *s, const char *id, tia_session **out, tia_error *err);

/* Sessions of one user (NULL: all), newest first, at most TIA_PAGE_MAX. */
int tia_session_list(tia_store *s, const char *user_id, struct tia_session_list *out,
                     tia_error *err);

#ifdef __cplusplus
}
#endif
#endif
