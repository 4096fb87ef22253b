"""The harness itself: what every integration test relies on before it
starts a server.  No server is started here.

A hang in the harness is charged to whatever test was running (once, 120 s
in test_check.py's setUp), so each of these bounds its own work and fails
instead of hanging.
"""

import socket
import types
import unittest
from unittest import mock

import harness


class RecyclingKernel:
    """bind(0) that hands out the lowest port no open socket holds: the
    kernel's worst case, where a port closed a moment ago is drawn again
    (Linux does it about once in 12,000 draws).  Counts binds and gives up
    after `limit`, so a picker that never ends fails the test."""

    def __init__(self, limit=100):
        self.held = set()
        self.binds = 0
        self.limit = limit
        self.module = types.SimpleNamespace(AF_INET=socket.AF_INET,
                                            SOCK_STREAM=socket.SOCK_STREAM,
                                            socket=self._socket)

    def _socket(self, *args):
        return _FakeSocket(self)


class _FakeSocket:
    def __init__(self, kernel):
        self.kernel = kernel
        self.port = None

    def bind(self, addr):
        k = self.kernel
        k.binds += 1
        if k.binds > k.limit:
            raise AssertionError(f"still drawing ports after {k.limit} binds")
        port = 40000
        while port in k.held:
            port += 1
        k.held.add(port)
        self.port = port

    def getsockname(self):
        return ("127.0.0.1", self.port)

    def close(self):
        self.kernel.held.discard(self.port)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class PickPortsTest(unittest.TestCase):

    def test_three_distinct_ports_when_the_kernel_repeats_a_port(self):
        # The old picker drew one port at a time and redrew only tls_port
        # while they were not distinct: with port == admin_port it never
        # ended (the 120 s hang of integration_check).
        kernel = RecyclingKernel()
        srv = harness.Server.__new__(harness.Server)   # no files, no plugins
        with mock.patch.object(harness, "socket", kernel.module):
            srv._pick_ports()
        ports = (srv.port, srv.admin_port, srv.tls_port)
        self.assertEqual(len(set(ports)), 3, ports)
        self.assertLessEqual(kernel.binds, 3)

    def test_free_ports_are_distinct_and_free(self):
        ports = harness.free_ports(3)
        self.assertEqual(len(set(ports)), 3, ports)
        for p in ports:     # closed again: a server can bind them
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", p))


if __name__ == "__main__":
    harness.main()
