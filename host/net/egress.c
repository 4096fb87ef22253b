/*
 * egress.c - the egress policy: schemes allowed, addresses refused, and
 * the outbound.allow exceptions (see egress.h).
 *
 * Addresses are judged by their bytes, not their spelling: the check runs
 * on the sockaddr curl is about to connect to, and IPv6 forms that carry an
 * IPv4 address (mapped, NAT64, 6to4) are judged by that IPv4 address.
 */
#include "egress.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

const char *host_egress_protocols(const host_outbound_conf *c, int http_only)
{
    int plain = c && c->allow.n > 0;

    if (http_only)
        return plain ? "https,http" : "https";
    return plain ? "https,ftps,sftp,smtps,smtp,ftp,http" : "https,ftps,sftp,smtps,smtp,ftp";
}

/* 1 when the IPv4 address (host order) is public unicast. */
static int v4_public(uint32_t a)
{
    static const struct {
        uint32_t net;
        int bits;
    } refused[] = {
        {0x00000000u, 8},  /* 0/8 "this network", unspecified */
        {0x0a000000u, 8},  /* 10/8 RFC 1918 */
        {0x64400000u, 10}, /* 100.64/10 CGNAT */
        {0x7f000000u, 8},  /* 127/8 loopback */
        {0xa9fe0000u, 16}, /* 169.254/16 link-local, cloud metadata */
        {0xac100000u, 12}, /* 172.16/12 RFC 1918 */
        {0xc0000000u, 24}, /* 192.0.0/24 IETF protocol assignments */
        {0xc0000200u, 24}, /* 192.0.2/24 documentation */
        {0xc0586300u, 24}, /* 192.88.99/24 6to4 relay anycast */
        {0xc0a80000u, 16}, /* 192.168/16 RFC 1918 */
        {0xc6120000u, 15}, /* 198.18/15 benchmarking */
        {0xc6336400u, 24}, /* 198.51.100/24 documentation */
        {0xcb007100u, 24}, /* 203.0.113/24 documentation */
        {0xe0000000u, 4},  /* 224/4 multicast */
        {0xf0000000u, 4},  /* 240/4 reserved, broadcast */
    };
    size_t i;

    for (i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if ((a & (0xffffffffu << (32 - refused[i].bits))) == refused[i].net)
            return 0;
    return 1;
}

static uint32_t v4_at(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static int v6_public(const uint8_t *b)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};

    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
        return v4_public(v4_at(b + 12));
    if (b[0] == 0x20 && b[1] == 0x02) /* 2002::/16 6to4: the IPv4 inside */
        return v4_public(v4_at(b + 2));
    if ((b[0] & 0xe0) != 0x20) /* outside 2000::/3 global unicast: ::, ::1,
                                  fc00::/7, fe80::/10, ff00::/8, ... */
        return 0;
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) /* 2001:db8::/32 docs */
        return 0;
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0) /* 2001::/32 Teredo */
        return 0;
    return 1;
}

int host_egress_addr_public(const struct sockaddr *sa)
{
    if (!sa)
        return 0;
    if (sa->sa_family == AF_INET)
        return v4_public(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
    if (sa->sa_family == AF_INET6)
        return v6_public(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
    return 0; /* AF_UNIX and the rest */
}

int host_egress_addr_port(const struct sockaddr *sa)
{
    if (sa && sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa && sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return -1;
}

/* Two spellings of one host: IPv6 literals compare by their bytes. */
static int same_host(const char *a, size_t alen, const char *b)
{
    struct in6_addr x, y;
    char ta[64], tb[64];
    size_t blen = strlen(b);

    if (alen > 2 && a[0] == '[' && blen > 2 && b[0] == '[' && alen < sizeof ta &&
        blen < sizeof tb) {
        memcpy(ta, a + 1, alen - 2);
        ta[alen - 2] = '\0';
        memcpy(tb, b + 1, blen - 2);
        tb[blen - 2] = '\0';
        return inet_pton(AF_INET6, ta, &x) == 1 && inet_pton(AF_INET6, tb, &y) == 1 &&
               memcmp(&x, &y, sizeof x) == 0;
    }
    return alen == blen && strncasecmp(a, b, alen) == 0;
}

static int allowlisted(const host_outbound_conf *c, const char *host, int port)
{
    int i;

    for (i = 0; c && i < c->allow.n; i++) {
        const char *e = c->allow.v[i], *colon = strrchr(e, ':');
        if (colon && atoi(colon + 1) == port && same_host(e, (size_t)(colon - e), host))
            return 1;
    }
    return 0;
}

static int scheme_allowed(const char *s, int http_only)
{
    static const char *const any[] = {"https", "ftps", "sftp", "smtps", "smtp", "ftp", NULL};
    int i;

    if (http_only)
        return strcmp(s, "https") == 0;
    for (i = 0; any[i]; i++)
        if (strcmp(s, any[i]) == 0)
            return 1;
    return 0;
}

int host_egress_url(const host_outbound_conf *c, const char *url, int http_only, int *listed,
                    int *port, char *why, size_t whylen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *portstr = NULL;
    int rc = -1;

    *listed = 0;
    *port = 0;
    if (!u || !url || curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &portstr, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        snprintf(why, whylen, "not a URL the policy can read");
        goto out;
    }
    *port = atoi(portstr);
    *listed = allowlisted(c, host, *port);
    if (!scheme_allowed(scheme, http_only) && !(*listed && strcmp(scheme, "http") == 0)) {
        snprintf(why, whylen, "scheme %.16s refused for %.200s:%d (outbound.allow)", scheme, host,
                 *port);
        goto out;
    }
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(portstr);
    curl_url_cleanup(u);
    return rc;
}

void host_egress_url_host(const char *url, char *out, size_t n)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;

    snprintf(out, n, "-");
    if (u && url && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
        snprintf(out, n, "%s:%s", host, port);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}
