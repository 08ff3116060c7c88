/*
 * Test support for the Registry API: a real server (tia_server_start) on a
 * loopback port over a fresh database of the run's backend, and an HTTP client
 * on libcurl. Each fixture holds an admin session token ("tester") that requests
 * send unless told otherwise.
 */
#ifndef TIA_API_TEST_H
#define TIA_API_TEST_H

#include <jansson.h>

#include <tokyoia/server.h>
#include <tokyoia/sessions.h>
#include <tokyoia/store.h>

#include "tia_test.h"

typedef struct tia_api_fixture {
    tia_store *store;  /* a connection of the test's own to the server's database */
    tia_server *srv;
    int port;
    char base[64];     /* "http://127.0.0.1:PORT" */
    char token[TIA_TOKEN_BUF]; /* session of user "tester", an admin */
} tia_api_fixture;

/*
 * Starts a server over a fresh migrated database. cfg (may be NULL) gives the
 * settings; db_url, listen_host, port and admin users are set by the fixture
 * (admins: "tester"). Fails the test on error.
 */
void tia_api_start(tia_api_fixture *f, const tia_server_config *cfg);

/* Shuts the server down (asserting nothing was left in flight) and drops the database. */
void tia_api_stop(tia_api_fixture *f);

typedef struct tia_http_resp {
    long status;
    char *body;        /* NUL-terminated */
    size_t body_len;
    char *headers;     /* the raw response headers */
    json_t *json;      /* the body parsed, NULL when it is not JSON */
} tia_http_resp;

/* Request options: token NULL sends the fixture's token, "" sends none. */
typedef struct tia_http_opts {
    const char *token;
    const char *content_type;  /* NULL: application/json when there is a body */
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated */
    size_t body_len;           /* 0: strlen(body) */
} tia_http_opts;

/*
 * Sends method path (with query) and body (may be NULL) and waits for the whole
 * answer. Fails the test when the request cannot be made.
 */
void tia_http(tia_api_fixture *f, const char *method, const char *path, const char *body,
              const tia_http_opts *o, tia_http_resp *r);

/* A libcurl write callback (CURLOPT_WRITEFUNCTION) appending to a NUL-terminated buffer. */
typedef struct tia_http_buf {
    char *p; /* malloc'd */
    size_t n;
} tia_http_buf;
size_t tia_http_buf_append(char *ptr, size_t size, size_t nmemb, void *ud);

/* The value of response header name (case-insensitive), malloc'd; NULL when absent. */
char *tia_http_header(const tia_http_resp *r, const char *name);

void tia_http_resp_free(tia_http_resp *r);

/* Asserts the status, printing the body when it differs. */
#define TIA_ASSERT_STATUS(r, want)                                                          \
    do {                                                                                    \
        if ((r)->status != (want))                                                          \
            fail_msg("HTTP status %ld, want %d; body: %s", (r)->status, (int)(want),        \
                     (r)->body ? (r)->body : "");                                           \
    } while (0)

/* For /api/v1 errors: asserts status and error.code. */
void tia_assert_api_error(const tia_http_resp *r, int status, const char *code);

/* A string member of r->json (NULL when absent or not a string). */
const char *tia_json_str(const json_t *o, const char *key);

/* Members that must be there: fail the test otherwise. */
int64_t tia_json_int(const json_t *o, const char *key);
double tia_json_num(const json_t *o, const char *key);
/* Asserts o's string member key equals want. */
void tia_assert_member(const json_t *o, const char *key, const char *want);
/* Asserts |got - want| within 1e-6 relative (what names it in the message). */
void tia_assert_near(double got, double want, const char *what);

/* cmocka group setup/teardown: a heap fixture with the default configuration. */
int tia_api_setup(void **state);
int tia_api_teardown(void **state);

/*
 * Sends method path with a printf-formatted body (fmt NULL: none), asserts the
 * status, and returns the JSON answer (a new reference, NULL when not JSON).
 */
json_t *tia_api_callf(tia_api_fixture *f, const char *method, const char *path, int want,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Sends a request that must answer the /api/v1 error (status, code). */
void tia_api_expect_error(tia_api_fixture *f, const char *method, const char *path,
                          const char *body, int status, const char *code);

#endif
