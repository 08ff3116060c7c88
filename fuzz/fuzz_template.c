/*
 * Fuzz target: the workflow template loader (src/engine/templates.c). The input
 * is a template file and, after the first NUL byte, the input JSON that
 * `tokyoia run --input` or POST /api/v1/workflows {"template", "input"} would
 * pass. The file is written to the scratch directory and loaded the way `run
 * --templates DIR` loads it (tia_template_load: read, size and NUL checks,
 * parse), then turned into a workflow spec. An accepted template must give a
 * spec whose tasks build a dependency graph (the loader promises to refuse bad
 * graphs itself), and every refusal must carry a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokyoia/engine.h>
#include <tokyoia/error.h>

#include "engine/engine_internal.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[512];
    const uint8_t *nul = memchr(data, 0, size);
    size_t file_len = nul ? (size_t)(nul - data) : size;
    char *input = nul ? tia_fuzz_cstr(nul + 1, size - file_len - 1) : NULL;
    tia_template *t = NULL;
    tia_error err = {0};

    if (path[0] == '\0')
        snprintf(path, sizeof path, "%s/fuzz.json", tia_fuzz_tmpdir());
    FILE *f = fopen(path, "wb");
    TIA_FUZZ_CHECK(f != NULL, "cannot write %s", path);
    fwrite(data, 1, file_len, f);
    fclose(f);

    int rc = tia_template_load("fuzz", tia_fuzz_tmpdir(), &t, &err);
    if (rc != 0) {
        TIA_FUZZ_CHECK(t == NULL && err.message[0], "refusal %d without a message", rc);
        goto done;
    }
    tia_workflow_spec spec;
    rc = tia_template_spec(t, input, &spec, &err);
    if (rc != 0) {
        TIA_FUZZ_CHECK(err.message[0], "spec refusal %d without a message", rc);
        goto done;
    }
    TIA_FUZZ_CHECK(spec.name && spec.n_tasks >= 1 && spec.tasks, "accepted template without tasks");
    tia__task_graph g = {0};
    rc = tia__task_graph_build(spec.tasks, spec.n_tasks, &g, &err);
    TIA_FUZZ_CHECK(rc == 0, "accepted template's graph refused: %s", err.message);
    tia__task_graph_free(&g);
done:
    tia_template_free(t);
    free(input);
    return 0;
}
