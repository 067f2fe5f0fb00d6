"""A `safetensors-cli serve` process on 127.0.0.1 (any free port) for the server's slow-client
tests and bench/slow_clients_bench.py: start, wait for /health, raw sockets, /proc figures."""
import http.client
import json
import os
import socket
import subprocess
import threading
import time

CLI = os.environ.get("SAFETENSORS_CLI", "")
SOURCE_DIR = os.environ.get("SAFETENSORS_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE_MODEL = os.path.join(SOURCE_DIR, "examples", "distilbert-imdb")


def rss_kb(pid):
    """Resident set size of process `pid` in kB (/proc/PID/status VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Server:
    def __init__(self, *args, model=EXAMPLE_MODEL, cli=None, ready_timeout=120):
        self.proc = subprocess.Popen([cli or CLI, "serve", "--model", model, "--port", "0", "--json-logs", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on http://127.0.0.1:"):
            raise RuntimeError(f"first stdout line: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        self.stderr = []
        self.reader = threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True)
        self.reader.start()
        deadline = time.time() + ready_timeout
        while time.time() < deadline:
            try:
                if self.request("GET", "/health", timeout=5)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become ready")

    def request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
            conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
            resp = conn.getresponse()
            return resp.status, resp.read().decode(), dict(resp.getheaders())
        finally:
            conn.close()

    def connect(self, timeout=30):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def socket_count(self):
        """Sockets the server holds: the listening one and its open connections."""
        fds = f"/proc/{self.proc.pid}/fd"
        count = 0
        for fd in os.listdir(fds):
            try:
                count += os.readlink(os.path.join(fds, fd)).startswith("socket:")
            except OSError:
                pass
        return count

    def rss_kb(self):
        return rss_kb(self.proc.pid)

    def stop(self, timeout=60):
        self.proc.terminate()
        rc = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=5)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc


def read_response(f):
    """One HTTP/1.1 response from `sock.makefile("rb")` (keep the same file for the next one):
    (status, headers dict lower-cased, body bytes)."""
    status_line = f.readline()
    if not status_line:
        raise ConnectionError("closed before a response")
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        k, v = line.decode().split(":", 1)
        headers[k.strip().lower()] = v.strip()
    body = f.read(int(headers.get("content-length", "0")))
    return status, headers, body


def trickle_until_closed(sock, pieces, pause):
    """Sends each of `pieces` with `pause` seconds between them until the server closes the
    connection; True when it did before the pieces ran out."""
    for piece in pieces:
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            return True
        if closed_by_peer(sock, pause):
            return True
    return False


def closed_by_peer(sock, timeout):
    """True when the server closes (EOF or reset) within `timeout` seconds."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(4096):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
