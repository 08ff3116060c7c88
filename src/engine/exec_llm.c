/*
 * The LLM executor (tia_exec_llm in include/tokyoia/worker.h): one task is one
 * OpenAI-compatible chat completion. The agent's identity (name, role,
 * backstory, specialties) becomes the system message, the task the user
 * message. Which failures are retryable follows what retrying can change:
 * timeouts, connection errors, rate limits (429) and server errors (5xx) may
 * pass on a later attempt; any other 4xx (bad request, bad key, unknown model)
 * will not, so the task fails for good with the endpoint's own message.
 * libcurl runs without signals (CURLOPT_NOSIGNAL) because executors run in
 * threads, and its progress callback lets the worker stop a request.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include <tokyoia/worker.h>

#include "core/validate.h"

/* Largest response body read; more is refused as a retryable failure. */
#define RESPONSE_MAX (8 * 1024 * 1024)
#define CONNECT_TIMEOUT_MS 10000
#define EXCERPT_MAX 300

typedef struct response {
    FILE *f;
    char *p;
    size_t len;
    size_t got;
    int too_big;
} response;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void fail_msg(tia_exec_result *out, int retryable, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_msg(tia_exec_result *out, int retryable, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* The endpoint's words, cut to fit: a character cut in two would make the task's
     * error_message invalid UTF-8, which the engine refuses. */
    tia__utf8_repair(msg);
    out->ok = 0;
    out->retryable = retryable;
    free(out->error_message);
    out->error_message = strdup(msg);
}

/* ---- the request ---- */

static char *system_prompt(const tia_agent *a)
{
    char *p = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&p, &len);
    if (f == NULL)
        return NULL;
    if (a == NULL) {
        fputs("You are an AI agent of the Tokyo-IA orchestration system.", f);
    } else {
        fprintf(f, "You are %s, %s, an agent of the Tokyo-IA orchestration system.", a->name,
                a->role);
        if (a->backstory && *a->backstory)
            fprintf(f, " %s", a->backstory);
        for (size_t i = 0; i < a->n_specialties; i++)
            fprintf(f, "%s%s", i == 0 ? " Your specialties: " : ", ", a->specialties[i]);
        if (a->n_specialties)
            fputc('.', f);
    }
    fputs(" Do the task you are given and answer with its result.", f);
    return fclose(f) == 0 ? p : (free(p), NULL);
}

static char *user_message(const tia_task *t)
{
    char *p = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&p, &len);
    if (f == NULL)
        return NULL;
    fprintf(f, "Task (%s): %s", t->task_type, t->description);
    json_t *in = t->input_data ? json_loads(t->input_data, JSON_DECODE_ANY, NULL) : NULL;
    char *pretty =
        in ? json_dumps(in, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER) : NULL;
    if (pretty)
        fprintf(f, "\n\nInput data (JSON):\n%s", pretty);
    free(pretty);
    json_decref(in);
    return fclose(f) == 0 ? p : (free(p), NULL);
}

static char *request_body(const tia_job *job, const char *model)
{
    char *sys = system_prompt(job->agent), *user = user_message(job->claim->task), *text = NULL;
    if (sys && user) {
        json_t *o = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "model", model, "messages",
                              "role", "system", "content", sys, "role", "user", "content", user);
        text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
    }
    free(sys);
    free(user);
    return text;
}

/* {url}/chat/completions, or url when it already names the endpoint. */
static char *endpoint(const char *url)
{
    static const char path[] = "/chat/completions";
    size_t n = strlen(url), k = sizeof path - 1;
    if (n >= k && strcmp(url + n - k, path) == 0)
        return strdup(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    char *out = malloc(n + k + 1);
    if (out)
        snprintf(out, n + k + 1, "%.*s%s", (int)n, url, path);
    return out;
}

static const char *api_key(const tia_llm_config *cfg)
{
    const char *k = cfg->api_key;
    if (k == NULL || *k == '\0')
        k = getenv("TOKYOIA_LLM_API_KEY");
    if (k == NULL || *k == '\0')
        k = getenv("OPENAI_API_KEY");
    return k && *k ? k : NULL;
}

/* ---- the transfer ---- */

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    response *r = arg;
    size_t len = size * n;
    if (r->got + len > RESPONSE_MAX) {
        r->too_big = 1;
        return 0; /* aborts the transfer */
    }
    r->got += len;
    return fwrite(data, 1, len, r->f);
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    return tia_job_stop(arg) != TIA_STOP_NONE;
}

