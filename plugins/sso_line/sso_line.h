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
} line_ctx;

typedef struct line_settings {
    const char *channel_id, *channel_secret, *redirect_base;
    int allow_signup;
    const char *signup_role, *scope, *prompt, *bot_prompt, *ui_locales;
    const char *authorize_endpoint, *token_endpoint, *issuer;
    int skew_s;
} line_settings;

void line_settings_read(const line_ctx *ctx, tn_request *req, line_settings *s);

/* Handlers (start.c: start and link; callback.c: the callback). */
tn_status line_h_start(tn_plugin *self, tn_request *req, void *ud);
tn_status line_h_link(tn_plugin *self, tn_request *req, void *ud);
tn_status line_h_unlink(tn_plugin *self, tn_request *req, void *ud);
tn_status line_h_callback(tn_plugin *self, tn_request *req, void *ud);

/* resp_json of a jansson value (stolen); 500 when out of memory. */
void line_answer(const tn_api *api, tn_request *req, int status, void *json);
/* security.important_operation for the notifications plugin, in the
 * request's transaction. */
int line_publish(const tn_api *api, tn_request *req, const char *user_id, const char *operation);

#endif
