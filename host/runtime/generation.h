/*
 * generation.h - loading and unloading what a worker serves: configuration
 * from a snapshot, plugins, settings binding, every plugin's init().
 *
 * The same load path serves `tanomu check`, `tanomu plugins` and a worker
 * starting up, so what check accepts is exactly what serves.
 */
#ifndef HOST_GENERATION_H
#define HOST_GENERATION_H

#include "config.h"
#include "context.h"
#include "errors.h"

/* Loads config from snap, plugins, binds features, runs every plugin's
 * init().  Lenient (strict = 0) as on first start: refused plugins are
 * reported in errs and skipped. */
int host_generation_load(host_worker *w, uv_loop_t *loop, const host_snapshot *snap, int strict,
                         host_errors *errs);
void host_generation_unload(host_worker *w);

#endif
