/*
 * The Registry API test fixture and HTTP client (see api_test.h).
 */
#include "api_test.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

void tia_api_start(tia_api_fixture *f, const tia_server_config *cfg)
{
    static const char *const admins[] = {"tester"};
    tia_server_config c = {0};
    tia_error err = {0};
    memset(f, 0, sizeof *f);
    if (cfg)
        c = *cfg;
    f->store = tia_test_open();
    c.db_url = tia_test_url(f->store);
    c.listen_host = "127.0.0.1";
    c.port = 0;
    c.admin_users = admins;
    c.n_admin_users = 1;
    if (c.db_pool == 0)
        c.db_pool = 2;
    if (c.threads == 0)
        c.threads = 2;
    tia_session_new sn = {"tester", NULL, "127.0.0.1", 0};
    TIA_OK_OR_FAIL(tia_session_create(f->store, &sn, f->token, NULL, &err), &err);
    TIA_OK_OR_FAIL(tia_server_start(&c, &f->srv, &err), &err);
    f->port = tia_server_port(f->srv);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", f->port);
}

void tia_api_stop(tia_api_fixture *f)
{
    int left = tia_server_shutdown(f->srv);
    f->srv = NULL;
    tia_test_close(f->store);
    f->store = NULL;
    if (left != 0)
        fail_msg("%d request(s) still in flight at shutdown", left);
}

size_t tia_http_buf_append(char *ptr, size_t size, size_t nmemb, void *ud)
{
    tia_http_buf *b = ud;
    size_t n = size * nmemb;
    char *p = realloc(b->p, b->n + n + 1);
    if (p == NULL)
        return 0;
    memcpy(p + b->n, ptr, n);
    b->p = p;
    b->n += n;
    p[b->n] = '\0';
    return n;
}

void tia_http(tia_api_fixture *f, const char *method, const char *path, const char *body,
              const tia_http_opts *o, tia_http_resp *r)
{
    static const tia_http_opts none = {0};
    char url[2048], line[256];
    tia_http_buf b = {0}, h = {0};
    struct curl_slist *hdrs = NULL;
    if (o == NULL)
        o = &none;
    memset(r, 0, sizeof *r);
    snprintf(url, sizeof url, "%s%s", f->base, path);
    CURL *cu = curl_easy_init();
    assert_non_null(cu);
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(cu, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(cu, CURLOPT_NOBODY, 1L);
    /* 30 s; scripts/valgrind-tests.sh sets more: a 10,000-task workflow takes longer there. */
    const char *limit = getenv("TIA_TEST_HTTP_TIMEOUT_S");
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, limit ? atol(limit) : 30L);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, tia_http_buf_append);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, tia_http_buf_append);
    curl_easy_setopt(cu, CURLOPT_HEADERDATA, &h);
    const char *token = o->token ? o->token : f->token;
    if (token[0]) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (body) {
        size_t len = o->body_len ? o->body_len : strlen(body);
        curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        snprintf(line, sizeof line, "Content-Type: %s",
                 o->content_type ? o->content_type : "application/json");
        hdrs = curl_slist_append(hdrs, line);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    for (size_t i = 0; o->headers && o->headers[i]; i++)
        hdrs = curl_slist_append(hdrs, o->headers[i]);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdrs);
    CURLcode cc = curl_easy_perform(cu);
    if (cc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(cc));
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(cu);
    r->body = b.p ? b.p : strdup("");
    r->body_len = b.n;
    r->headers = h.p ? h.p : strdup("");
    r->json = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, NULL);
}

char *tia_http_header(const tia_http_resp *r, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = r->headers; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            return strndup(v, len - (size_t)(v - p));
        }
        p = eol ? eol + 2 : p + len;
    }
    return NULL;
}

void tia_http_resp_free(tia_http_resp *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

void tia_assert_api_error(const tia_http_resp *r, int status, const char *code)
{
    TIA_ASSERT_STATUS(r, status);
    json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
    const char *got = e ? tia_json_str(e, "code") : NULL;
    if (got == NULL || strcmp(got, code) != 0)
        fail_msg("error code %s, want %s; body: %s", got ? got : "(none)", code, r->body);
    if (tia_json_str(e, "message") == NULL)
        fail_msg("error without a message: %s", r->body);
}

const char *tia_json_str(const json_t *o, const char *key)
{
    json_t *v = o ? json_object_get(o, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int64_t tia_json_int(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("member %s is not an integer", key);
    return (int64_t)json_integer_value(v);
}

double tia_json_num(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        fail_msg("member %s is not a number", key);
    return json_number_value(v);
}

void tia_assert_member(const json_t *o, const char *key, const char *want)
{
    const char *got = tia_json_str(o, key);
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("%s is %s, want %s", key, got ? got : "(not a string)", want);
}

void tia_assert_near(double got, double want, const char *what)
{
    if (fabs(got - want) > 1e-6 * fmax(1.0, fabs(want)))
        fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

int tia_api_setup(void **state)
{
    tia_api_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tia_api_start(f, NULL);
    *state = f;
    return 0;
}

int tia_api_teardown(void **state)
{
    tia_api_fixture *f = *state;
    tia_api_stop(f);
    free(f);
    return 0;
}

json_t *tia_api_callf(tia_api_fixture *f, const char *method, const char *path, int want,
                      const char *fmt, ...)
{
    char body[16384];
    tia_http_resp r;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(body, sizeof body, fmt, ap);
        va_end(ap);
    }
    tia_http(f, method, path, fmt ? body : NULL, NULL, &r);
    if (r.status != want)
        fail_msg("%s %s %s: status %ld, want %d; body: %s", method, path, fmt ? body : "", r.status,
                 want, r.body);
    json_t *j = json_incref(r.json);
    tia_http_resp_free(&r);
    return j;
}

void tia_api_expect_error(tia_api_fixture *f, const char *method, const char *path,
                          const char *body, int status, const char *code)
{
    tia_http_resp r;
    tia_http(f, method, path, body, NULL, &r);
    if (r.status != status)
        fail_msg("%s %s %s: status %ld, want %d; body: %s", method, path, body ? body : "",
                 r.status, status, r.body);
    tia_assert_api_error(&r, status, code);
    tia_http_resp_free(&r);
}
