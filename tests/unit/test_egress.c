/*
 * test_egress.c - the egress policy's rules (net/egress.c, the SSRF guard): which
 * addresses are public, in every IPv4 and IPv6 spelling, and which URLs
 * pass before any connection, with and without outbound.allow entries.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "egress.h"

static int public_addr(const char *text)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof ss);
    if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ss.ss_family = AF_INET;
    } else {
        CU_ASSERT_EQUAL_FATAL(inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr),
                              1);
        ss.ss_family = AF_INET6;
    }
    return host_egress_addr_public((struct sockaddr *)&ss);
}

static void test_refused_addresses(void)
{
    static const char *const refused[] = {
        "127.0.0.1",
        "127.255.0.9",
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.1.1",
        "0.0.0.0",
        "224.0.0.1",
        "239.1.2.3",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.51.100.7",
        "203.0.113.9",
        "198.18.0.1",
        "::",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "2001:db8::1",
        "64:ff9b::a00:1",
        "2002:7f00:1::1",
        "2001:0:4136:e378::1",
        "::127.0.0.1",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (public_addr(refused[i]))
            CU_FAIL(refused[i]);
    }
}

static void test_public_addresses(void)
{
    static const char *const ok[] = {
        "8.8.8.8",        "1.1.1.1",          "172.32.0.1",           "100.128.0.1",
        "203.0.114.1",    "192.169.0.1",      "2606:4700:4700::1111", "2a00:1450:4001::200e",
        "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (!public_addr(ok[i]))
            CU_FAIL(ok[i]);
    }
}

static void test_urls(void)
{
    char *allow[] = {"127.0.0.1:8443", "[::1]:9443", "Relay.Example.jp:25"};
    host_outbound_conf c;
    char why[256];
    int listed, port;

    memset(&c, 0, sizeof c);
    /* Without entries: TLS schemes (and smtp/ftp, TLS forced) only. */
    CU_ASSERT_EQUAL(host_egress_url(&c, "https://api.example.jp/x?q=1", 1, &listed, &port, why,
                                    sizeof why),
                    0);
    CU_ASSERT_EQUAL(port, 443);
    CU_ASSERT_EQUAL(listed, 0);
    CU_ASSERT_EQUAL(host_egress_url(&c, "http://api.example.jp/", 1, &listed, &port, why,
                                    sizeof why),
                    -1);
    CU_ASSERT_PTR_NULL(strstr(why, "q=1"));
    CU_ASSERT_EQUAL(host_egress_url(&c, "smtp://mail.example.jp:587", 0, &listed, &port, why,
                                    sizeof why),
                    0);
    CU_ASSERT_EQUAL(host_egress_url(&c, "smtp://mail.example.jp:587", 1, &listed, &port, why,
                                    sizeof why),
                    -1); /* http_call speaks http(s) only */
    CU_ASSERT_EQUAL(host_egress_url(&c, "file:///etc/passwd", 0, &listed, &port, why, sizeof why),
                    -1);
    CU_ASSERT_EQUAL(host_egress_url(&c, "gopher://x.example.jp/", 0, &listed, &port, why,
                                    sizeof why),
                    -1);
    CU_ASSERT_STRING_EQUAL(host_egress_protocols(&c, 1), "https");
    /* With entries: plain http to a listed host:port, IPv6 by value. */
    c.allow.v = allow;
    c.allow.n = 3;
    CU_ASSERT_EQUAL(host_egress_url(&c, "http://127.0.0.1:8443/", 1, &listed, &port, why,
                                    sizeof why),
                    0);
    CU_ASSERT_EQUAL(listed, 1);
    CU_ASSERT_EQUAL(host_egress_url(&c, "http://127.0.0.1:8444/", 1, &listed, &port, why,
                                    sizeof why),
                    -1);
    CU_ASSERT_EQUAL(host_egress_url(&c, "https://[0:0::1]:9443/", 1, &listed, &port, why,
                                    sizeof why),
                    0);
    CU_ASSERT_EQUAL(listed, 1);
    CU_ASSERT_EQUAL(host_egress_url(&c, "smtp://relay.example.jp/", 0, &listed, &port, why,
                                    sizeof why),
                    0);
    CU_ASSERT_EQUAL(listed, 1);
    CU_ASSERT_EQUAL(port, 25);
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("egress", NULL, NULL);
    if (!s || !CU_add_test(s, "non-public addresses refused", test_refused_addresses) ||
        !CU_add_test(s, "public addresses pass", test_public_addresses) ||
        !CU_add_test(s, "schemes and allow entries", test_urls))
        return 1;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
