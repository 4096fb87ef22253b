/*
 * cli.c - the auth plugin's command line (ABI 1.2 command_add):
 *
 *   tanomu user add -c FILE --tenant T --login L --role R[,R...] [--buyer B]
 *                   [--email E]
 *
 * creates an account, reading its password from the first line of
 * standard input: never from argv, which `ps` and shell histories show
 * (there is no option for it).  This is how the first admin of a tenant
 * is made, and the only way to give platform_admin (issue 8).  The
 * password goes through the tenant's policy like any other (password.c),
 * each refusal naming its reason; the Argon2id hash is computed in the
 * plugin's capped thread pool (pool.c), as at login; the row is inserted
 * in a transaction bound to tenant T (tx_begin), so row-level security
 * checks it as for a request, with an audit_log row in the same
 * transaction (tx_audit, actor "cli": no request exists).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "email.h"

#define CLI_USAGE                                                                                  \
    "add --tenant T --login L --role R[,R...] [--buyer B] [--email E]  (password on stdin)"
#define CLI_TENANT_MAX 64
#define CLI_ROLES_MAX 64
#define CLI_BUYER_MAX 128

typedef struct add_op {
    auth_job job; /* first: the pool hands it back */
    auth_ctx *ctx;
    tn_command *cmd;
    char tenant[CLI_TENANT_MAX + 1];
    char login[AUTH_LOGIN_MAX + 1];
    char roles[CLI_ROLES_MAX + 1];
    char buyer[CLI_BUYER_MAX + 1];
    int has_buyer;
    char email[AUTH_EMAIL_MAX + 1]; /* normalised; "" when none */
    char *norm;                     /* the normalised password, wiped after hashing */
    size_t norm_len;
    int hash_rc;
    char hash[AUTH_PW_HASH_MAX];
    char user_id[40];
} add_op;

static void op_end(add_op *op, int ok, const char *msg)
{
    op->ctx->api->command_done(op->cmd, ok, msg);
    if (op->norm) {
        sodium_memzero(op->norm, op->norm_len);
        free(op->norm);
    }
    sodium_memzero(op, sizeof *op);
    free(op);
}

static int copy_arg(char *dst, size_t cap, const char *v)
{
    size_t n = v ? strlen(v) : 0;

    if (n == 0 || n >= cap)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return -1;
    memcpy(dst, v, n + 1);
    return 0;
}

/* Each of "a,b" a known role, no repeats; buyer exactly with --buyer. */
static const char *roles_check(const add_op *op)
{
    static const char *const known[] = {"tenant_admin", "staff", "buyer", "platform_admin"};
    int seen[4] = {0}, buyer = 0;
    const char *s = op->roles;

    while (*s) {
        size_t n = strcspn(s, ","), k;
        for (k = 0; k < 4; k++)
            if (strlen(known[k]) == n && strncmp(known[k], s, n) == 0)
                break;
        if (k == 4 || seen[k]++)
            return "--role: one or more of tenant_admin, staff, buyer, platform_admin, "
                   "comma-separated, no repeats";
        buyer |= k == 2;
        s += n;
        if (*s == ',' && *++s == '\0')
            return "--role: a trailing comma";
    }
    if (buyer != op->has_buyer)
        return "--buyer goes with the buyer role, and only with it";
    return NULL;
}

