/*
 * api.c - the function table the testkit hands to plugins.  Every member
 * is filled, so TN_API_HAS() is true for all of them, as with a host of
 * this SDK's minor; a test may shrink the copy in its kit to play an
 * older host.  Where the host's member is pure (reading settings) it is
 * the host's function itself.
 */
#include <string.h>

#include "tk_internal.h"

#ifndef TK_VERSION
#define TK_VERSION "0"
#endif

static const char *tk_api_host_version(void)
{
    return TK_VERSION; /* the host answers its bare version, so must we */
}

static const char *tk_api_plugin_name(const tn_plugin *self)
{
    return self ? self->desc.name : NULL;
}

void tk_api_fill(tn_api *api)
{
    memset(api, 0, sizeof *api);
    api->size = sizeof *api;
    api->abi_major = TN_SDK_ABI_MAJOR;
    api->abi_minor = TN_SDK_ABI_MINOR;

    api->host_version = tk_api_host_version;
    api->plugin_name = tk_api_plugin_name;
    api->log = tk_api_log;

    api->route_add = tk_api_route_add;
    api->hook_add = tk_api_hook_add;
    api->event_subscribe = tk_api_event_subscribe;
    api->metric_counter = tk_api_metric_counter;
    api->metric_gauge = tk_api_metric_gauge;

    api->metric_add = tk_api_metric_add;
    api->metric_set = tk_api_metric_set;
    api->event_publish = tk_api_event_publish;
    api->timer_start = tk_api_timer_start;
    api->timer_stop = tk_api_timer_stop;
    api->work_queue = tk_api_work_queue;

    api->req_config = tk_api_req_config;
    api->config_tenant = host_config_tenant;
    api->config_str = tk_api_config_str;
    api->config_int = tk_api_config_int;
    api->config_bool = tk_api_config_bool;
    api->config_float = tk_api_config_float;
    api->config_is_set = host_config_is_set;
    api->check_error = tk_api_check_error;

    api->req_method = tk_api_req_method;
    api->req_path = tk_api_req_path;
    api->req_query = tk_api_req_query;
    api->req_query_param = tk_api_req_query_param;
    api->req_header = tk_api_req_header;
    api->req_cookie = tk_api_req_cookie;
    api->req_param = tk_api_req_param;
    api->req_body = tk_api_req_body;
    api->req_tenant = tk_api_req_tenant;
    api->req_id = tk_api_req_id;
    api->req_client_addr = tk_api_req_client_addr;
    api->req_route = tk_api_req_route;
    api->req_is_tls = tk_api_req_is_tls;
    api->req_set_principal = tk_api_req_set_principal;
    api->req_principal = tk_api_req_principal;
    api->req_has_role = tk_api_req_has_role;
    api->req_alloc = tk_api_req_alloc;
    api->req_strdup = tk_api_req_strdup;
    api->req_log = tk_api_req_log;
    api->req_resume = tk_api_req_resume;
    api->req_is_aborted = tk_api_req_is_aborted;

    api->resp_status = tk_api_resp_status;
    api->resp_header = tk_api_resp_header;
    api->resp_body = tk_api_resp_body;
    api->resp_json = tk_api_resp_json;
    api->resp_error = tk_api_resp_error;
    api->resp_stream_begin = tk_api_resp_stream_begin;
    api->resp_write = tk_api_resp_write;
    api->resp_end = tk_api_resp_end;

    /* ABI 1.1 */
    api->tenant_config = tk_api_tenant_config;
    api->db_query = tk_api_db_query;
    api->db_commit = tk_api_db_commit;
    api->db_rollback = tk_api_db_rollback;
    api->db_status = tk_api_db_status;
    api->db_sqlstate = tk_api_db_sqlstate;
    api->db_message = tk_api_db_message;
    api->db_rows = tk_api_db_rows;
    api->db_cols = tk_api_db_cols;
    api->db_colname = tk_api_db_colname;
    api->db_value = tk_api_db_value;
    api->db_affected = tk_api_db_affected;
    api->resp_db_error = tk_api_resp_db_error;
    api->db_publish = tk_api_db_publish;
    api->db_audit = tk_api_db_audit;
    api->event_subscribe_durable = tk_api_event_subscribe_durable;
    api->delivery_done = tk_api_delivery_done;

    /* ABI 1.2 */
    api->last_error = tk_api_last_error;
    api->free = tk_api_free;
    /* ABI 1.2: transactions outside a request */
    api->tx_begin = tk_api_tx_begin;
    api->tx_query = tk_api_tx_query;
    api->tx_commit = tk_api_tx_commit;
    api->tx_rollback = tk_api_tx_rollback;
    api->tx_publish = tk_api_tx_publish;
    api->delivery_tx = tk_api_delivery_tx;
    /* ABI 1.2: sealed secrets */
    api->secret_seal = tk_api_secret_seal;
    api->secret_unseal = tk_api_secret_unseal;
    /* ABI 1.2: rate-limit zones */
    api->limit_zone = tk_api_limit_zone;
    api->limit_take = tk_api_limit_take;
    /* ABI 1.2: scheduled jobs */
    api->job_schedule = tk_api_job_schedule;
    api->job_tenant = tk_api_job_tenant;
    api->job_tick = tk_api_job_tick;
    api->job_done = tk_api_job_done;
    api->job_history = tk_api_job_history;
    /* ABI 1.2: interfaces between plugins */
    api->iface_export = tk_api_iface_export;
    api->iface_get = tk_api_iface_get;
    /* ABI 1.2 (sdkmisc) */
    api->req_header_each = tk_api_req_header_each;
    api->plugin_config = tk_api_plugin_config;
    /* ABI 1.2: outbound calls (outbound.c) */
    api->http_call = tk_api_http_call;
    api->call_cancel = tk_api_call_cancel;
    api->curl_run = tk_api_curl_run;
    /* ABI 1.2: authentication details and route options */
    api->route_add_opts = tk_api_route_add_opts;
    api->req_set_auth = tk_api_req_set_auth;
    api->req_auth = tk_api_req_auth;
    /* ABI 1.2: CLI commands (commands.c) */
    api->command_add = tk_api_command_add;
    api->command_done = tk_api_command_done;
    api->tx_audit = tk_api_tx_audit;
}
