/*
 * sso_line.h - what the parts of the sso_line plugin share: the worker's
 * context and a tenant's settings as one request reads them.
 */
#ifndef SSO_LINE_H
#define SSO_LINE_H

#include <tanomu/tanomu.h>

#include "tanomu_auth.h"

#define LINE_CALLBACK_PATH "/auth/line/callback"

typedef struct line_ctx {
    const tn_api *api;
    tn_plugin *self;
    const tanomu_auth_sessions *auth; /* the auth plugin's sessions */
    tn_metric *logins, *refusals;
    tn_limit *zone; /* "start": per client address and tenant */
    /* native.c: the last JWKS fetched (LINE's, shared by tenants), malloc'd */
    char *jwks_url, *jwks;
    long long jwks_at; /* Unix seconds */
} line_ctx;

typedef struct line_settings {
    const char *channel_id, *channel_secret, *redirect_base;
    int allow_signup;
    const char *signup_role, *scope, *prompt, *bot_prompt, *ui_locales;
    const char *authorize_endpoint, *token_endpoint, *issuer;
    int skew_s;
    int native_login;
    const char *jwks_endpoint;
} line_settings;

void line_settings_read(const line_ctx *ctx, tn_request *req, line_settings *s);

/* Handlers (start.c: start and link; callback.c: the callback). */
tn_status line_h_start(tn_plugin *self, tn_request *req, void *ud);
tn_status line_h_link(tn_plugin *self, tn_request *req, void *ud);
tn_status line_h_unlink(tn_plugin *self, tn_request *req, void *ud);
tn_status line_h_callback(tn_plugin *self, tn_request *req, void *ud);
/* native.c: ID tokens from native apps (ES256, LINE's JWKS). */
tn_status line_h_native_nonce(tn_plugin *self, tn_request *req, void *ud);
tn_status line_h_native(tn_plugin *self, tn_request *req, void *ud);
/* callback.c: from a verified subject to a session (or 403 not_linked,
 * or a sign-up), answered and resumed; TN_OK or an error (nothing run). */
int line_sign_in_sub(line_ctx *ctx, tn_request *req, const char *sub);

/* Takes one unit of the start zone: 0, or -1 after answering 429. */
int line_take(line_ctx *ctx, tn_request *req);
/* resp_json of a jansson value (stolen); 500 when out of memory. */
void line_answer(const tn_api *api, tn_request *req, int status, void *json);
/* security.important_operation for the notifications plugin, in the
 * request's transaction. */
int line_publish(const tn_api *api, tn_request *req, const char *user_id, const char *operation);

#endif
