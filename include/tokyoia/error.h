/*
 * Errors of libtokyoia. Every function that can fail returns 0 or one of the
 * negative TIA_E* codes below, and fills a caller-supplied tia_error (which may be
 * NULL) with a human-readable message. Messages are copied at once, so a tia_error
 * owns no memory and never needs freeing.
 */
#ifndef TOKYOIA_ERROR_H
#define TOKYOIA_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    TIA_OK = 0,
    TIA_EINVAL = -1,    /* bad input: refused before or by the database */
    TIA_ENOTFOUND = -2, /* the named row, or a row it references, does not exist */
    TIA_ECONFLICT = -3, /* duplicate key, illegal transition, changed concurrently */
    TIA_ENOMEM = -4,    /* out of memory */
    TIA_EDB = -5,       /* any other database error */
    TIA_EIO = -6,       /* file or system call failed */
    TIA_ECHECKSUM = -7, /* an applied migration's text has changed */
    TIA_EAUTH = -8,     /* unknown, expired or revoked session */
    TIA_EUNAVAIL = -9,  /* database unreachable */
    TIA_EBUSY = -10,    /* database locked past the busy timeout */
    TIA_ESCHEMA = -11,  /* database not initialised or newer than this binary */
    TIA_EFULL = -12     /* the database's disk (or size limit) is full */
};

#define TIA_ERROR_MSG_MAX 512

typedef struct tia_error {
    int code;                        /* last code set, 0 when none */
    char message[TIA_ERROR_MSG_MAX]; /* NUL-terminated, "" when none */
} tia_error;

/* Static name of a code ("invalid input", ...); never NULL. */
const char *tia_strerror(int code);

/* Clears err (NULL is accepted). */
void tia_error_clear(tia_error *err);

/*
 * Sets err->code and formats err->message (truncated to fit); returns code so
 * that callers can write `return tia_error_set(err, TIA_EINVAL, "...")`.
 * err may be NULL.
 */
int tia_error_set(tia_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
