/*
 * auth_api.c - req_set_auth and req_auth (ABI 1.2).
 *
 * The authenticate hook that set the principal says how and when the user
 * authenticated; the copy lives in the request's arena, so the plugin's
 * strings need not outlive the call.  The pipeline's access step checks
 * route options against it (auth_info.c), the same rule as the testkit's.
 */
#include "auth_api.h"

#include "auth_info.h"
#include "pipeline.h"
#include "plugin_loader.h"
#include "request.h"

static void *arena_alloc(void *ctx, size_t n)
{
    tn_request *r = ctx;

    return host_arena_alloc(&r->arena, n);
}

int host_api_req_set_auth(tn_request *r, const tn_auth_info *info)
{
    tn_plugin *p;
    int rc;

    if (!r)
        return TN_EINVAL;
    p = host_pipeline_hook_plugin(r);
    /* S11: only the authenticate phase says who is calling, and how; once,
     * and only for the principal it set. */
    if (!host_pipeline_in_phase(r, TN_PHASE_AUTHENTICATE) || !r->user_id || r->auth)
        return host_plugin_fail(p, TN_ESTATE,
                                "req_set_auth: only once, in the authenticate phase, after "
                                "req_set_principal");
    rc = host_auth_info_copy(info, arena_alloc, r, &r->auth);
    if (rc == TN_EINVAL)
        return host_plugin_fail(p, rc,
                                "req_set_auth: invalid (size, method [a-z0-9_]{1,32}, "
                                "auth_time >= 0, session_hash hex, attrs)");
    return rc == TN_OK ? TN_OK : host_plugin_fail(p, rc, "req_set_auth: out of memory");
}

const tn_auth_info *host_api_req_auth(const tn_request *r)
{
    return r ? r->auth : NULL;
}
