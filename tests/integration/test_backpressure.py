"""Backpressure: a client that pipelines requests but never reads the
answers must not make the server queue responses without bound (A2, A8:
one client cannot exhaust a worker's memory).  The server stops reading
from such a connection once about 1 MiB of responses waits in its queue.
"""

import socket
import time

import harness
from harness import ServerTestCase

REQUEST = b"GET /hello HTTP/1.1\r\nHost: t1.test\r\n\r\n"
REQUESTS = 300000   # 11 MiB of requests, over 100 MiB of answers


class BackpressureTest(ServerTestCase):

    def test_client_that_does_not_read_is_throttled(self):
        srv = self.new_server()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", srv.port))
        sock.settimeout(3 * harness.SCALE)
        batch = REQUEST * 1000
        try:
            for _ in range(REQUESTS // 1000):
                sock.sendall(batch)
        except socket.timeout:
            pass
        time.sleep(0.5 * harness.SCALE)  # let the server do what it will
        served = srv.metrics().sum("tanomu_http_requests_total", tenant="t1")
        # Answers that fit in ~1 MiB of queue plus the kernel's buffers,
        # a few thousand; a server that kept reading would be far beyond.
        self.assertLess(served, 40000, "server queued answers for a client that never reads")
        # Reading now lets it go on.
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
