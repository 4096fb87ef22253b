"""Backpressure: a client that sends requests but never reads the answers
must not make the server buffer responses without bound (A2, A8: one client
cannot exhaust a worker's memory).  The server stops reading from such a
connection once about 1 MiB of responses waits in its queue, so the
client's own sends block.
"""

import socket

import harness
from harness import ServerTestCase

REQUESTS = 400000         # 20 MiB of requests; 25 GiB of answers if all were buffered
REQUEST = b"GET /probe/stream?kb=64 HTTP/1.1\r\nHost: t1.test\r\n\r\n"


class BackpressureTest(ServerTestCase):

    def test_client_that_does_not_read_is_throttled(self):
        srv = self.new_server()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", srv.port))
        sock.settimeout(3 * harness.SCALE)
        sent = 0
        try:
            for _ in range(REQUESTS):
                sock.sendall(REQUEST)
                sent += 1
        except socket.timeout:
            pass
        # Had the server kept reading, all 20 MiB of requests would have gone
        # out at once; it stopped reading, so the sends blocked once its
        # buffer (about 1 MiB) and the kernel's socket buffers were full.
        self.assertLess(sent * len(REQUEST), 8 << 20,
                        "server kept reading a client that never reads")
        # Reading now lets it go on: the first answers arrive complete.
        sock.settimeout(10 * harness.SCALE)
        got = b""
        while got.count(b"HTTP/1.1 200") < 3:
            chunk = sock.recv(65536)
            self.assertTrue(chunk, "connection closed")
            got += chunk
        sock.close()
        self.assertEqual(srv.get("/healthz").status, 200)
        self.assertEqual(srv.metrics().sum("tanomu_worker_crashes_total"), 0)


if __name__ == "__main__":
    harness.main()
