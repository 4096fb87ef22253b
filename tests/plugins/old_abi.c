/*
 * old_abi - a TEST-ONLY plugin that poses as one built against an older SDK
 * minor: its descriptor is a hand-built struct that stops before the
 * trailing reserved[] members of today's tn_plugin_desc, with that shorter
 * size and abi_minor 0.  The host must read only `size` bytes (plugin.h) and
 * still load it and serve GET /old.
 *
 * The short descriptor sits at the start of a larger object whose tail is
 * filled with 0xA5, where today's reserved[] would be: a host that reads past
 * `size` sees non-zero "reserved" pointers instead of a clean zero, and a
 * host that insists they are zero would refuse the plugin.
 *
 * It has no settings on purpose: old_keys covers an old settings layout, so
 * each compatibility rule fails its own test.
 */
#include <tanomu/tanomu.h>

#include <stddef.h>
#include <stdint.h>

static const tn_api *api;

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void);

/* Today's tn_plugin_desc up to and including fini, member for member. */
typedef struct old_plugin_desc {
    uint32_t size;
    uint16_t abi_major;
    uint16_t abi_minor;
    const char *name;
    const char *version;
    const char *description;
    const char *const *depends;
    const char *const *before;
    const char *const *after;
    const tn_config_key *settings;
    int (*check)(const tn_api *api, const tn_config *cfg, tn_check *chk);
    int (*init)(tn_plugin *self, const tn_api *api);
    void (*fini)(tn_plugin *self);
} old_plugin_desc;

/* Fail the build, not the test, if the layouts ever drift apart. */
_Static_assert(sizeof(old_plugin_desc) < sizeof(tn_plugin_desc),
               "the old descriptor must be shorter than today's");
_Static_assert(offsetof(old_plugin_desc, fini) == offsetof(tn_plugin_desc, fini),
               "the old descriptor must be a prefix of today's");

static tn_status h_old(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    api->resp_json(req, 200, "{\"old\":true}");
    return TN_DONE;
}

static int old_init(tn_plugin *self, const tn_api *a)
{
    api = a;
    return api->route_add(self, "GET", "/old", TN_ACCESS_PUBLIC, NULL, h_old, NULL);
}

static const struct {
    old_plugin_desc desc;
    unsigned char poison[sizeof(tn_plugin_desc) - sizeof(old_plugin_desc)];
} old = {
    .desc =
        {
            .size = sizeof(old_plugin_desc),
            .abi_major = TN_SDK_ABI_MAJOR,
            .abi_minor = 0,
            .name = "old_abi",
            .version = "0.0.1-test",
            .description = "Test-only: a descriptor from an older SDK minor",
            .init = old_init,
        },
/* Designated range initialisers are a GNU extension; spell the bytes out
     * via a repeat macro instead so the file stays C17. */
#define P4 0xA5, 0xA5, 0xA5, 0xA5
#define P16 P4, P4, P4, P4
#define P64 P16, P16, P16, P16
    .poison = {P64},
#undef P64
#undef P16
#undef P4
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    /* The host only reads the first old.desc.size bytes through this pointer;
     * the file is built with -fno-strict-aliasing like the rest of the tree. */
    return (const tn_plugin_desc *)(const void *)&old;
}
