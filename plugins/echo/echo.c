/*
 * echo.c - a catch-all for tests and benchmarks: any method, any path,
 * answers 200 {"method": ..., "body_bytes": N} after the earlier phases
 * (so a WAF in front of it can be measured with a corpus or wrk).  Never
 * enable it for a real tenant: it answers everything.  It echoes no input
 * but the method and the body's length.
 */
#include <stdio.h>
#include <string.h>

#include <tanomu/tanomu.h>

#define ECHO_VERSION "1.0.0"

static struct echo_ctx {
    const tn_api *api;
} echo;

static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", NULL};

static tn_status echo_any(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = echo.api;
    const char *method = api->req_method(req);
    size_t len = 0;
    char body[96];
    (void)self;
    (void)ud;
    api->req_body(req, &len);
    /* method is one of the registered ones: no escaping needed. */
    snprintf(body, sizeof body, "{\"method\":\"%s\",\"body_bytes\":%zu}", method, len);
    return api->resp_json(req, 200, body) == TN_OK ? TN_DONE : TN_ERROR;
}

static int echo_init(tn_plugin *self, const tn_api *api)
{
    size_t i;

    echo.api = api;
    for (i = 0; methods[i]; i++)
        if (api->route_add(self, methods[i], "/", TN_ACCESS_PUBLIC, NULL, echo_any, NULL) !=
                TN_OK ||
            api->route_add(self, methods[i], "/*rest", TN_ACCESS_PUBLIC, NULL, echo_any, NULL) !=
                TN_OK)
            return -1;
    return 0;
}

static void echo_fini(tn_plugin *self)
{
    (void)self;
    memset(&echo, 0, sizeof echo);
}

static const tn_plugin_desc echo_desc = {
    .size = sizeof echo_desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "echo",
    .version = ECHO_VERSION,
    .description = "Answers 200 to any method and path; tests and benchmarks only.",
    .init = echo_init,
    .fini = echo_fini,
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &echo_desc;
}
