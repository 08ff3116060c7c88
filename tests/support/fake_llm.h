/*
 * A fake OpenAI-compatible chat-completions endpoint for the LLM executor's
 * tests: a libmicrohttpd server on 127.0.0.1 (a free port) that answers every
 * request with the status, body and delay last set, and records the request so
 * that a test can check what the executor sent (path, Authorization header,
 * JSON body).
 */
#ifndef TIA_FAKE_LLM_H
#define TIA_FAKE_LLM_H

typedef struct tia_fake_llm tia_fake_llm;

/* Starts the server (fails the test on error); it answers 200 "{}" until told. */
tia_fake_llm *tia_fake_llm_start(void);

/* Stops it (a delayed answer in progress is cut short); NULL is accepted. */
void tia_fake_llm_stop(tia_fake_llm *f);

/* "http://127.0.0.1:PORT/v1" (valid until stop). */
const char *tia_fake_llm_url(const tia_fake_llm *f);

/* Every following request gets this status and body after delay_ms. */
void tia_fake_llm_reply(tia_fake_llm *f, unsigned status, const char *body, int delay_ms);

/* Requests answered (or being answered) so far. */
int tia_fake_llm_count(tia_fake_llm *f);

/* The last request's "path", "authorization" or "body"; malloc'd, NULL if none. */
char *tia_fake_llm_last(tia_fake_llm *f, const char *what);

#endif