/* Options into op; NULL, or why not. */
static const char *parse_add(add_op *op, const tn_command_args *a)
{
    int i, tenant = 0, login = 0, role = 0;

    for (i = 1; i < a->argc; i++) {
        const char *o = a->argv[i], *v = i + 1 < a->argc ? a->argv[i + 1] : NULL;
        if (strcmp(o, "--tenant") == 0) {
            if (copy_arg(op->tenant, sizeof op->tenant, v) != 0)
                return "--tenant: a tenant ID";
            tenant = 1;
        } else if (strcmp(o, "--login") == 0) {
            if (copy_arg(op->login, sizeof op->login, v) != 0)
                return "--login: 1 to 254 bytes, no control characters";
            login = 1;
        } else if (strcmp(o, "--role") == 0) {
            if (copy_arg(op->roles, sizeof op->roles, v) != 0)
                return "--role: a role name";
            role = 1;
        } else if (strcmp(o, "--buyer") == 0) {
            if (copy_arg(op->buyer, sizeof op->buyer, v) != 0)
                return "--buyer: 1 to 128 bytes, no control characters";
            op->has_buyer = 1;
        } else if (strcmp(o, "--email") == 0) {
            if (v == NULL || auth_email_normalize(v, strlen(v), op->email) != 0)
                return "--email: an e-mail address (local@example.com; the domain in ASCII)";
        } else {
            return "unknown option (the password is read from standard input, never from "
                   "the command line); usage: tanomu user " CLI_USAGE;
        }
        i++;
    }
    if (!tenant || !login || !role)
        return "--tenant, --login and --role are required; usage: tanomu user " CLI_USAGE;
    return roles_check(op);
}

/* ---- the database ------------------------------------------------------------ */

static void committed(tn_tx *tx, const tn_db_result *res, void *ud)
{
    add_op *op = ud;
    const tn_api *api = op->ctx->api;
    char msg[512];

    (void)tx;
    if (api->db_status(res) != TN_OK) {
        snprintf(msg, sizeof msg, "the user was not created: commit failed (status %d, %s)",
                 api->db_status(res), api->db_sqlstate(res));
        op_end(op, 0, msg);
        return;
    }
    snprintf(msg, sizeof msg, "user %s created in tenant %s with role %s (id %s)", op->login,
             op->tenant, op->roles, op->user_id);
    op_end(op, 1, msg);
}

static void rolled_back(tn_tx *tx, const tn_db_result *res, void *ud)
{
    (void)tx, (void)res, (void)ud;
}

static void inserted(tn_tx *tx, const tn_db_result *res, void *ud)
{
    add_op *op = ud;
    const tn_api *api = op->ctx->api;
    const char *state = api->db_sqlstate(res);
    char msg[1024];

    if (api->db_status(res) != TN_OK || api->db_rows(res) != 1) {
        if (strcmp(state, "23505") == 0 && op->email[0])
            snprintf(msg, sizeof msg, "tenant %s already has a user with login %s or e-mail %s",
                     op->tenant, op->login, op->email);
        else if (strcmp(state, "23505") == 0)
            snprintf(msg, sizeof msg, "tenant %s already has a user with login %s", op->tenant,
                     op->login);
        else if (strcmp(state, "23503") == 0)
            snprintf(msg, sizeof msg,
                     "tenant %s is not registered in the database (run tanomu migrate)",
                     op->tenant);
        else
            snprintf(msg, sizeof msg, "the user was not created (status %d, sqlstate %s)",
                     api->db_status(res), state[0] ? state : "-");
        api->tx_rollback(tx, rolled_back, NULL);
        op_end(op, 0, msg);
        return;
    }
    snprintf(op->user_id, sizeof op->user_id, "%s", api->db_value(res, 0, 0));
    if (api->tx_audit(tx, "cli", "auth.user_create", "user", op->user_id, "ok") != TN_OK ||
        api->tx_commit(tx, committed, op) != TN_OK) {
        api->tx_rollback(tx, rolled_back, NULL);
        op_end(op, 0, "the user was not created: the transaction was refused");
    }
}

