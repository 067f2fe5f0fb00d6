"""Slow-client benchmark (issue 11 item 3): `safetensors-cli serve` answering other clients while
2,000 connections sit open, half idle (a partial request head, then nothing) and half slow (one
header line every 5 s), on 127.0.0.1. Measured with the example model (examples/distilbert-imdb):
/health and /predict latency (p50, p99) unloaded and under that load, the server's RSS idle and
under load, and the same for the peer, the FastAPI + uvicorn server (bench/fastapi_server.py),
in the same run. Targets: /health p99 < 100 ms, /predict p99 <= 2x unloaded, RSS < 2x idle.
Usage: scripts/python bench/slow_clients_bench.py [--cli BUILD/tools/cli/safetensors-cli]
       [--connections 2000] [--requests 300] [--no-peer]
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, os.path.join(root, "tests", "support"))
from serve_testlib import EXAMPLE_MODEL, Server, rss_kb  # noqa: E402

TEXT = "A slow, thoughtful film with a great cast; I would watch it again."


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def timed_requests(port, method, path, body, n):
    import http.client
    out = []
    data = json.dumps(body).encode() if body is not None else None
    for _ in range(n):
        t0 = time.perf_counter()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request(method, path, body=data, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        c.close()
        if r.status != 200:
            raise RuntimeError(f"{method} {path}: {r.status}")
        out.append((time.perf_counter() - t0) * 1000)
    return out


class SlowCrowd:
    """n connections: even ones idle after a partial head, odd ones send a header line every 5 s."""
    def __init__(self, port, n):
        self.socks, self.stop = [], threading.Event()
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: bench\r\n")
            self.socks.append(s)
        self.thread = threading.Thread(target=self.trickle, daemon=True)
        self.thread.start()

    def trickle(self):
        k = 0
        while not self.stop.wait(5):
            k += 1
            for s in self.socks[1::2]:
                try:
                    s.sendall(f"X-Slow-{k}: {k}\r\n".encode())
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        self.thread.join()
        alive = 0
        for s in self.socks:
            s.setblocking(False)
            try:
                alive += s.recv(1) == b"" and 0 or 1
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
            s.close()
        return alive


def measure(name, port, pid, connections, n):
    timed_requests(port, "GET", "/health", None, 20)
    timed_requests(port, "POST", "/predict", {"text": TEXT}, 20)
    time.sleep(0.5)
    idle_rss = rss_kb(pid)
    h0 = timed_requests(port, "GET", "/health", None, n)
    p0 = timed_requests(port, "POST", "/predict", {"text": TEXT}, n)
    crowd = SlowCrowd(port, connections)
    time.sleep(6)  # every slow client has sent at least one more line
    h1 = timed_requests(port, "GET", "/health", None, n)
    p1 = timed_requests(port, "POST", "/predict", {"text": TEXT}, n)
    load_rss = rss_kb(pid)
    alive = crowd.close()
    row = {"server": name, "health_p50": pct(h0, 50), "health_p99": pct(h0, 99),
           "health_p50_loaded": pct(h1, 50), "health_p99_loaded": pct(h1, 99),
           "predict_p50": pct(p0, 50), "predict_p99": pct(p0, 99),
           "predict_p50_loaded": pct(p1, 50), "predict_p99_loaded": pct(p1, 99),
           "rss_idle_mb": idle_rss / 1024, "rss_loaded_mb": load_rss / 1024, "slow_alive": alive}
    print(f"{name}: /health p50/p99 {row['health_p50']:.2f}/{row['health_p99']:.2f} ms unloaded, "
          f"{row['health_p50_loaded']:.2f}/{row['health_p99_loaded']:.2f} ms with {connections} slow; "
          f"/predict p50/p99 {row['predict_p50']:.2f}/{row['predict_p99']:.2f} ms unloaded, "
          f"{row['predict_p50_loaded']:.2f}/{row['predict_p99_loaded']:.2f} ms loaded "
          f"({row['predict_p99_loaded'] / row['predict_p99']:.2f}x); RSS {row['rss_idle_mb']:.1f} -> "
          f"{row['rss_loaded_mb']:.1f} MB ({load_rss / idle_rss:.2f}x); slow sockets still open at the end: {alive}",
          flush=True)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default=os.environ.get("SAFETENSORS_CLI", os.path.join(root, "build", "tools", "cli", "safetensors-cli")))
    ap.add_argument("--model", default=EXAMPLE_MODEL)
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--no-peer", action="store_true")
    a = ap.parse_args()
    cpu = subprocess.run([os.path.join(root, "scripts", "cpu_model")], capture_output=True, text=True).stdout.strip()
    print(f"cpu: {cpu}", flush=True)
    print(f"model: {a.model}; {a.connections} slow connections; {a.requests} sequential requests per figure", flush=True)
    rows = []
    s = Server("--threads", "1", "--read-timeout", "600", "--max-connections", str(a.connections + 100),
               model=a.model, cli=a.cli)
    try:
        rows.append(measure("safetensors-cli serve", s.port, s.proc.pid, a.connections, a.requests))
    finally:
        s.stop()
    if not a.no_peer:
        port = 18000 + os.getpid() % 1000
        env = dict(os.environ, OPENBLAS_CORETYPE="SkylakeX")
        peer = subprocess.Popen([os.path.join(root, "scripts", "python"), os.path.join(here, "fastapi_server.py"),
                                 "--model", a.model, "--port", str(port), "--threads", "1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            deadline = time.time() + 120
            while time.time() < deadline:
                try:
                    timed_requests(port, "GET", "/health", None, 1)
                    break
                except OSError:
                    time.sleep(0.2)
            rows.append(measure("FastAPI + uvicorn (peer)", port, peer.pid, a.connections, a.requests))
        except Exception as e:  # noqa: BLE001  the peer failing under load is a result too
            print(f"FastAPI + uvicorn (peer): failed under load: {e!r}", flush=True)
        finally:
            peer.terminate()
            peer.wait(timeout=30)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
