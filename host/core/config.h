/*
 * config.h - the host's configuration: tanomu.conf and one file per tenant.
 *
 * Loading happens in two steps.  host_config_snapshot() reads the text of
 * every file once; host_config_parse() builds the structures from that
 * text.  The master keeps the snapshot of the running generation, so a
 * worker restarted after a crash gets exactly the configuration its
 * siblings run, even if someone has since edited the files on disk.
 *
 * Plugin feature sections of tenant files stay unparsed here (they need the
 * plugins' schemas): host_config_bind() in settings.c does that part.
 */
#ifndef HOST_CONFIG_H
#define HOST_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <libconfig.h>

#include "breaker.h"
#include "config_limits.h"
#include "errors.h"
#include "maintenance.h"
#include "secrets_conf.h"

typedef struct host_source {
    char *path;
    char *text;
} host_source;

typedef struct host_snapshot {
    host_source *files; /* [0] is tanomu.conf, then tenant files, sorted */
    int count;
    host_keyring *keyring; /* secrets.keyring_dir's keys, read with the files */
    /* `tanomu check`: do not read the database URL files (url_file,
     * owner_url_file); their paths go to host_db_conf's *_unchecked, so a
     * build step can check a configuration without the database's secrets. */
    int url_files_unchecked;
} host_snapshot;

typedef struct host_limits {
    size_t header_bytes;
    int headers;
    size_t body_bytes;
    uint64_t header_timeout_ms;
    uint64_t keepalive_timeout_ms;
    uint64_t send_timeout_ms; /* queued response bytes without progress; 0: none */
} host_limits;

typedef struct host_strlist {
    char **v;
    int n;
} host_strlist;

typedef struct host_db_conf {
    char *url;       /* app role; from url or url_file; NULL: none */
    char *owner_url; /* migrations; from owner_url or owner_url_file */
    int pool_size;
    int queue_max;
    uint64_t queue_timeout_ms;
    uint64_t statement_timeout_ms;
    char *migrations_dir;
    char *plugin_migrations_dir; /* NAME/migrations under it */
    int outbox_batch;
    int outbox_max_attempts;
    uint64_t outbox_backoff_ms;
    uint64_t outbox_max_backoff_ms;
    uint64_t outbox_sweep_ms;
    /* With snap->url_files_unchecked: the URL files not read, NULL if none. */
    char *url_file_unchecked;
    char *owner_url_file_unchecked;
} host_db_conf;

typedef struct host_server_conf {
    host_strlist listen;
    char *admin_listen;
    int workers;
    char *pid_file;
    uint64_t drain_timeout_ms;
    uint64_t reload_timeout_ms;
    host_limits limits;
    host_breaker_conf breaker; /* server.breaker: crash circuit breaker */
    int tls_enabled;
    host_strlist tls_listen;
    char *tls_cert;
    char *tls_key;
    int log_level;
    int log_access;
    char *plugin_dir;
    host_strlist plugin_load;
    int plugin_load_line; /* where plugins.load is, for loader errors */
    char *tenants_dir;
    host_db_conf db;
    host_secrets_conf secrets;         /* secrets: the keyring, require_sealed */
    host_rate_limits_conf rate_limits; /* rate_limits { }: config_limits.h */
} host_server_conf;

/* A plugin's settings for one tenant, bound by runtime/settings.c. */
typedef struct host_feature {
    int enabled;
    struct tn_config *cfg;
} host_feature;

typedef struct host_tenant {
    char *id;
    char *file;
    host_strlist hosts;
    char *csp;
    char *referrer_policy;
    char *hsts;
    config_t cfg; /* kept until features are bound (line numbers) */
    int cfg_live;
    host_feature *features; /* one per loaded plugin, by plugin index */
    int nfeatures;
    host_maint_conf maint; /* tenant.maintenance: this tenant alone */
} host_tenant;

/* outbound { ... }: the egress policy and limits of plugins' outbound
 * calls (net/egress.c, net/outbound.c, runtime/outbound_api.c). */
typedef struct host_outbound_conf {
    host_strlist allow;      /* "host:port" exceptions (loopback peers, plain http) */
    char *ca_file;           /* a CA file trusted besides the system's; NULL: none */
    uint64_t max_timeout_ms; /* cap on a call's timeout */
    size_t max_response;     /* body cap of a call that does not set one */
    int max_per_plugin;      /* calls in flight per plugin in one worker */
    int queue_max;           /* calls waiting beyond that, per plugin; more: TN_EBUSY */
} host_outbound_conf;

typedef struct host_config {
    char *path; /* tanomu.conf as given */
    char *dir;  /* its directory: base of relative paths */
    host_server_conf server;
    host_tenant *tenants;
    int ntenants;
    /* tanomu.conf, kept for its plugins.NAME sections; on the heap, so that
     * a host_config copied by value (the master's reload) stays valid. */
    config_t *main_cfg;
    host_outbound_conf outbound;
    host_maint_conf maint; /* maintenance { }: every tenant (maintenance.h) */
} host_config;

int host_config_snapshot(const char *path, host_snapshot *snap, host_errors *errs);
void host_snapshot_free(host_snapshot *snap);

/* Fills conf from snap; returns 0, or -1 with errs filled. */
int host_config_parse(const host_snapshot *snap, host_config *conf, host_errors *errs);
void host_config_free(host_config *conf);

const host_tenant *host_config_tenant_by_host(const host_config *conf, const char *host,
                                              size_t len);
char *host_path_join(const char *dir, const char *path);

void host_features_free(host_tenant *t);

#endif
