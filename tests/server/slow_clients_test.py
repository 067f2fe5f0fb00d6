"""The server's transport against hostile and careless clients (docs/DEPLOY.md, "Connections and
slow clients"): slow headers and slow bodies cut off by the total deadlines, oversized heads
(431), chunked bodies over the limit (413 before the body is read), pipelined requests,
clients vanishing mid-request, the max-connections policy, 10,000 connections opened and closed
with no descriptor or memory left behind, and /health answering while 2,000 idle sockets are
open. Only liveness bounds are asserted (no timings: those are bench/slow_clients_bench.py's)."""
import os
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from serve_testlib import CLI, Server, read_response, trickle_until_closed  # noqa: E402

READ_TIMEOUT = 2  # seconds: --read-timeout of the server under test
LIMIT = 4096      # --payload-limit


def wait_until(cond, bound=30):
    deadline = time.time() + bound
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


class SlowClients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server("--read-timeout", str(READ_TIMEOUT), "--keep-alive-timeout", "2", "--payload-limit", str(LIMIT),
                       "--max-header-bytes", "2048", "--threads", "1", "--http-threads", "4")

    @classmethod
    def tearDownClass(cls):
        cls.s.stop()

    def healthy(self):
        self.assertEqual(self.s.request("GET", "/health", timeout=10)[0], 200)

    def test_slow_header_lines_are_cut_at_the_total_deadline(self):
        sock = self.s.connect()
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
        # A header line every 0.5 s keeps each read short, but the whole head has READ_TIMEOUT.
        lines = (f"X-Slow-{i}: {i}\r\n".encode() for i in range(6 * READ_TIMEOUT * 2))
        closed = trickle_until_closed(sock, lines, 0.5)
        sock.close()
        self.assertTrue(closed, "a client sending a header line every 0.5 s held its connection for 6x the read timeout")
        self.healthy()

    def test_slow_body_is_cut_at_the_read_timeout(self):
        sock = self.s.connect()
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{")
        closed = trickle_until_closed(sock, [b" "] * (6 * READ_TIMEOUT * 2), 0.5)
        sock.close()
        self.assertTrue(closed, "a body trickling one byte per 0.5 s was never cut off")
        self.healthy()

    def test_oversized_head_is_431(self):
        sock = self.s.connect()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 4096 + b"\r\n\r\n")
        status, headers, body = read_response(sock.makefile("rb"))
        sock.close()
        self.assertEqual(status, 431)
        self.assertIn(b'"error_type":"Validation"', body)
        self.assertEqual(headers.get("connection"), "close")
        self.healthy()

    def test_content_length_over_the_limit_is_413_before_the_body(self):
        sock = self.s.connect()
        sock.sendall(f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: {LIMIT * 100}\r\n\r\n".encode())
        status, _, body = read_response(sock.makefile("rb"))  # no body byte was sent
        sock.close()
        self.assertEqual(status, 413)
        self.assertIn(b'"error_type":"PayloadTooLarge"', body)

    def test_chunked_body_over_the_limit_is_413_without_reading_it_whole(self):
        sock = self.s.connect()
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"400\r\n" + b" " * 1024 + b"\r\n"
        total = LIMIT * 64  # what the client would send if nobody stopped it
        sent, answered = 0, None
        f = sock.makefile("rb")
        while sent < total:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1024
            sock.settimeout(0.01)
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    answered = read_response(f)
                    break
            except socket.timeout:
                pass
            sock.settimeout(None)
        if answered is None:
            sock.settimeout(10)
            answered = read_response(f)
        sock.close()
        self.assertEqual(answered[0], 413)
        self.assertIn(b'"error_type":"PayloadTooLarge"', answered[2])
        self.assertLess(sent, total, "the server read the whole over-limit body before answering")

    def test_pipelined_requests_are_answered_in_order(self):
        sock = self.s.connect()
        body = b'{"inputs": "a fine film"}'
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body +
                     b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        f = sock.makefile("rb")
        got = [read_response(f) for _ in range(4)]
        sock.close()
        self.assertEqual([g[0] for g in got], [200, 200, 404, 200])
        self.assertIn(b'"text":"fine"', got[1][2])
        self.assertIn(b"model_id", got[3][2])
        self.assertEqual(got[3][1].get("connection"), "close")

    def test_expect_100_continue_is_answered_before_the_body(self):
        sock = self.s.connect()
        body = b'{"inputs": "fine"}'
        sock.sendall(b"POST /tokenize HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n")
        f = sock.makefile("rb")
        self.assertEqual(read_response(f)[0], 100)
        sock.sendall(body)
        status, _, answer = read_response(f)
        sock.close()
        self.assertEqual(status, 200)
        self.assertIn(b'"text":"fine"', answer)

    def test_keep_alive_serves_many_requests_on_one_connection(self):
        sock = self.s.connect()
        f = sock.makefile("rb")
        for _ in range(20):
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(read_response(f)[0], 200)
        sock.close()

    def test_vanishing_clients_leave_nothing_behind(self):
        self.healthy()
        before = self.s.fd_count()
        for i in range(50):
            sock = self.s.connect()
            if i % 3 == 0:
                sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Le")  # mid-head
            elif i % 3 == 1:
                sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inp")  # mid-body
            else:
                sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 25\r\n\r\n{\"inputs\": \"a fine film\"}")
            if i % 2:  # half of them reset instead of closing
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        self.assertTrue(wait_until(lambda: self.s.fd_count() <= before), f"fds {self.s.fd_count()} > {before}")
        self.healthy()

    def test_ten_thousand_connections_leak_no_descriptor_or_memory(self):
        def cycle(n):
            for i in range(n):
                sock = self.s.connect()
                if i % 2:
                    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    sock.recv(4096)
                sock.close()
        cycle(500)  # warm: allocator pools and buffers at their working size
        time.sleep(0.5)
        fd_before, rss_before = self.s.fd_count(), self.s.rss_kb()
        cycle(10_000)
        self.assertTrue(wait_until(lambda: self.s.fd_count() <= fd_before),
                        f"descriptors: {fd_before} before, {self.s.fd_count()} after 10,000 connections")
        rss_after = self.s.rss_kb()
        print(f"10,000 connections: fds {fd_before} -> {self.s.fd_count()}, RSS {rss_before} -> {rss_after} kB",
              flush=True)
        # A leak of even 1 kB per connection would show as 10 MB.
        self.assertLess(rss_after, rss_before + 4096, f"RSS {rss_before} -> {rss_after} kB")
        self.healthy()

    def test_health_answers_while_2000_idle_sockets_are_open(self):
        idle = []
        try:
            for i in range(2000):
                sock = self.s.connect()
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" if i % 2 else b"POST /predict HTTP/1.1\r\n")
                idle.append(sock)
            # Liveness: each answer arrives long before the idle sockets' deadline (READ_TIMEOUT)
            # would have freed anything.
            for _ in range(5):
                self.assertEqual(self.s.request("GET", "/health", timeout=READ_TIMEOUT / 2)[0], 200)
            status, body, _ = self.s.request("POST", "/predict", {"inputs": "a fine film"}, timeout=READ_TIMEOUT / 2)
            self.assertEqual(status, 200, body)
        finally:
            for sock in idle:
                sock.close()


class ConnectionLimit(unittest.TestCase):
    def test_connections_beyond_the_limit_get_503_and_the_slot_comes_back(self):
        s = Server("--max-connections", "20", "--read-timeout", "30", "--threads", "1")
        try:
            # The readiness probes' connections must be gone first: one the server has not yet
            # seen closed still counts against the limit (and in socket_count()).
            self.assertTrue(wait_until(lambda: s.socket_count() == 1), "probe connections linger")
            idle = [s.connect() for _ in range(20)]
            for sock in idle:
                sock.sendall(b"GET /health HTTP/1.1\r\n")
            self.assertTrue(wait_until(lambda: s.socket_count() == 21), "the 20 connections were not accepted")
            extra = s.connect()
            status, headers, body = read_response(extra.makefile("rb"))
            extra.close()
            self.assertEqual(status, 503)
            self.assertIn(b'"error_type":"Overloaded"', body)
            self.assertEqual(headers.get("retry-after"), "1")
            idle.pop().close()
            self.assertTrue(wait_until(lambda: s.request("GET", "/health", timeout=5)[0] == 200))
            for sock in idle:
                sock.close()
        finally:
            self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    if not CLI:
        print("SAFETENSORS_CLI is not set")
        sys.exit(1)
    unittest.main(verbosity=2)
