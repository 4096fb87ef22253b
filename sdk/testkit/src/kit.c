/*
 * kit.c - the testkit's context: creating and freeing it, loading a plugin
 * by its descriptor with the checks the host makes, the order of plugins
 * given by before/after, and the bookkeeping around every call into
 * plugin code.
 */
#include <stdlib.h>
#include <string.h>

#include "tk_internal.h"

/* The least a descriptor of ABI 1.0 holds: everything up to the reserved
 * slots, which the host does not need.  A later minor adds one constant. */
#define TK_DESC_SIZE_1_0 offsetof(tn_plugin_desc, reserved)

/* The host's outbox.max_attempts by default. */
#define TK_OUTBOX_MAX_ATTEMPTS 10

tk_kit *tk_new(void)
{
    tk_kit *tk = calloc(1, sizeof *tk);
    if (tk == NULL)
        return NULL;
    tk_api_fill(&tk->api);
    tk->next_req_id = 1;
    tk->outbox_max_attempts = TK_OUTBOX_MAX_ATTEMPTS;
    return tk;
}

tn_api *tk_api(tk_kit *tk)
{
    return &tk->api;
}

tn_plugin *tk_find_plugin(tk_kit *tk, const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < tk->plugins.n; i++) {
        tn_plugin *p = tk->plugins.items[i];
        if (strcmp(p->desc.name, name) == 0)
            return p;
    }
    return NULL;
}

tn_plugin *tk_plugin(tk_kit *tk, const char *name)
{
    return tk_find_plugin(tk, name);
}

void tk_enter(tk_kit *tk, tn_plugin *p, tn_plugin **saved)
{
    *saved = tk->current;
    tk->current = p;
}

void tk_leave(tk_kit *tk, tn_plugin *saved)
{
    tk->current = saved;
}

/*
 * Reads the descriptor the way the host does: its size first, then the
 * version, and then no more than `size` bytes of it.  Copying a struct at
 * our own size would read past an older plugin's shorter descriptor.
 */
static int desc_read(tk_kit *tk, const tn_plugin_desc *desc, tn_plugin_desc *out)
{
    if (desc == NULL) {
        tk_log_kit(tk, TN_LOG_ERROR, "plugin refused: no descriptor");
        return TN_EINVAL;
    }
    uint32_t size = desc->size;
    if (size < offsetof(tn_plugin_desc, name)) {
        tk_log_kit(tk, TN_LOG_ERROR, "plugin refused: descriptor size %u", (unsigned)size);
        return TN_EINVAL;
    }
    if (desc->abi_major != TN_SDK_ABI_MAJOR) {
        tk_log_kit(tk, TN_LOG_ERROR, "plugin refused: ABI major %u, host has %u",
                   (unsigned)desc->abi_major, (unsigned)TN_SDK_ABI_MAJOR);
        return TN_EINVAL;
    }
    if (desc->abi_minor > TN_SDK_ABI_MINOR) {
        tk_log_kit(tk, TN_LOG_ERROR, "plugin refused: built for ABI %u.%u, host has %u.%u",
                   (unsigned)desc->abi_major, (unsigned)desc->abi_minor, (unsigned)TN_SDK_ABI_MAJOR,
                   (unsigned)TN_SDK_ABI_MINOR);
        return TN_EINVAL;
    }
    if (size < TK_DESC_SIZE_1_0) {
        tk_log_kit(tk, TN_LOG_ERROR,
                   "plugin refused: descriptor size %u is less "
                   "than ABI %u.%u defines",
                   (unsigned)size, (unsigned)desc->abi_major, (unsigned)desc->abi_minor);
        return TN_EINVAL;
    }
    memset(out, 0, sizeof *out);
    memcpy(out, desc, size < sizeof *out ? size : sizeof *out);

    if (out->name == NULL || !host_plugin_name_valid(out->name)) {
        tk_log_kit(tk, TN_LOG_ERROR, "plugin refused: name must match [a-z0-9_]{1,%d}",
                   TN_PLUGIN_NAME_MAX);
        return TN_EINVAL;
    }
    if (out->init == NULL) {
        tk_log_kit(tk, TN_LOG_ERROR, "plugin %s refused: no init()", out->name);
        return TN_EINVAL;
    }
    /* Stricter than the host: `tanomu plugins` prints the version, and the
     * header says the reserved slots are zero. */
    if (out->version == NULL) {
        tk_log_kit(tk, TN_LOG_ERROR, "plugin %s refused: no version", out->name);
        return TN_EINVAL;
    }
    for (size_t i = 0; i < sizeof out->reserved / sizeof out->reserved[0]; i++) {
        if (out->reserved[i] != NULL) {
            tk_log_kit(tk, TN_LOG_ERROR, "plugin %s refused: reserved[%zu] is not zero", out->name,
                       i);
            return TN_EINVAL;
        }
    }
    return TN_OK;
}

static int name_listed(const char *const *list, const char *name)
{
    for (; list != NULL && *list != NULL; list++)
        if (strcmp(*list, name) == 0)
            return 1;
    return 0;
}

/* a's hooks run before b's: a says so with before, or b with after. */
static int must_precede(const tn_plugin *a, const tn_plugin *b)
{
    return name_listed(a->desc.before, b->desc.name) || name_listed(b->desc.after, a->desc.name);
}

