/*
 * The fake chat-completions endpoint of fake_llm.h. One thread per connection
 * (MHD_USE_THREAD_PER_CONNECTION), so that a delayed answer holds only its own
 * connection; the delay sleeps in small steps so that stopping the server does
 * not wait for it. Everything shared is under one mutex.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "tia_test.h"

#include "fake_llm.h"

struct tia_fake_llm {
    struct MHD_Daemon *d;
    char url[64];
    pthread_mutex_t mu;
    unsigned status;
    char *reply;
    int delay_ms;
    int count;
    int stopping;
    char *path, *auth, *body;
};

/* A request's body as it arrives. */
typedef struct upload {
    char *p;
    size_t len;
} upload;

static void set_str(char **dst, const char *src)
{
    free(*dst);
    *dst = src ? strdup(src) : NULL;
}

/* Sleeps delay_ms unless the server stops first. */
static void wait_delay(tia_fake_llm *f, int delay_ms)
{
    struct timespec step = {0, 10 * 1000000L};
    for (int waited = 0; waited < delay_ms; waited += 10) {
        pthread_mutex_lock(&f->mu);
        int stop = f->stopping;
        pthread_mutex_unlock(&f->mu);
        if (stop)
            return;
        nanosleep(&step, NULL);
    }
}

static enum MHD_Result respond(tia_fake_llm *f, struct MHD_Connection *c, const char *url,
                               upload *u)
{
    pthread_mutex_lock(&f->mu);
    f->count++;
    set_str(&f->path, url);
    set_str(&f->auth, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"));
    set_str(&f->body, u->p ? u->p : "");
    unsigned status = f->status;
    char *text = strdup(f->reply);
    int delay = f->delay_ms;
    pthread_mutex_unlock(&f->mu);
    wait_delay(f, delay);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    (void)method, (void)version;
    upload *u = *con_cls;
    if (u == NULL) {
        *con_cls = calloc(1, sizeof(upload));
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*data_size > 0) {
        char *grown = realloc(u->p, u->len + *data_size + 1);
        if (grown == NULL)
            return MHD_NO;
        memcpy(grown + u->len, data, *data_size);
        u->p = grown;
        u->len += *data_size;
        u->p[u->len] = '\0';
        *data_size = 0;
        return MHD_YES;
    }
    return respond(cls, c, url, u);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    upload *u = *con_cls;
    if (u != NULL)
        free(u->p);
    free(u);
    *con_cls = NULL;
}

tia_fake_llm *tia_fake_llm_start(void)
{
    tia_fake_llm *f = calloc(1, sizeof *f);
    assert_non_null(f);
    pthread_mutex_init(&f->mu, NULL);
    f->status = 200;
    f->reply = strdup("{}");
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                            NULL, NULL, on_request, f, MHD_OPTION_SOCK_ADDR, &sa,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, f, MHD_OPTION_END);
    if (f->d == NULL)
        fail_msg("cannot start the fake LLM endpoint on 127.0.0.1");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%u/v1", (unsigned)info->port);
    return f;
}

void tia_fake_llm_stop(tia_fake_llm *f)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->mu);
    f->stopping = 1;
    pthread_mutex_unlock(&f->mu);
    MHD_stop_daemon(f->d);
    pthread_mutex_destroy(&f->mu);
    free(f->reply);
    free(f->path);
    free(f->auth);
    free(f->body);
    free(f);
}

const char *tia_fake_llm_url(const tia_fake_llm *f)
{
    return f->url;
}

void tia_fake_llm_reply(tia_fake_llm *f, unsigned status, const char *body, int delay_ms)
{
    pthread_mutex_lock(&f->mu);
    f->status = status;
    set_str(&f->reply, body);
    f->delay_ms = delay_ms;
    pthread_mutex_unlock(&f->mu);
}

int tia_fake_llm_count(tia_fake_llm *f)
{
    pthread_mutex_lock(&f->mu);
    int n = f->count;
    pthread_mutex_unlock(&f->mu);
    return n;
}

char *tia_fake_llm_last(tia_fake_llm *f, const char *what)
{
    pthread_mutex_lock(&f->mu);
    const char *v = strcmp(what, "path") == 0            ? f->path
                    : strcmp(what, "authorization") == 0 ? f->auth
                                                         : f->body;
    char *out = v ? strdup(v) : NULL;
    pthread_mutex_unlock(&f->mu);
    return out;
}