static int64_t request_timeout(const tia_llm_config *cfg, const tia_job *job)
{
    if (job->claim->timeout_ms > 0)
        return job->claim->timeout_ms;
    return cfg->timeout_ms > 0 ? cfg->timeout_ms : TIA_EXEC_LLM_TIMEOUT_MS;
}

/* Runs the POST; *status gets the HTTP status. */
static CURLcode post(const tia_llm_config *cfg, const tia_job *job, const char *url,
                     const char *body, response *r, long *status)
{
    CURLcode rc = CURLE_OUT_OF_MEMORY;
    struct curl_slist *h = NULL, *h2 = NULL;
    char auth[1024];
    CURL *c = curl_easy_init();
    const char *key = api_key(cfg);
    if (c == NULL || (h = curl_slist_append(NULL, "Content-Type: application/json")) == NULL)
        goto done;
    if (key != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        if ((h2 = curl_slist_append(h, auth)) == NULL)
            goto done;
        h = h2;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)request_timeout(cfg, job));
    curl_easy_setopt(
        c, CURLOPT_CONNECTTIMEOUT_MS,
        (long)(cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : CONNECT_TIMEOUT_MS));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)job);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tokyoia-worker");
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
done:
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    explicit_bzero(auth, sizeof auth);
    return rc;
}

/* ---- the response ---- */

/* The endpoint's error message: error.message, error, message, or the body's start. */
static void error_text(const char *body, char *dst, size_t len)
{
    json_t *doc = json_loads(body, 0, NULL), *e = json_object_get(doc, "error");
    const char *m = json_string_value(json_object_get(e, "message"));
    if (m == NULL)
        m = json_string_value(e);
    if (m == NULL)
        m = json_string_value(json_object_get(doc, "message"));
    if (m != NULL) {
        snprintf(dst, len, "%s", m);
    } else {
        /* Not JSON: show printable ASCII only, so the message stays valid text. */
        size_t o = 0;
        for (const char *p = body; *p && o + 1 < len && o < EXCERPT_MAX; p++)
            dst[o++] = (*p >= 0x20 && *p < 0x7F) ? *p : ' ';
        dst[o] = '\0';
    }
    json_decref(doc);
}

/* The engine's bound on a task's tokens (a column of INTEGER). */
#define LLM_TOKENS_MAX INT64_C(2147483647)

/* A usage count, or -1 when absent, negative or past what a task can hold. */
static int64_t usage_count(json_t *usage, const char *key)
{
    json_t *v = json_object_get(usage, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > LLM_TOKENS_MAX)
        return -1;
    return json_integer_value(v);
}

