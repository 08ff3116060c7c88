/*
 * Types shared by every part of libtokyoia's public interface: the store handle,
 * timestamps, the status enums of the seed schema and their names.
 */
#ifndef TOKYOIA_TYPES_H
#define TOKYOIA_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An open database: one connection, used by one thread at a time. */
typedef struct tia_store tia_store;

/* Microseconds since 1970-01-01T00:00:00Z. */
typedef int64_t tia_time_us;

/* A NULL timestamp (started_at of a task that never ran, ...). */
#define TIA_TIME_NONE INT64_MIN

/* Buffer size of a UUID in text form: 36 characters and the NUL. */
#define TIA_UUID_BUF 37

/* Buffer size of a pagination cursor (opaque text). */
#define TIA_CURSOR_BUF 80

/* Largest page a list call returns; larger limits are refused. */
#define TIA_PAGE_MAX 1000

/* Column limits of the seed schema, in characters. */
#define TIA_AGENT_ID_MAX 50
#define TIA_AGENT_NAME_MAX 100
#define TIA_AGENT_ROLE_MAX 200
#define TIA_AGENT_MODEL_MAX 100
#define TIA_AGENT_EMOJI_MAX 10
#define TIA_WORKFLOW_NAME_MAX 200
#define TIA_WORKFLOW_TYPE_MAX 100
#define TIA_INITIATOR_MAX 100
#define TIA_TASK_TYPE_MAX 100
#define TIA_METRIC_TYPE_MAX 50
#define TIA_METRIC_UNIT_MAX 20
#define TIA_INTERACTION_TYPE_MAX 50
#define TIA_USER_ID_MAX 100

/* Largest TEXT or JSON value the library accepts, in bytes. */
#define TIA_TEXT_MAX (1024 * 1024)

/*
 * Deepest nesting of a JSON value the library stores (metadata, input_data, ...):
 * a scalar is depth 0, an array or object one more than its deepest member. Deeper
 * values are refused (TIA_EINVAL): SQLite's JSON functions stop at 1000 levels and
 * PostgreSQL's at its stack depth, so without a limit of its own the same value
 * would be stored on one backend and refused on the other.
 */
#define TIA_JSON_DEPTH_MAX 64

/* The largest cost a DECIMAL(10,6) holds, in micro-dollars. */
#define TIA_COST_MAX_MICROS INT64_C(9999999999)

typedef enum tia_agent_status {
    TIA_AGENT_ACTIVE = 0,
    TIA_AGENT_INACTIVE,
    TIA_AGENT_MAINTENANCE
} tia_agent_status;

/* Status of a workflow or a task (the same CHECK in the seed). */
typedef enum tia_run_status {
    TIA_PENDING = 0,
    TIA_RUNNING,
    TIA_COMPLETED,
    TIA_FAILED,
    TIA_CANCELLED
} tia_run_status;

typedef enum tia_session_status {
    TIA_SESSION_ACTIVE = 0,
    TIA_SESSION_EXPIRED,
    TIA_SESSION_REVOKED
} tia_session_status;

/* Names as stored in the database ("active", ...); NULL for a value out of range. */
const char *tia_agent_status_name(tia_agent_status s);
const char *tia_run_status_name(tia_run_status s);
const char *tia_session_status_name(tia_session_status s);

/* Parse a stored name; 0, or TIA_EINVAL for an unknown name (out untouched). */
int tia_agent_status_parse(const char *name, tia_agent_status *out);
int tia_run_status_parse(const char *name, tia_run_status *out);
int tia_session_status_parse(const char *name, tia_session_status *out);

/*
 * Transitions a task or workflow may make in the store: pending -> running,
 * pending -> cancelled, running -> completed | failed | cancelled. Returns 1 when
 * from -> to is one of them, 0 otherwise.
 */
int tia_run_transition_ok(tia_run_status from, tia_run_status to);

/* Current wall-clock time. */
tia_time_us tia_now_us(void);

/* Formats t as "2026-11-22T20:35:16.123456Z" into buf (at least 32 bytes); "" for TIA_TIME_NONE. */
void tia_time_format(tia_time_us t, char *buf, size_t len);

/*
 * Parses an RFC 3339 / ISO-8601 time ("2026-01-31", "2026-01-31T12:00:00.5Z",
 * "2026-01-31T21:00:00+09:00") into *out. 0, or TIA_EINVAL (out untouched).
 */
int tia_time_parse(const char *text, tia_time_us *out);

/*
 * Parses a duration such as "24h", "30m", "90s", "7d", "500ms" or "1h30m" into
 * microseconds. 0, or TIA_EINVAL for anything else (zero and negative refused).
 */
int tia_duration_parse(const char *text, int64_t *out_us);

/* Formats micro-dollars as "12.345678" into buf (at least 24 bytes). */
void tia_cost_format(int64_t micros, char *buf, size_t len);

/* Parses "12.345678" (at most 6 decimals, not negative) into micro-dollars. */
int tia_cost_parse(const char *text, int64_t *out_micros);

#ifdef __cplusplus
}
#endif
#endif
