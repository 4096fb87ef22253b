/*
 * authprobe - a TEST-ONLY plugin for authentication details and route
 * options (ABI 1.2), for tests/integration/test_principal.py.
 *
 * Its authenticate hook TRUSTS REQUEST HEADERS for the principal and how
 * it authenticated, which is acceptable only because this plugin is never
 * installed (build/test-plugins):
 *   X-Auth-User, X-Auth-Roles       req_set_principal
 *   X-Auth-Method                   with it, req_set_auth, from:
 *   X-Auth-Time                     Unix seconds
 *   X-Auth-Mfa                      present: MFA passed
 *   X-Auth-Session                  session_hash (hex)
 *   X-Auth-Buyer                    attribute buyer_id
 * The hook answers req_set_auth's code in X-Authprobe-Set.
 *
 *   GET  /authprobe/me       authenticated: what req_auth() gives
 *   POST /authprobe/email    authenticated, re-authentication within 300 s (S6, S9)
 *   GET  /authprobe/admin    role tenant_admin, MFA passed (S13)
 *   POST /authprobe/payment  role tenant_admin, both
 *   GET  /authprobe/platform role platform_admin only (open in maintenance mode)
 */
#include <tanomu/tanomu.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const tn_api *api;

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void);

static tn_status authenticate(tn_plugin *self, tn_request *req, void *ud)
{
    const char *user = api->req_header(req, "X-Auth-User");
    const char *method = api->req_header(req, "X-Auth-Method");
    const char *at = api->req_header(req, "X-Auth-Time");
    const char *buyer = api->req_header(req, "X-Auth-Buyer");
    tn_attr attrs[1] = {{"buyer_id", buyer}};
    tn_auth_info info = {.size = sizeof info,
                         .method = method,
                         .auth_time = at ? strtoll(at, NULL, 10) : 0,
                         .mfa_passed = api->req_header(req, "X-Auth-Mfa") != NULL,
                         .session_hash = api->req_header(req, "X-Auth-Session"),
                         .attrs = attrs,
                         .nattrs = buyer ? 1 : 0};
    char rc[16];

    (void)ud;
    if (!user)
        return TN_CONTINUE;
    if (api->req_set_principal(req, user, api->req_header(req, "X-Auth-Roles")) != TN_OK)
        return TN_ERROR;
    if (!method)
        return TN_CONTINUE;
    snprintf(rc, sizeof rc, "%d", api->req_set_auth(req, &info));
    api->resp_header(req, "X-Authprobe-Set", rc);
    if (strcmp(rc, "0") != 0)
        api->log(self, TN_LOG_WARN, "req_set_auth: %s", api->last_error(self));
    return TN_CONTINUE;
}

static tn_status h_me(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_auth_info *a = api->req_auth(req);
    const char *buyer = tn_auth_attr(a, "buyer_id");
    char body[512];

    (void)self;
    if (!a) {
        snprintf(body, sizeof body, "{\"route\":\"%s\",\"user\":\"%s\",\"auth\":null}",
                 (const char *)ud, api->req_principal(req));
    } else {
        /* Test values are plain [A-Za-z0-9_-]: no JSON escaping needed. */
        snprintf(body, sizeof body,
                 "{\"route\":\"%s\",\"user\":\"%s\",\"auth\":{\"method\":\"%s\","
                 "\"auth_time\":%lld,\"mfa_passed\":%s,\"session_hash\":\"%s\","
                 "\"buyer_id\":\"%s\"}}",
                 (const char *)ud, api->req_principal(req), a->method, (long long)a->auth_time,
                 a->mfa_passed ? "true" : "false", a->session_hash ? a->session_hash : "",
                 buyer ? buyer : "");
    }
    return api->resp_json(req, 200, body) == TN_OK ? TN_DONE : TN_ERROR;
}

static int authprobe_init(tn_plugin *self, const tn_api *a)
{
    static const tn_route_opts reauth = {.size = sizeof reauth, .max_auth_age_s = 300};
    static const tn_route_opts mfa = {.size = sizeof mfa, .need_mfa = 1};
    static const tn_route_opts both = {.size = sizeof both, .need_mfa = 1, .max_auth_age_s = 300};
    int rc;

    api = a;
    if (!TN_API_HAS(a, route_add_opts) || !TN_API_HAS(a, req_set_auth))
        return TN_ESTATE;
    rc = a->hook_add(self, TN_PHASE_AUTHENTICATE, authenticate, NULL);
    if (rc == TN_OK)
        rc = a->route_add(self, "GET", "/authprobe/me", TN_ACCESS_AUTHENTICATED, NULL, h_me, "me");
    if (rc == TN_OK)
        rc = a->route_add_opts(self, "POST", "/authprobe/email", TN_ACCESS_AUTHENTICATED, NULL,
                               h_me, "email", &reauth);
    if (rc == TN_OK)
        rc = a->route_add_opts(self, "GET", "/authprobe/admin", TN_ACCESS_ROLES, "tenant_admin",
                               h_me, "admin", &mfa);
    if (rc == TN_OK)
        rc = a->route_add_opts(self, "POST", "/authprobe/payment", TN_ACCESS_ROLES, "tenant_admin",
                               h_me, "payment", &both);
    if (rc == TN_OK)
        rc = a->route_add(self, "GET", "/authprobe/platform", TN_ACCESS_ROLES, "platform_admin",
                          h_me, "platform");
    /* Refused, so the log says why (the test reads it). */
    if (rc == TN_OK && a->route_add_opts(self, "GET", "/authprobe/public", TN_ACCESS_PUBLIC, NULL,
                                         h_me, "public", &mfa) != TN_EINVAL)
        rc = TN_EINVAL;
    if (rc != TN_OK)
        a->log(self, TN_LOG_ERROR, "init: %d %s", rc, a->last_error(self));
    return rc;
}

static const tn_plugin_desc desc = {
    .size = sizeof desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "authprobe",
    .version = "0.1.0-test",
    .description = "Test-only: authentication details and route options over HTTP",
    .init = authprobe_init,
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &desc;
}
