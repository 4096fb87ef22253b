/*
 * outbound.c - libcurl's multi interface on the worker's loop (see
 * outbound.h).
 *
 * curl tells us which sockets to watch (on_socket) and when to wake it
 * (on_timer_set); we tell curl what happened (curl_multi_socket_action)
 * and then collect finished transfers.  Nothing here calls back into curl
 * from inside a curl callback: the timer callback only arms a uv_timer.
 */
#include "outbound.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "egress.h"

#define STARTS_PER_TURN 16 /* transfers added to the multi per loop turn */

struct host_outbound {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    uv_idle_t starter; /* adds waiting transfers, STARTS_PER_TURN a turn */
    host_transfer *whead, *wtail;
    int open_handles; /* timer and starter: freed when both are closed */
    const host_outbound_conf *conf;
};

/* One socket curl asked us to watch. */
typedef struct out_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    host_outbound *o;
} out_sock;

/* ---- finished transfers ------------------------------------------------- */

static void collect_done(host_outbound *o)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(o->multi, &left)) != NULL) {
        host_transfer *t = NULL;
        CURLcode rc = msg->data.result;
        CURL *easy = msg->easy_handle;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
        curl_multi_remove_handle(o->multi, easy);
        if (!t)
            continue;
        t->running = 0;
        curl_easy_setopt(easy, CURLOPT_PRIVATE, t->saved_private);
        t->done(t, rc);
    }
}

/* ---- sockets and the timer ------------------------------------------------- */

static void on_poll(uv_poll_t *h, int status, int events)
{
    out_sock *s = h->data;
    host_outbound *o = s->o;
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(o->multi, s->fd, flags, &running);
    collect_done(o);
}

