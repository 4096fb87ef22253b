/*
 * crashy - a TEST-ONLY plugin whose GET /crash kills the worker process that
 * runs it, so the integration tests can check that the master restarts the
 * worker, logs which plugin and route it was running, and counts the crash
 * against the plugin.  GET /crashy/ok shows the plugin otherwise serves, and
 * GET /crash?survive=1 is the route answering 200 (a fixed crash).
 */
#include <tanomu/tanomu.h>

#include <stdlib.h>

static const tn_api *api;

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void);

static tn_status h_crash(tn_plugin *self, tn_request *req, void *ud)
{
    const char *survive = api->req_query_param(req, "survive");

    (void)self;
    (void)ud;
    /* ?survive=1: the same route, fixed, so a circuit breaker's half-open
     * probe on /crash can succeed. */
    if (survive && survive[0] == '1') {
        api->resp_json(req, 200, "{\"crashy\":\"survived\"}");
        return TN_DONE;
    }
    /* abort() rather than a NULL dereference: it kills the process the same
     * way in every build (a sanitizer would turn a SEGV into its own report
     * and exit code), and the compiler cannot optimise it away. */
    abort();
}

static tn_status h_ok(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    api->resp_json(req, 200, "{\"crashy\":\"ok\"}");
    return TN_DONE;
}

static int crashy_init(tn_plugin *self, const tn_api *a)
{
    api = a;
    int rc = api->route_add(self, "GET", "/crash", TN_ACCESS_PUBLIC, NULL, h_crash, NULL);
    if (rc != TN_OK)
        return rc;
    return api->route_add(self, "GET", "/crashy/ok", TN_ACCESS_PUBLIC, NULL, h_ok, NULL);
}

static const tn_plugin_desc desc = {
    .size = sizeof desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "crashy",
    .version = "0.1.0-test",
    .description = "Test-only: GET /crash aborts the worker",
    .init = crashy_init,
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &desc;
}