/* Orders the plugins so every before/after holds; among plugins free to
 * go, load order decides.  TN_EINVAL on a cycle. */
static int compute_order(tk_kit *tk)
{
    size_t n = tk->plugins.n;
    tk_list order = {0};
    char *placed = calloc(n ? n : 1, 1);
    int rc = TN_ENOMEM;
    if (placed == NULL)
        goto fail;
    for (size_t k = 0; k < n; k++) {
        size_t pick = n;
        for (size_t i = 0; i < n && pick == n; i++) {
            if (placed[i])
                continue;
            int free_to_go = 1;
            for (size_t j = 0; j < n && free_to_go; j++)
                if (j != i && !placed[j] &&
                    must_precede(tk->plugins.items[j], tk->plugins.items[i]))
                    free_to_go = 0;
            if (free_to_go)
                pick = i;
        }
        if (pick == n) {
            rc = TN_EINVAL;
            goto fail;
        }
        placed[pick] = 1;
        if (tk_list_push(&order, tk->plugins.items[pick]) != TN_OK)
            goto fail;
    }
    free(placed);
    tk_list_clear(&tk->order);
    tk->order = order;
    return TN_OK;

fail:
    free(placed);
    tk_list_clear(&order);
    return rc;
}

int tk_load(tk_kit *tk, const tn_plugin_desc *desc)
{
    tn_plugin *p = calloc(1, sizeof *p);
    int rc = TN_ENOMEM;
    int pushed = 0;
    if (p == NULL)
        goto fail;
    p->tk = tk;
    rc = desc_read(tk, desc, &p->desc);
    if (rc != TN_OK)
        goto fail;
    if (tk_find_plugin(tk, p->desc.name) != NULL) {
        tk_log_kit(tk, TN_LOG_ERROR, "plugin %s is already loaded", p->desc.name);
        rc = TN_EEXIST;
        goto fail;
    }
    rc = tk_schema_validate(tk, &p->desc);
    if (rc != TN_OK)
        goto fail;
    rc = tk_plugin_settings_bind(tk, p); /* plugins.NAME, before init() reads it */
    if (rc != TN_OK)
        goto fail;
    for (const char *const *d = p->desc.depends; d != NULL && *d != NULL; d++) {
        if (tk_find_plugin(tk, *d) == NULL) {
            tk_log_kit(tk, TN_LOG_ERROR, "plugin %s depends on %s, which is not loaded",
                       p->desc.name, *d);
            rc = TN_ENOTFOUND;
            goto fail;
        }
    }
    p->load_index = tk->plugins.n;
    rc = tk_list_push(&tk->plugins, p);
    if (rc != TN_OK)
        goto fail;
    pushed = 1;
    rc = compute_order(tk);
    if (rc != TN_OK) {
        tk_log_kit(tk, TN_LOG_ERROR, "plugin %s refused: before/after form a cycle", p->desc.name);
        goto fail;
    }
    tk->dirty = 1;

    tn_plugin *saved;
    tk->registering = p;
    p->last_error[0] = '\0';
    tk_enter(tk, p, &saved);
    int init_rc = p->desc.init(p, &tk->api);
    tk_leave(tk, saved);
    tk->registering = NULL;
    if (init_rc != 0) {
        /* It stays listed (it may have registered things) but counts as
         * disabled for every tenant: the host refuses the generation. */
        p->failed = 1;
        /* As the host: the last failed 1.2 call (a missing interface) says why. */
        tk_log_kit(tk, TN_LOG_ERROR, "plugin %s: init() returned %d%s%s", p->desc.name, init_rc,
                   p->last_error[0] ? ": " : "", p->last_error);
        return TN_ESTATE;
    }
    return TN_OK;

fail:
    if (pushed) {
        tk->plugins.n--;
        compute_order(tk);
    }
    host_tn_config_free(p->global_cfg);
    free(p);
    return rc;
}

void tk_free(tk_kit *tk)
{
    if (tk == NULL)
        return;
    tk_pending_cancel_all(tk);
    for (size_t i = tk->plugins.n; i > 0; i--) {
        tn_plugin *p = tk->plugins.items[i - 1];
        if (p->failed || p->desc.fini == NULL)
            continue;
        tn_plugin *saved;
        tk_enter(tk, p, &saved);
        p->desc.fini(p);
        tk_leave(tk, saved);
    }
    tk_txs_free(tk); /* what the plugins left open is rolled back */
    tk_limits_free(tk);
    tk_jobs_free(tk);
    for (size_t i = 0; i < tk->requests.n; i++)
        tk_request_destroy(tk->requests.items[i]);
    tk_list_clear(&tk->requests);
    tk_routes_free(tk);
    tk_events_free(tk);
    tk_db_free(tk);
    tk_timers_free(tk);
    tk_metrics_free(tk);
    tk_settings_free(tk);
    tk_logs_free(tk);
    tk_secrets_free(tk);
    tk_plugin_settings_free(tk);
    tk_outbound_free(tk);
    tk_commands_free(tk);
    for (size_t i = 0; i < tk->plugins.n; i++) {
        tk_ifaces_free(tk->plugins.items[i]);
        free(tk->plugins.items[i]);
    }
    tk_list_clear(&tk->plugins);
    tk_list_clear(&tk->order);
    free(tk);
}