static void hashed(auth_job *job, int status)
{
    add_op *op = (add_op *)job;
    const tn_api *api = op->ctx->api;
    tn_tx *tx = NULL;
    char msg[300];

    if (status != TN_OK || op->hash_rc != 0) {
        op_end(op, 0, "hashing the password failed");
        return;
    }
    const char *p[6] = {op->tenant, op->login,
                        op->roles,  op->has_buyer ? op->buyer : NULL,
                        op->hash,   op->email[0] ? op->email : NULL};
    if (api->tx_begin(op->ctx->self, op->tenant, &tx) != TN_OK) {
        snprintf(msg, sizeof msg, "%s", api->last_error(op->ctx->self));
        op_end(op, 0, msg);
        return;
    }
    if (api->tx_query(tx,
                      "INSERT INTO auth_users (tenant_id, login, roles, buyer_id, password_hash, "
                      "email) VALUES ($1, $2, string_to_array($3, ','), $4, $5, $6) "
                      "RETURNING id::text",
                      6, p, inserted, op) != TN_OK) {
        snprintf(msg, sizeof msg, "%s", api->last_error(op->ctx->self));
        api->tx_rollback(tx, rolled_back, NULL);
        op_end(op, 0, msg);
    }
}

static void hash_work(auth_job *job)
{
    add_op *op = (add_op *)job;

    op->hash_rc = auth_pw_hash(op->norm, op->norm_len, op->hash);
    sodium_memzero(op->norm, op->norm_len);
}

/* ---- the command ------------------------------------------------------------- */

static tn_status fail(const tn_api *api, tn_command *cmd, const char *msg)
{
    api->command_done(cmd, 0, msg);
    return TN_ERROR;
}

static tn_status cmd_user(tn_plugin *self, tn_command *cmd, const tn_command_args *a, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    const tn_config *cfg;
    const char *why, *reason = NULL, *pw;
    auth_settings set;
    auth_policy pol;
    size_t len;
    char msg[300];
    add_op *op;
    int rc;

    (void)self;
    if (a->argc < 1 || strcmp(a->argv[0], "add") != 0)
        return fail(api, cmd, "usage: tanomu user " CLI_USAGE);
    if ((op = calloc(1, sizeof *op)) == NULL)
        return fail(api, cmd, "out of memory");
    op->ctx = ctx;
    op->cmd = cmd;
    if ((why = parse_add(op, a)) != NULL) {
        op_end(op, 0, why);
        return TN_ERROR;
    }
    if ((cfg = api->tenant_config(ctx->self, op->tenant)) == NULL) {
        snprintf(msg, sizeof msg, "no tenant %s in the configuration", op->tenant);
        op_end(op, 0, msg);
        return TN_ERROR;
    }
    /* The first line of standard input, without its line ending. */
    pw = a->stdin_data ? a->stdin_data : "";
    len = strcspn(pw, "\n");
    if (len > 0 && pw[len - 1] == '\r')
        len--;
    if ((op->norm = auth_pw_normalize(pw, len, &op->norm_len, &reason)) == NULL) {
        snprintf(msg, sizeof msg, "password refused (%s): %s%s", reason,
                 auth_pw_reason_message(reason),
                 strcmp(reason, "empty") == 0 ? " (give it on the first line of standard input)"
                                              : "");
        op_end(op, 0, msg);
        return TN_ERROR;
    }
    auth_settings_read(ctx, cfg, &set);
    pol.min_length = set.min_length;
    pol.login = op->login;
    pol.email = op->email[0] ? op->email : NULL;
    pol.words = set.words;
    if ((reason = auth_pw_check(&ctx->pw, &pol, op->norm, op->norm_len)) != NULL) {
        snprintf(msg, sizeof msg, "password refused (%s): %s", reason,
                 auth_pw_reason_message(reason));
        op_end(op, 0, msg);
        return TN_ERROR;
    }
    rc = auth_pool_submit(&ctx->pool, &op->job, hash_work, hashed);
    if (rc != TN_OK) {
        op_end(op, 0, "the hashing pool refused the work");
        return TN_ERROR;
    }
    return TN_SUSPEND;
}

int auth_cli_add(auth_ctx *ctx)
{
    if (!TN_API_HAS(ctx->api, tx_audit)) /* the audit row is not optional (S20) */
        return TN_OK;
    return ctx->api->command_add(ctx->self, "user", CLI_USAGE, TN_COMMAND_STDIN, cmd_user, ctx);
}