/* HTTP 2xx: choices[0].message.content and usage. */
static void parse_success(const char *body, const char *model, tia_exec_result *out)
{
    json_error_t je;
    json_t *doc = json_loads(body, 0, &je);
    json_t *choice = json_array_get(json_object_get(doc, "choices"), 0);
    json_t *content = json_object_get(json_object_get(choice, "message"), "content");
    if (choice == NULL || !(json_is_string(content) || json_is_null(content))) {
        fail_msg(out, 1, "the LLM endpoint's response has no choices[0].message.content%s%s",
                 doc ? "" : ": ", doc ? "" : je.text);
        json_decref(doc);
        return;
    }
    const char *m = json_string_value(json_object_get(doc, "model"));
    const char *fr = json_string_value(json_object_get(choice, "finish_reason"));
    json_t *o = json_pack("{s:O, s:s, s:o}", "content", content, "model", m ? m : model,
                          "finish_reason", fr ? json_string(fr) : json_null());
    json_t *usage = json_object_get(doc, "usage");
    out->input_tokens = usage_count(usage, "prompt_tokens");
    out->output_tokens = usage_count(usage, "completion_tokens");
    out->tokens_used = usage_count(usage, "total_tokens");
    /*
     * The engine holds tokens_used to input + output. An endpoint whose total
     * counts more (reasoning or cached tokens reported apart) is believed for the
     * total, what it bills, and the rest is counted as output, as reasoning is
     * billed; one whose total counts less is given the sum. Counts past what a
     * task holds are not believed (none is recorded). An answer is never refused
     * over its accounting.
     */
    if (out->input_tokens >= 0 && out->output_tokens >= 0 && out->tokens_used >= 0 &&
        out->tokens_used != out->input_tokens + out->output_tokens) {
        if (out->tokens_used > out->input_tokens + out->output_tokens)
            out->output_tokens = out->tokens_used - out->input_tokens;
        else
            out->tokens_used = out->input_tokens + out->output_tokens;
    }
    /* The tokens the engine will count (the total, else the sum): within the bound. */
    int64_t counted = out->tokens_used >= 0 ? out->tokens_used
                                            : (out->input_tokens > 0 ? out->input_tokens : 0) +
                                                  (out->output_tokens > 0 ? out->output_tokens : 0);
    if (counted > LLM_TOKENS_MAX)
        out->tokens_used = out->input_tokens = out->output_tokens = -1;
    out->output_data = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    out->ok = out->output_data != NULL;
    if (!out->ok)
        fail_msg(out, 1, "out of memory for the LLM's answer");
    json_decref(o);
    json_decref(doc);
}

static void outcome(CURLcode crc, long status, const response *r, const char *url,
                    const char *model, int64_t timeout_ms, const tia_job *job, tia_exec_result *out)
{
    char msg[EXCERPT_MAX * 4 + 8];
    if (crc == CURLE_OPERATION_TIMEDOUT)
        fail_msg(out, 1, "timed out after %.3gs waiting for %s", (double)timeout_ms / 1000.0, url);
    else if (crc == CURLE_ABORTED_BY_CALLBACK || tia_job_stop(job) != TIA_STOP_NONE)
        fail_msg(out, 1, "stopped by the worker");
    else if (r->too_big)
        fail_msg(out, 1, "the LLM endpoint's response exceeds %d bytes", RESPONSE_MAX);
    else if (crc != CURLE_OK)
        fail_msg(out, 1, "cannot reach %s: %s", url, curl_easy_strerror(crc));
    else if (status >= 200 && status < 300)
        parse_success(r->p ? r->p : "", model, out);
    else {
        error_text(r->p ? r->p : "", msg, sizeof msg);
        fail_msg(out, status == 429 || status >= 500, "HTTP %ld from %s: %s", status, url,
                 msg[0] ? msg : "(no message)");
    }
}

static const char *choose_model(const tia_llm_config *cfg, const tia_job *job)
{
    if (cfg->model && *cfg->model)
        return cfg->model;
    if (job->claim->agent_model && *job->claim->agent_model)
        return job->claim->agent_model;
    return job->agent ? job->agent->model : NULL;
}

int tia_exec_llm(void *ctx, const tia_job *job, tia_exec_result *out, tia_error *err)
{
    const tia_llm_config *cfg = ctx;
    response r = {0};
    char *url = NULL, *body = NULL;
    int rc = 0;
    long status = 0;
    const char *model = choose_model(cfg, job);
    if (cfg->url == NULL || *cfg->url == '\0')
        return tia_error_set(err, TIA_EINVAL, "url: the LLM endpoint is required");
    if (model == NULL)
        return tia_error_set(err, TIA_EINVAL, "model: neither configured nor the agent's");
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return tia_error_set(err, TIA_EIO, "cannot initialise libcurl: %s",
                             curl_easy_strerror(curl_init_rc));
    url = endpoint(cfg->url);
    body = request_body(job, model);
    r.f = open_memstream(&r.p, &r.len);
    if (url == NULL || body == NULL || r.f == NULL) {
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory");
        goto done;
    }
    CURLcode crc = post(cfg, job, url, body, &r, &status);
    fclose(r.f);
    r.f = NULL;
    outcome(crc, status, &r, url, model, request_timeout(cfg, job), job, out);
done:
    if (r.f)
        fclose(r.f);
    free(r.p);
    free(url);
    free(body);
    return rc;
}
