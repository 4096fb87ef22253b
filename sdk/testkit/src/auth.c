/*
 * auth.c - req_set_auth and req_auth (ABI 1.2) in the testkit.
 *
 * The checks and the copy are the host's (host/core/auth_info.c); the
 * copy lives in the request's arena.  The route options are enforced in
 * dispatch.c's access step, on the kit's wall clock (tk_set_unix_time).
 */
#include "tk_internal.h"

static void *arena_alloc(void *ctx, size_t n)
{
    return tk_req_arena_alloc(ctx, n);
}

int tk_api_req_set_auth(tn_request *req, const tn_auth_info *info)
{
    if (req == NULL)
        return TN_EINVAL;
    tn_plugin *p = req->in_call;
    /* As req_set_principal: a hook that suspended (a database lookup)
     * sets both from its callback, still in the authenticate phase. */
    if ((req->state != TK_REQ_RUNNING && req->state != TK_REQ_SUSPENDED) ||
        req->step != TK_STEP_AUTHENTICATE || req->user == NULL || req->auth != NULL)
        return tk_plugin_fail(p, TN_ESTATE,
                              "req_set_auth: only once, in the authenticate phase, after "
                              "req_set_principal");
    int rc = host_auth_info_copy(info, arena_alloc, req, &req->auth);
    if (rc == TN_EINVAL)
        return tk_plugin_fail(p, rc,
                              "req_set_auth: invalid (size, method [a-z0-9_]{1,32}, "
                              "auth_time >= 0, session_hash hex, attrs)");
    return rc == TN_OK ? TN_OK : tk_plugin_fail(p, rc, "req_set_auth: out of memory");
}

const tn_auth_info *tk_api_req_auth(const tn_request *req)
{
    return req ? req->auth : NULL;
}
