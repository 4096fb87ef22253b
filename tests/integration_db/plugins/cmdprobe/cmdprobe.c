/*
 * cmdprobe - a TEST-ONLY plugin with CLI commands (SDK 1.2 command_add),
 * for test_cli_commands.py.
 *
 *   probe TENANT ARGS...   (reads stdin) reads app.tenant_id in a
 *          transaction from tx_begin(self, TENANT) and ends from the
 *          callback with "bound B argc N last L stdin LEN".
 *   probe-fail TENANT      returns TN_ERROR after a failing tx_begin: the
 *          host prints last_error.
 * With CMDPROBE_CLASH=NAME in the environment, init() also registers
 * NAME, and fails if that is refused (a built-in's name).
 */
#include <tanomu/tanomu.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const tn_api *api;

typedef struct probe_run {
    tn_command *cmd;
    char msg[256];
} probe_run;

static void bound(tn_tx *tx, const tn_db_result *res, void *ud)
{
    probe_run *r = ud;
    char msg[300];

    if (api->db_status(res) != TN_OK || api->db_rows(res) != 1) {
        api->command_done(r->cmd, 0, "query failed");
    } else {
        snprintf(msg, sizeof msg, "bound %s %s", api->db_value(res, 0, 0), r->msg);
        api->command_done(r->cmd, 1, msg);
    }
    api->tx_rollback(tx, NULL, NULL);
    free(r);
}

static tn_status probe(tn_plugin *self, tn_command *cmd, const tn_command_args *a, void *ud)
{
    probe_run *r;
    tn_tx *tx;

    (void)ud;
    if (a->argc < 1 || a->argv[a->argc] != NULL || a->size < sizeof *a)
        return TN_ERROR;
    if (!(r = calloc(1, sizeof *r)))
        return TN_ERROR;
    r->cmd = cmd;
    snprintf(r->msg, sizeof r->msg, "argc %d last %s stdin %zu", a->argc, a->argv[a->argc - 1],
             a->stdin_data ? a->stdin_len : (size_t)0);
    if (api->tx_begin(self, a->argv[0], &tx) != TN_OK ||
        api->tx_query(tx, "SELECT current_setting('app.tenant_id', true)", 0, NULL, bound, r) !=
            TN_OK) {
        free(r);
        return TN_ERROR;
    }
    return TN_SUSPEND;
}

static tn_status probe_fail(tn_plugin *self, tn_command *cmd, const tn_command_args *a, void *ud)
{
    tn_tx *tx;

    (void)cmd, (void)ud;
    if (api->tx_begin(self, a->argc > 0 ? a->argv[0] : "nosuch", &tx) == TN_OK) {
        api->tx_rollback(tx, NULL, NULL);
        return TN_CONTINUE;
    }
    return TN_ERROR; /* the host prints last_error */
}

static int init(tn_plugin *self, const tn_api *a)
{
    const char *clash = getenv("CMDPROBE_CLASH");

    api = a;
    if (api->command_add(self, "probe", "TENANT ARGS...  (reads stdin)", TN_COMMAND_STDIN, probe,
                         NULL) != TN_OK ||
        api->command_add(self, "probe-fail", "TENANT", 0, probe_fail, NULL) != TN_OK)
        return -1;
    if (clash && *clash && api->command_add(self, clash, "", 0, probe_fail, NULL) != TN_OK)
        return -1;
    return 0;
}

static const tn_plugin_desc desc = {
    .size = sizeof desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "cmdprobe",
    .version = "1.0.0",
    .description = "test-only: CLI commands",
    .init = init,
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &desc;
}
