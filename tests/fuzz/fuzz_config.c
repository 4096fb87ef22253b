/*
 * fuzz_config.c - a tenant file from the fuzzer through the host's whole
 * configuration path (S10, A6): libconfig's parser, our typed reads, the
 * unknown-key checks and the features binding.  Whatever the text, the
 * result is a list of errors or a configuration, never a crash or a leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "errors.h"
#include "log.h"
#include "plugin_loader.h"
#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char main_conf[] = "server: { listen = [\"127.0.0.1:1\"]; admin_listen = \"\"; };\n"
                                "plugins: { dir = \"/nonexistent\"; load = []; };\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    host_source files[2];
    host_snapshot snap = {.files = files, .count = 2};
    host_plugins ps;
    host_config conf;
    host_errors errs;
    char *text;

    if (size > 65536 || memchr(data, '\0', size))
        return 0; /* the snapshot reader refuses NUL bytes before parsing */
    if (!(text = malloc(size + 1)))
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    files[0].path = "/fuzz/tanomu.conf";
    files[0].text = (char *)main_conf;
    files[1].path = "/fuzz/tenants/t.conf";
    files[1].text = text;
    memset(&ps, 0, sizeof ps);
    host_log_setup(TN_LOG_ERROR + 1, 0, "fuzz");
    host_errors_init(&errs);
    host_config_parse(&snap, &conf, &errs);
    host_config_bind(&conf, &ps, &host_api, 1, &errs);
    host_config_free(&conf);
    host_errors_free(&errs);
    free(text);
    return 0;
}
