/*
 * fuzz_http.c - the HTTP server's input side under a fuzzer (S10): bytes
 * from the fuzzer go to a real connection of a real host_server on a
 * loopback socket, through the request-line check, http_parser, our
 * callbacks, limits and response writing.  Every complete request is
 * answered 200, so pipelining and keep-alive paths run too.
 *
 * Built as a libFuzzer target with `make fuzz` (clang), and with replay.c
 * as a regression test that runs the corpus in every `make test`.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "http_server.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
    uv_loop_t loop;
    host_server srv;
    struct sockaddr_in addr;
    int ready;
} fz;

/* Echo the body (so large answers and backpressure run), or a small JSON. */
static void answer(tn_request *r)
{
    if (r->body.len) {
        host_resp_status(r, 200);
        host_resp_body(r, r->body.data, r->body.len);
    } else {
        host_resp_json(r, 200, "{\"ok\":true}");
    }
    host_response_send(r);
}

static int setup(void)
{
    host_limits lim = {4096, 32, 65536, 1000, 1000, 1000};
    socklen_t sl = sizeof fz.addr;
    char err[128];
    int fd;

    host_log_setup(TN_LOG_ERROR + 1, 0, "fuzz"); /* quiet */
    if (uv_loop_init(&fz.loop) != 0)
        return -1;
    host_server_init(&fz.srv, &fz.loop, &lim);
    fz.srv.dispatch = answer;
    if ((fd = host_listen_socket("127.0.0.1:0", err, sizeof err)) < 0)
        return -1;
    if (getsockname(fd, (struct sockaddr *)&fz.addr, &sl) != 0)
        return -1;
    return host_server_add_listener(&fz.srv, fd, 0, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    int fd, i, eof = 0;
    char sink[65536];

    if (!fz.ready) {
        if (setup() != 0)
            abort();
        fz.ready = 1;
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&fz.addr, sizeof fz.addr) != 0)
        abort();
    fcntl(fd, F_SETFL, O_NONBLOCK);
    /* Feed, let the server work, drain what it answers; until it closes
     * or goes quiet (a partial request waits for more: we end it). */
    for (i = 0; i < 2000 && !eof; i++) {
        ssize_t n;
        if (off < size) {
            n = write(fd, data + off, size - off);
            if (n > 0)
                off += (size_t)n;
            if (off == size)
                shutdown(fd, SHUT_WR);
        } else if (size == 0 && i == 0) {
            shutdown(fd, SHUT_WR);
        }
        uv_run(&fz.loop, UV_RUN_NOWAIT);
        while ((n = read(fd, sink, sizeof sink)) > 0)
            ;
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            eof = 1;
    }
    close(fd);
    /* Leave no connection behind for the next input. */
    for (i = 0; i < 1000 && fz.srv.nconns > 0; i++)
        uv_run(&fz.loop, UV_RUN_NOWAIT);
    if (fz.srv.nconns > 0)
        host_server_close_all(&fz.srv);
    uv_run(&fz.loop, UV_RUN_NOWAIT);
    return 0;
}