static void on_sock_closed(uv_handle_t *h)
{
    free(h->data);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    host_outbound *o = userp;
    out_sock *s = socketp;
    int events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            /* Stop before curl closes the fd: a new socket may get its number. */
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_sock_closed);
            curl_multi_assign(o->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        if (!(s = calloc(1, sizeof *s)))
            return -1;
        s->fd = fd;
        s->o = o;
        if (uv_poll_init_socket(o->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        curl_multi_assign(o->multi, fd, s);
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    host_outbound *o = t->data;
    int running;

    curl_multi_socket_action(o->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect_done(o);
}

static int on_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
    host_outbound *o = userp;

    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&o->timer);
    else
        uv_timer_start(&o->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static void unwait(host_outbound *o, host_transfer *t)
{
    if (t->wprev)
        t->wprev->wnext = t->wnext;
    else
        o->whead = t->wnext;
    if (t->wnext)
        t->wnext->wprev = t->wprev;
    else
        o->wtail = t->wprev;
    t->wprev = t->wnext = NULL;
    t->waiting = 0;
}

static void on_start(uv_idle_t *h)
{
    host_outbound *o = h->data;
    host_transfer *t;
    int n;

    for (n = 0; n < STARTS_PER_TURN && (t = o->whead) != NULL; n++) {
        unwait(o, t);
        if (curl_multi_add_handle(o->multi, t->easy) != CURLM_OK) {
            t->running = 0;
            curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t->saved_private);
            t->done(t, CURLE_FAILED_INIT);
        }
    }
    if (!o->whead)
        uv_idle_stop(h);
}

host_outbound *host_outbound_new(uv_loop_t *loop, const host_outbound_conf *conf)
{
    host_outbound *o = calloc(1, sizeof *o);

    if (!o || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        goto fail;
    if (!(o->multi = curl_multi_init())) {
        curl_global_cleanup();
        goto fail;
    }
    o->loop = loop;
    o->conf = conf;
    uv_timer_init(loop, &o->timer);
    o->timer.data = o;
    uv_idle_init(loop, &o->starter);
    o->starter.data = o;
    o->open_handles = 2;
    curl_multi_setopt(o->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(o->multi, CURLMOPT_SOCKETDATA, o);
    curl_multi_setopt(o->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
    curl_multi_setopt(o->multi, CURLMOPT_TIMERDATA, o);
    /* Idle connections kept for reuse.  curl's default (4 per transfer in
     * the multi) shrinks while transfers wait to be added, and closing the
     * surplus means new TLS handshakes a moment later. */
    curl_multi_setopt(o->multi, CURLMOPT_MAXCONNECTS,
                      (long)(conf && conf->max_per_plugin > 128 ? 2 * conf->max_per_plugin : 256));
    return o;
fail:
    free(o);
    return NULL;
}

static void on_handle_closed(uv_handle_t *h)
{
    host_outbound *o = h->data;

    if (--o->open_handles == 0)
        free(o);
}

void host_outbound_free(host_outbound *o)
{
    if (!o)
        return;
    /* Closes the cached connections (their sockets come back through
     * on_socket with CURL_POLL_REMOVE) before the timer goes. */
    curl_multi_cleanup(o->multi);
    curl_global_cleanup();
    uv_timer_stop(&o->timer);
    uv_close((uv_handle_t *)&o->timer, on_handle_closed);
    uv_close((uv_handle_t *)&o->starter, on_handle_closed);
}

/* ---- the policy on each transfer ------------------------------------------- */

/* curl is about to create a socket to connect to address: refuse what the
 * policy refuses, before any packet leaves. */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *address)
{
    host_transfer *t = clientp;
    const host_outbound_conf *c = t->o->conf;
    const char *url = NULL;
    int listed = 0, port = 0;

    (void)purpose;
    curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url);
    if (host_egress_url(c, url, t->http_only, &listed, &port, t->why, sizeof t->why) != 0)
        goto refuse;
    /* A listed destination, on its port; for FTP also its data
     * connections, which go to the control connection's address
     * (CURLOPT_FTP_SKIP_PASV_IP) on another port. */
    if (listed && (host_egress_addr_port(&address->addr) == port ||
                   (url && (strncmp(url, "ftp://", 6) == 0 || strncmp(url, "ftps://", 7) == 0))))
        goto open;
    if (!host_egress_addr_public(&address->addr)) {
        char host[200];
        host_egress_url_host(url, host, sizeof host);
        snprintf(t->why, sizeof t->why,
                 "egress policy: %.200s is not a public address (outbound.allow)", host);
        goto refuse;
    }
open:
    return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
refuse:
    t->refused = 1;
    return CURL_SOCKET_BAD;
}

static void apply_policy(host_outbound *o, host_transfer *t)
{
    CURL *e = t->easy;
    const char *protos = host_egress_protocols(o->conf, t->http_only);

    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, protos);
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, protos);
    /* Redirects are followed by the caller, each hop checked again. */
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2); /* S18 */
    if (o->conf && o->conf->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, o->conf->ca_file);
    /* Nothing that connects somewhere else than the URL says. */
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_PRE_PROXY, NULL);
    curl_easy_setopt(e, CURLOPT_CONNECT_TO, NULL);
    curl_easy_setopt(e, CURLOPT_RESOLVE, NULL);
    curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, NULL);
    curl_easy_setopt(e, CURLOPT_ABSTRACT_UNIX_SOCKET, NULL);
    curl_easy_setopt(e, CURLOPT_DOH_URL, NULL);
    curl_easy_setopt(e, CURLOPT_SHARE, NULL);
    curl_easy_setopt(e, CURLOPT_PORT, 0L);        /* the URL's port, which the policy saw */
    curl_easy_setopt(e, CURLOPT_ALTSVC_CTRL, 0L); /* no Alt-Svc detours */
    /* FTP: passive only, data to the control connection's address. */
    curl_easy_setopt(e, CURLOPT_FTPPORT, NULL);
    curl_easy_setopt(e, CURLOPT_FTP_SKIP_PASV_IP, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
}

int host_transfer_start(host_outbound *o, host_transfer *t)
{
    t->o = o;
    t->refused = 0;
    t->why[0] = '\0';
    curl_easy_getinfo(t->easy, CURLINFO_PRIVATE, (char **)&t->saved_private);
    apply_policy(o, t);
    t->running = 1;
    t->waiting = 1;
    t->wnext = NULL;
    t->wprev = o->wtail;
    if (o->wtail)
        o->wtail->wnext = t;
    else
        o->whead = t;
    o->wtail = t;
    uv_idle_start(&o->starter, on_start);
    return 0;
}

void host_transfer_stop(host_transfer *t)
{
    if (!t->running)
        return;
    if (t->waiting)
        unwait(t->o, t);
    else
        curl_multi_remove_handle(t->o->multi, t->easy);
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t->saved_private);
    t->running = 0;
}
