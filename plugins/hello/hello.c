/*
 * hello.c - the example plugin: GET /hello answers the tenant's greeting.
 *
 * It is small on purpose and shows each part of the SDK a plugin uses: the
 * descriptor, a settings schema with a cross-field rule in check(), a
 * route, a RESPONSE hook, a metric per tenant, and an event it publishes
 * and also subscribes to.  Copy it, or sdk/template, to start a plugin.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <tanomu/tanomu.h>

#define HELLO_VERSION "1.0.0"
#define HELLO_ROUTE "/hello"
#define HELLO_SHOUT_MAX 100 /* a shouted greeting is kept short */

/* What init() keeps for the callbacks of this worker process. */
static struct hello_ctx {
    const tn_api *api;
    tn_metric *greetings;      /* greetings_total{tenant} */
    tn_metric *greeted_events; /* greeted_events_total{tenant} */
} hello;

static const tn_config_key hello_settings[] = {
    {.name = "greeting",
     .type = TN_TYPE_STRING,
     .default_value = "Hello",
     .min = 1,
     .max = 200,
     .description = "What GET /hello answers: 1 to 200 bytes of UTF-8."},
    {.name = "shout",
     .type = TN_TYPE_BOOL,
     .default_value = "false",
     .description = "Upper-case the ASCII letters of the greeting; it must then be at "
                    "most 100 bytes."},
    {.name = NULL},
};

/* The host has applied types, bounds and defaults; what is left are the
 * rules that span keys, and what the schema cannot say (UTF-8). */
static int hello_check(const tn_api *api, const tn_config *cfg, tn_check *chk)
{
    const char *greeting = api->config_str(cfg, "greeting");
    int bad = 0;
    if (greeting == NULL)
        return -1;                         /* cannot happen: the key is in the schema */
    json_t *probe = json_string(greeting); /* NULL unless valid UTF-8 */
    if (probe == NULL) {
        api->check_error(chk, "greeting", "must be UTF-8 text");
        bad = 1;
    }
    json_decref(probe);
    if (api->config_bool(cfg, "shout") && strlen(greeting) > HELLO_SHOUT_MAX) {
        api->check_error(chk, "greeting", "must be at most %d bytes when shout is true",
                         HELLO_SHOUT_MAX);
        bad = 1;
    }
    return bad ? -1 : 0;
}

/* ASCII only: the greeting may hold any UTF-8, whose other bytes stay. */
static void ascii_upper(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 'a' + 'A');
}

static tn_status hello_get(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = hello.api;
    const tn_config *cfg = api->req_config(req, self);
    const char *tenant = api->req_tenant(req);
    char *greeting = NULL;
    json_t *doc = NULL;
    char *body = NULL;
    tn_status st = TN_ERROR;
    (void)ud;
    if (cfg == NULL)
        goto fail; /* the host routes only tenants that enable us */

    greeting = api->req_strdup(req, api->config_str(cfg, "greeting"));
    if (greeting == NULL)
        goto fail;
    if (api->config_bool(cfg, "shout"))
        ascii_upper(greeting);

    /* jansson escapes: the greeting is tenant data, never pasted into JSON. */
    doc = json_pack("{s:s}", "greeting", greeting);
    body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (body == NULL || api->resp_json(req, 200, body) != TN_OK)
        goto fail;
    api->metric_add(hello.greetings, tenant, 1);

    json_decref(doc);
    free(body);
    doc = json_pack("{s:s}", "tenant", tenant);
    body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    /* The greeting is served; losing its event is logged, not fatal. */
    if (body == NULL || api->event_publish(self, tenant, "hello.greeted", body) != TN_OK)
        api->req_log(req, TN_LOG_WARN, "hello.greeted not published");
    st = TN_DONE;

fail:
    json_decref(doc);
    free(body);
    return st;
}

/* RESPONSE phase: stamp our version, but only on our own route. */
static tn_status hello_stamp(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = hello.api;
    const char *route = api->req_route(req);
    (void)self;
    (void)ud;
    if (route == NULL || strcmp(route, HELLO_ROUTE) != 0 ||
        strcmp(api->req_method(req), "GET") != 0)
        return TN_CONTINUE;
    return api->resp_header(req, "X-Hello", HELLO_VERSION) == TN_OK ? TN_CONTINUE : TN_ERROR;
}

static void hello_on_greeted(tn_plugin *self, const tn_event *ev, void *ud)
{
    (void)self;
    (void)ud;
    hello.api->metric_add(hello.greeted_events, ev->tenant_id, 1);
}

static int hello_init(tn_plugin *self, const tn_api *api)
{
    memset(&hello, 0, sizeof hello);
    hello.api = api;
    hello.greetings = api->metric_counter(self, "greetings_total", "Greetings served.");
    hello.greeted_events = api->metric_counter(self, "greeted_events_total",
                                               "hello.greeted events received.");
    if (hello.greetings == NULL || hello.greeted_events == NULL)
        return -1;
    if (api->route_add(self, "GET", HELLO_ROUTE, TN_ACCESS_PUBLIC, NULL, hello_get, NULL) !=
            TN_OK ||
        api->hook_add(self, TN_PHASE_RESPONSE, hello_stamp, NULL) != TN_OK ||
        api->event_subscribe(self, "hello.greeted", hello_on_greeted, NULL) != TN_OK)
        return -1;
    api->log(self, TN_LOG_INFO, "ready, version %s", HELLO_VERSION);
    return 0;
}

static void hello_fini(tn_plugin *self)
{
    (void)self;
    memset(&hello, 0, sizeof hello);
}

static const tn_plugin_desc hello_desc = {
    .size = sizeof hello_desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "hello",
    .version = HELLO_VERSION,
    .description = "Answers GET /hello with the tenant's greeting; the example plugin.",
    .settings = hello_settings,
    .check = hello_check,
    .init = hello_init,
    .fini = hello_fini,
};

/* The one exported symbol (its prototype is in <tanomu/plugin.h>): the host
 * finds it with dlsym() at load, calls it once and copies the descriptor,
 * refusing the plugin if the ABI, size or name do not fit. */
TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &hello_desc;
}
