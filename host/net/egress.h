/*
 * egress.h - the egress policy of plugins' outbound calls, as a careful
 * forward proxy enforces it: which schemes, and which addresses may be
 * connected to.  The address rule is applied to the address actually
 * connected to (outbound.c calls it from curl's socket-open callback), so a
 * name that resolves, or is rebound, to a private address does not pass.
 */
#ifndef HOST_EGRESS_H
#define HOST_EGRESS_H

#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

/* The protocols libcurl may speak for a call (CURLOPT_PROTOCOLS_STR):
 * TLS ones, plus smtp and ftp with TLS required (CURLUSESSL_ALL), plus
 * plain http when some outbound.allow entry exists (each use is checked
 * against the entries by host_egress_url). http_only: for http_call. */
const char *host_egress_protocols(const host_outbound_conf *c, int http_only);

/* Checks a URL's scheme and destination before any connection.  0: may go
 * on, *allowlisted says whether its host:port is an outbound.allow entry
 * (then any address of it may be connected to, on *port only); -1: refused,
 * why says so (no query string in it). */
int host_egress_url(const host_outbound_conf *c, const char *url, int http_only, int *allowlisted,
                    int *port, char *why, size_t whylen);

/* 1 when sa is a public unicast address: not loopback, RFC 1918, link-local,
 * CGNAT, multicast, unspecified, documentation or reserved, in IPv4 or any
 * IPv6 form (IPv4-mapped, NAT64, 6to4 included). */
int host_egress_addr_public(const struct sockaddr *sa);

/* The port of an AF_INET/AF_INET6 address, or -1. */
int host_egress_addr_port(const struct sockaddr *sa);

/* "host:port" of url for logs and metrics (no user, path or query). */
void host_egress_url_host(const char *url, char *out, size_t n);

#endif
