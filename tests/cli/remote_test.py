"""`inspect URL` / `validate URL` against HTTP servers started by the test on loopback: Range
requests (a first guess plus one exact follow-up for a large header, never the data bytes), an
index.json with its shards, redirects (relative and absolute; credentials from --header and
HF_TOKEN reach the named host only, never another host), a server that ignores Range (cut off
after the header), one that stalls (timeout), a truncated header, 401/403/404/416, hf:// expansion
through HF_ENDPOINT, and bad URLs."""
import http.server
import json
import os
import re
import socketserver
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from st_testlib import CliTestCase, main, run, serialize, tensor  # noqa: E402

SMALL = serialize([tensor("w", "F32", [64, 64]), tensor("b", "F16", [64])], {"format": "pt"})
# A header larger than the CLI's first range (256 KiB): 3000 tensors with long names.
BIG = serialize([tensor("model.layers.%d.block.with.a.rather.long.name.to.make.the.header.large.weight.%04d" % (i % 32, i),
                        "U8", [2]) for i in range(3000)])
SHARD1 = serialize([tensor("a", "F32", [4])], {"format": "pt"})
SHARD2 = serialize([tensor("b", "F32", [2])], {"format": "pt"})
INDEX = json.dumps({"metadata": {"total_size": 24}, "weight_map": {
    "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}).encode()
BAD_INDEX = json.dumps({"weight_map": {"a": "model-00002-of-00002.safetensors",
                                       "b": "model-00002-of-00002.safetensors"}}).encode()
FILES = {"small.safetensors": SMALL, "big.safetensors": BIG, "model-00001-of-00002.safetensors": SHARD1,
         "model-00002-of-00002.safetensors": SHARD2, "model.safetensors.index.json": INDEX,
         "bad.safetensors.index.json": BAD_INDEX}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (a server that ignores Range)

    def do_GET(self):
        srv = self.server
        srv.log.append((self.path, self.headers.get("Range"), self.headers.get("Authorization"),
                        self.headers.get("X-Test")))
        path = self.path.split("?")[0]
        parts = path.strip("/").split("/")
        mode, name = parts[0], "/".join(parts[1:])
        if mode == "status":
            return self.send(int(name))
        if mode == "stall":
            srv.release.wait(30)
            return
        if mode == "redirect":  # /redirect/<relative|absolute|other>/<name>
            kind, rest = name.split("/", 1)
            target = {"relative": "../../range/" + rest, "absolute": "/range/" + rest,
                      "other": "http://127.0.0.1:%d/range/%s" % (srv.other_port, rest)}[kind]
            return self.send(302, headers=[("Location", target)])
        if mode == "hub":  # /hub/OWNER/REPO/resolve/REV/NAME
            srv.hub_paths.append(path)
            name = parts[-1]
            mode = "range"
        body = FILES.get(name)
        if body is None:
            return self.send(404)
        if mode == "truncated":
            # Claims the whole file but sends only part of the header.
            self.send_response(206)
            self.send_header("Content-Range", "bytes 0-%d/%d" % (len(body) - 1, len(body)))
            self.send_header("Content-Length", "40")
            self.end_headers()
            self.wfile.write(body[:40])
            return
        rng = self.headers.get("Range")
        if mode == "range" and rng:
            m = re.fullmatch(r"bytes=(\d+)-(\d+)", rng)
            first, last = int(m.group(1)), min(int(m.group(2)), len(body) - 1)
            if first >= len(body):
                return self.send(416)
            srv.served += last + 1 - first
            return self.send(206, body[first:last + 1], [("Content-Range", "bytes %d-%d/%d" % (first, last, len(body)))])
        srv.served += len(body)
        return self.send(200, body)  # mode "norange": Range ignored


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False


def start():
    srv = Server(("127.0.0.1", 0), Handler)
    srv.log, srv.hub_paths, srv.served, srv.other_port = [], [], 0, 0
    srv.release = threading.Event()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class RemoteTest(CliTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.srv, cls.other = start(), start()
        cls.srv.other_port = cls.other.server_address[1]

    @classmethod
    def tearDownClass(cls):
        for s in (cls.srv, cls.other):
            s.release.set()
            s.shutdown()
            s.server_close()

    def setUp(self):
        super().setUp()
        self.srv.log.clear()
        self.other.log.clear()
        self.srv.served = 0

    def url(self, path, srv=None):
        return "http://127.0.0.1:%d/%s" % ((srv or self.srv).server_address[1], path)

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")}
        env.update(extra)
        return env

    def test_inspect_small_file_one_request(self):
        doc = json.loads(run("inspect", self.url("range/small.safetensors"), "--json", env=self.env(), check_rc=0).stdout)
        self.assertEqual(sorted(t["name"] for t in doc["tensors"]), ["b", "w"])
        self.assertEqual(doc["metadata"], {"format": "pt"})
        self.assertEqual(doc["files"][0]["file_size"], len(SMALL))
        self.assertEqual(len(self.srv.log), 1)
        self.assertEqual(self.srv.log[0][1], "bytes=0-262143")
        out = run("inspect", self.url("range/small.safetensors"), env=self.env(), check_rc=0).stdout
        self.assertIn(self.url("range/small.safetensors"), out)

    def test_big_header_exact_follow_up(self):
        doc = json.loads(run("inspect", self.url("range/big.safetensors"), "--json", env=self.env(), check_rc=0).stdout)
        self.assertEqual(len(doc["tensors"]), 3000)
        n = int.from_bytes(BIG[:8], "little")
        self.assertEqual([r[1] for r in self.srv.log], ["bytes=0-262143", "bytes=262144-%d" % (8 + n - 1)])
        self.assertEqual(self.srv.served, 8 + n)  # the header, not one data byte
        out = run("inspect", self.url("range/big.safetensors"), "--group", env=self.env(), check_rc=0).stdout
        self.assertIn("model.layers.#.block", out)

    def test_index_with_shards(self):
        url = self.url("range/model.safetensors.index.json")
        doc = json.loads(run("inspect", url, "--json", env=self.env(), check_rc=0).stdout)
        self.assertTrue(doc["sharded"])
        self.assertEqual({t["name"]: t["shard"] for t in doc["tensors"]},
                         {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"})
        self.assertEqual(len(self.srv.log), 3)  # the index, then one request per shard
        self.assertIn("OK " + url, run("validate", url, env=self.env(), check_rc=0).stdout)
        proc = run("validate", self.url("range/bad.safetensors.index.json"), env=self.env())
        self.assert_exit(proc, 1)
        self.assertIn("invalid_index", proc.stdout)

    def test_redirects_and_credentials(self):
        env = self.env(HF_TOKEN="secret")
        for kind in ("relative", "absolute"):
            self.srv.log.clear()
            run("inspect", self.url("redirect/%s/small.safetensors" % kind), "--header", "X-Test: 1", env=env, check_rc=0)
            self.assertEqual(len(self.srv.log), 2)
            self.assertTrue(all(r[2] == "Bearer secret" and r[3] == "1" for r in self.srv.log), self.srv.log)
        run("inspect", self.url("redirect/other/small.safetensors"), "--header", "X-Test: 1", env=env, check_rc=0)
        self.assertEqual(self.srv.log[-1][2], "Bearer secret")
        self.assertEqual(len(self.other.log), 1)
        self.assertEqual(self.other.log[0][2:], (None, None))  # another host gets no credentials

    def test_server_ignoring_range(self):
        big = self.url("norange/big.safetensors")
        doc = json.loads(run("inspect", big, "--json", env=self.env(), check_rc=0).stdout)
        self.assertEqual(len(doc["tensors"]), 3000)
        self.assertEqual(len(self.srv.log), 1)
        run("validate", self.url("norange/small.safetensors"), env=self.env(), check_rc=0)

    def test_http_errors(self):
        for status in (401, 403, 404, 416):
            url = self.url("status/%d" % status)
            proc = run("inspect", url, env=self.env())
            self.assert_exit(proc, 3)
            self.assertEqual(len(proc.stderr.splitlines()), 1, proc.stderr)
            self.assertIn(url, proc.stderr)
            self.assertIn(str(status), proc.stderr)
        proc = run("validate", self.url("range/missing.safetensors"), env=self.env())
        self.assert_exit(proc, 3)
        self.assertIn("404", proc.stdout)

    def test_truncated_and_stall(self):
        proc = run("inspect", self.url("truncated/small.safetensors"), env=self.env())
        self.assert_exit(proc, 3)
        self.assertIn("truncated", proc.stderr)
        proc = run("inspect", self.url("stall/small.safetensors"), "--timeout", "0.5", env=self.env())
        self.assert_exit(proc, 3)
        self.assertIn("timeout", proc.stderr)
        self.assertEqual(len(proc.stderr.splitlines()), 1)

    def test_hf_expansion(self):
        endpoint = "http://127.0.0.1:%d/hub" % self.srv.server_address[1]
        env = self.env(HF_ENDPOINT=endpoint, HF_TOKEN="tok")
        run("inspect", "hf://org/model/small.safetensors", env=env, check_rc=0)
        run("inspect", "hf://org/model@v1.0/small.safetensors", env=env, check_rc=0)
        run("inspect", "hf://org/model@refs/pr/1/small.safetensors", env=env, check_rc=0)
        self.assertEqual(self.srv.hub_paths, ["/hub/org/model/resolve/main/small.safetensors",
                                              "/hub/org/model/resolve/v1.0/small.safetensors",
                                              "/hub/org/model/resolve/refs%2Fpr%2F1/small.safetensors"])
        self.assertEqual(self.srv.log[0][2], "Bearer tok")
        for bad in ("hf://org", "hf://org/model", "hf:///model/x", "hf://org/@v/x"):
            proc = run("inspect", bad, env=env)
            self.assert_exit(proc, 2)
            self.assertEqual(len(proc.stderr.splitlines()), 1)

    def test_diff_structure_only(self):
        local = self.path("small.safetensors")
        with open(local, "wb") as f:
            f.write(SMALL)
        proc = run("diff", local, self.url("range/small.safetensors"), env=self.env(), check_rc=0)
        self.assertIn("headers only", proc.stderr)
        self.assertIn("2 common tensors", proc.stdout)
        proc = run("diff", local, self.url("range/model.safetensors.index.json"), env=self.env())
        self.assert_exit(proc, 1)
        self.assertIn("only in B: a", proc.stdout)

    def test_stats_of_a_url_needs_the_data(self):
        # A URL gives headers only: stats refuses with one line (exit 5), no crash.
        proc = run("stats", self.url("range/small.safetensors"), env=self.env())
        self.assert_exit(proc, 5)
        self.assertEqual(len(proc.stderr.splitlines()), 1)
        self.assertIn("headers only", proc.stderr)

    def test_bad_urls(self):
        proc = run("inspect", "http://127.0.0.1:1/x.safetensors", "--timeout", "2", env=self.env())
        self.assert_exit(proc, 3)
        self.assertEqual(len(proc.stderr.splitlines()), 1)
        self.assert_exit(run("inspect", "http://127.0.0.1:99999/x", env=self.env()), 2)
        self.assert_exit(run("inspect", self.url("range/small.safetensors"), "--header", "nocolon", env=self.env()), 2)


if __name__ == "__main__":
    main()
