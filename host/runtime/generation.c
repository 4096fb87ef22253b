/*
 * generation.c - what a worker serves: the configuration, the plugins bound
 * to it, their init(), and the map from Host header to tenant.
 *
 * The same load path serves `tanomu check`, `tanomu plugins` and a worker
 * starting up, so what check accepts is exactly what serves.
 */
#include "generation.h"

#include <stdlib.h>

#include "api.h"
#include "context.h"
#include "iface.h"
#include "log.h"
#include "schema_needs.h"
#include "plugin_settings.h"
#include "settings.h"

/* ---- a generation ----------------------------------------------------------- */

int host_generation_load(host_worker *w, uv_loop_t *loop, const host_snapshot *snap, int strict,
                         host_errors *errs)
{
    int i, bad, before = errs->count;

    w->loop = loop;
    /* Go on after errors as far as the structures allow, so one run of
     * check reports the tenant files' mistakes along with the main file's. */
    bad = host_config_parse(snap, &w->conf, errs) != 0;
    if (!w->conf.path || !w->conf.server.plugin_dir)
        return -1;
    host_log_set_level(w->conf.server.log_level); /* before plugins log at init */
    if (host_plugins_load(&w->plugins, w->conf.server.plugin_dir, &w->conf.server.plugin_load,
                          w->conf.path, w->conf.server.plugin_load_line, strict, errs) != 0)
        bad = 1;
    /* Only a worker asks the database; check and plugins need none. */
    if (w->check_schema && !bad &&
        host_plugins_require_schema(&w->plugins, w->conf.server.db.url, w->conf.path,
                                    w->conf.server.plugin_load_line, strict, errs) != 0)
        bad = 1;
    if (host_config_bind(&w->conf, &w->plugins, &host_api, strict, errs) != 0)
        bad = 1;
    if (host_plugin_settings_bind(&w->conf, &w->plugins, strict, errs) != 0) /* plugins.NAME */
        bad = 1;
    if (bad)
        return -1;
    host_worker_events_init(w);
    w->initializing = 1;
    for (i = 0; i < w->plugins.n; i++)
        w->plugins.v[i]->worker = w; /* iface_get() looks at plugins not yet initialized */
    for (i = 0; i < w->plugins.n; i++) {
        tn_plugin *p = w->plugins.init[i];
        p->last_error[0] = '\0';
        host_worker_running(w, p, "init");
        if (p->desc.init(p, &host_api) != 0) {
            /* The last failed 1.2 call is most likely why (a missing
             * interface): one line says both. */
            host_errors_add(errs, w->conf.path, 0, "plugin %s: init() failed%s%s", p->name,
                            p->last_error[0] ? ": " : "", p->last_error);
            host_worker_running(w, NULL, NULL);
            w->initializing = 0;
            return -1;
        }
        host_worker_running(w, NULL, NULL);
        p->initialized = 1;
    }
    w->initializing = 0;
    if (!(w->tenant_map = host_tenant_map_build(&w->conf)))
        return -1;
    w->loaded = 1;
    return strict && errs->count > before ? -1 : 0;
}

static void on_handle_close_noop(uv_handle_t *h)
{
    (void)h;
}

void host_generation_unload(host_worker *w)
{
    int i;

    for (i = w->plugins.n - 1; i >= 0; i--) {
        tn_plugin *p = w->plugins.init ? w->plugins.init[i] : w->plugins.v[i];
        if (p->initialized && p->desc.fini)
            p->desc.fini(p);
        p->initialized = 0;
    }
    if (w->events_idle.loop && !uv_is_closing((uv_handle_t *)&w->events_idle))
        uv_close((uv_handle_t *)&w->events_idle, on_handle_close_noop);
    host_worker_api_cleanup(w);
    host_router_free(&w->router);
    host_tenant_map_free(w->tenant_map);
    w->tenant_map = NULL;
    /* Handles closed above must finish before the plugins' code goes. */
    if (w->loop)
        uv_run(w->loop, UV_RUN_NOWAIT);
    for (i = 0; i < w->plugins.n; i++)
        host_iface_free_all(w->plugins.v[i]);
    host_plugins_unload(&w->plugins);
    host_config_free(&w->conf);
    w->loaded = 0;
}
