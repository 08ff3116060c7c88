/*
 * What maintain.c and maintain_rollup.c share: the rollup run that
 * tia_maintain_run calls inside its dry-run transaction, and the helper that
 * begins and commits a step's transaction unless a dry run holds one already.
 */
#ifndef TIA_OPS_MAINTAIN_INT_H
#define TIA_OPS_MAINTAIN_INT_H

#include <tokyoia/maintain.h>
#include <tokyoia/store.h>

/* A step's transaction: begun and committed here unless outer (a dry run's) is set. */
int tia__mt_begin(tia_store *s, int outer, tia_error *err);
/* Commits (rc == 0) or rolls back; returns rc, or the commit's error. */
int tia__mt_end(tia_store *s, int outer, int rc, tia_error *err);

/*
 * Takes the per-database lock of rollups and maintenance runs (PostgreSQL; a
 * no-op on SQLite): 0, or TIA_EBUSY when another run holds it.
 */
int tia__mt_lock(tia_store *s, tia_error *err);
void tia__mt_unlock(tia_store *s);

/* tia_metric_rollup; with outer set, inside the caller's transaction (no waiting). */
int tia__rollup_run(tia_store *s, const tia_rollup_options *o, int outer, tia_rollup_result *out,
                    tia_error *err);

#endif
