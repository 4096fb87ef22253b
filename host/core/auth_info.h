/*
 * auth_info.h - how the principal authenticated (tn_auth_info) and what a
 * route demands of it (tn_route_opts), ABI 1.2: the rules the host and the
 * testkit share, so a plugin's unit tests refuse what production refuses.
 *
 * Both structs are size-first: a plugin built against an older 1.2 header
 * passes a smaller size, and only the members that size covers are read.
 */
#ifndef HOST_AUTH_INFO_H
#define HOST_AUTH_INFO_H

#include <stddef.h>
#include <stdint.h>

#include <tanomu/tanomu.h>

/* Hex digits of session_hash at most; attribute values at most. */
#define HOST_AUTH_HASH_MAX 128
#define HOST_AUTH_VALUE_MAX 256
/* How far in the future an auth_time may lie (clocks of two nodes) and
 * still count as "now"; past that it is refused as if too old. */
#define HOST_AUTH_CLOCK_SKEW_S 60

/* Allocates n bytes that live as long as the request (arena). */
typedef void *(*host_auth_alloc_fn)(void *ctx, size_t n);

/* Checks `in` and copies it, strings and attributes included, with
 * alloc(ctx, n): *out gets a tn_auth_info of this build's size, reserved
 * zero.  TN_EINVAL when a field breaks its rule (api.h), TN_ENOMEM. */
int host_auth_info_copy(const tn_auth_info *in, host_auth_alloc_fn alloc, void *ctx,
                        const tn_auth_info **out);

/* A route's options as the router keeps them. */
typedef struct host_route_opts {
    int need_mfa;
    uint32_t max_auth_age_s;
} host_route_opts;

/* Reads opts (NULL: none) into *out.  TN_EINVAL for too small a size, a
 * non-zero reserved slot or non-zero bytes past this build's struct (an
 * option this host does not know: refused, never ignored), or options on
 * a TN_ACCESS_PUBLIC route (they would read like a check that never
 * happens). */
int host_route_opts_read(const tn_route_opts *opts, tn_access access, host_route_opts *out);

/* After the access check passed: NULL to go on, else the error code of a
 * 401 ("mfa_required" first, then "reauth_required").  auth NULL (the
 * hook set no details) fails every option; now is Unix seconds. */
const char *host_route_opts_refusal(const host_route_opts *ro, const tn_auth_info *auth,
                                    int64_t now);

/* The message that goes with the code above. */
const char *host_route_opts_message(const char *code);

#endif
