/*
 * Column lists and row decoders that more than one store module needs: the
 * workflow and the task records, so that a joined query (a workflow with its
 * tasks) decodes with the same code as the single-table ones.
 */
#ifndef TIA_STORE_RECORDS_H
#define TIA_STORE_RECORDS_H

#include <tokyoia/tasks.h>
#include <tokyoia/workflows.h>

#include "store/db.h"

/*
 * PostgreSQL's workflow columns are read in binary format (tia__sql.binary, the
 * statements of workflows.c and workflow_tasks.c): timestamps as stored, money
 * and ids cast to text.
 */
#define PG_WORKFLOW_COLS                                                                           \
    "SELECT id::text, name, description, status, workflow_type, initiator, total_tasks, "          \
    "completed_tasks, failed_tasks, started_at, completed_at, duration_ms, total_tokens_used, "    \
    "total_cost_usd::text, created_at, updated_at, metadata::text FROM workflows "
#define LITE_WORKFLOW_COLS                                                                         \
    "SELECT id, name, description, status, workflow_type, initiator, total_tasks, "                \
    "completed_tasks, failed_tasks, started_at, completed_at, duration_ms, total_tokens_used, "    \
    "total_cost_usd_micros, created_at, updated_at, metadata FROM workflows "

#define COLS_PG                                                                                    \
    "id, agent_id, workflow_id, task_type, description, status, input_data, output_data, "         \
    "error_message, " TIA_PG_US("started_at") ", " TIA_PG_US(                                      \
        "completed_at") ", "                                                                       \
                        "duration_ms, tokens_used, cost_usd, retry_count, "                        \
                        "parent_task_id, " TIA_PG_US("created_at") ", metadata"
#define COLS_LITE                                                                                  \
    "id, agent_id, workflow_id, task_type, description, status, input_data, output_data, "         \
    "error_message, started_at, completed_at, duration_ms, tokens_used, cost_usd_micros, "         \
    "retry_count, parent_task_id, created_at, metadata"

/*
 * COLS_PG is read in text format (src/ops/archive_rows.c). COLS_PG_BIN is for a
 * binary statement (tia__sql.binary): the columns as stored, with no expression,
 * so that the server's projection only copies them; pg.c reads the uuids and the
 * jsonb as text and the NUMERIC cost_usd as micro-dollars. Casting the three
 * uuids to text cost the server more than sending their 16 bytes, and the cost's
 * cast to text (numeric_out) more than its binary form.
 */
#define COLS_PG_BIN                                                                                \
    "id, agent_id, workflow_id, task_type, description, status, input_data, output_data, "         \
    "error_message, started_at, completed_at, duration_ms, tokens_used, cost_usd, "                \
    "retry_count, parent_task_id, created_at, metadata"

/* Column indexes of COLS_PG / COLS_PG_BIN / COLS_LITE. */
enum {
    C_ID,
    C_AGENT,
    C_WORKFLOW,
    C_TYPE,
    C_DESC,
    C_STATUS,
    C_INPUT,
    C_OUTPUT,
    C_ERROR,
    C_STARTED,
    C_COMPLETED,
    C_DURATION,
    C_TOKENS,
    C_COST,
    C_RETRY,
    C_PARENT,
    C_CREATED,
    C_METADATA
};

/* Number of columns of the workflow and task column lists. */
#define TIA__WORKFLOW_NCOLS 17

/* Decode the current row (from the rows' column base) into a new record. */
int tia__workflow_from_row(tia__rows *r, tia_workflow **out, tia_error *err);
int tia__task_from_row(tia__rows *r, tia_task **out, tia_error *err);

#endif
