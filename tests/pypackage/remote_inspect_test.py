"""safetensors.cpp.inspect of a URL, against the loopback HTTP server of tests/cli/remote_test.py:
one Range request for a small header, an exact follow-up for a big one (never a data byte), an
index with its shards, redirects (credentials never reach another host), a server that ignores
Range, HTTP errors, a truncated header, a stall (timeout), hf:// expansion, a bad index."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cli"))
import remote_test as srvlib  # noqa: E402
from pypackage_testlib import PackageTestCase  # noqa: E402
import safetensors.cpp as cpp  # noqa: E402


class RemoteInspect(PackageTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv, cls.other = srvlib.start(), srvlib.start()
        cls.srv.other_port = cls.other.server_address[1]

    @classmethod
    def tearDownClass(cls):
        cls.srv.release.set()
        cls.srv.shutdown()
        cls.other.shutdown()

    def setUp(self):
        super().setUp()
        self.srv.log.clear()
        self.other.log.clear()
        self.srv.served = 0
        os.environ.pop("HF_TOKEN", None)
        os.environ.pop("HF_ENDPOINT", None)

    def url(self, path, srv=None):
        return "http://127.0.0.1:%d/%s" % ((srv or self.srv).server_address[1], path)

    def test_small_header_one_request(self):
        doc = cpp.inspect(self.url("range/small.safetensors"))
        self.assertEqual(sorted(t["name"] for t in doc["tensors"]), ["b", "w"])
        self.assertEqual(doc["metadata"], {"format": "pt"})
        self.assertFalse(doc["sharded"])
        self.assertEqual([r[1] for r in self.srv.log], ["bytes=0-262143"])

    def test_big_header_exact_follow_up(self):
        doc = cpp.inspect(self.url("range/big.safetensors"))
        self.assertEqual(len(doc["tensors"]), 3000)
        n = int.from_bytes(srvlib.BIG[:8], "little")
        self.assertEqual([r[1] for r in self.srv.log], ["bytes=0-262143", "bytes=262144-%d" % (8 + n - 1)])
        self.assertEqual(self.srv.served, 8 + n)

    def test_index_with_shards(self):
        doc = cpp.inspect(self.url("range/model.safetensors.index.json"))
        self.assertTrue(doc["sharded"])
        by_name = {t["name"]: doc["files"][t["file"]]["path"].rsplit("/", 1)[1] for t in doc["tensors"]}
        self.assertEqual(by_name, {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"})
        self.assertEqual(len(self.srv.log), 3)
        self.assertRefused(cpp.inspect, self.url("range/bad.safetensors.index.json"), kind="invalid_index")

    def test_redirects_keep_credentials_on_the_named_host(self):
        os.environ["HF_TOKEN"] = "secret"
        for kind in ("relative", "absolute"):
            self.srv.log.clear()
            cpp.inspect(self.url("redirect/%s/small.safetensors" % kind), headers={"X-Test": "1"})
            self.assertEqual([(r[2], r[3]) for r in self.srv.log], [("Bearer secret", "1")] * 2)
        cpp.inspect(self.url("redirect/other/small.safetensors"), headers={"X-Test": "1"})
        self.assertEqual([(r[1], r[2], r[3]) for r in self.other.log], [("bytes=0-262143", None, None)])

    def test_server_ignoring_range_is_cut_off(self):
        doc = cpp.inspect(self.url("norange/small.safetensors"))
        self.assertEqual(len(doc["tensors"]), 2)

    def test_errors(self):
        for status, words in ((401, "unauthorized"), (403, "forbidden"), (404, "not found"), (416, "range")):
            self.assertRefused(cpp.inspect, self.url("status/%d" % status), kind="io", contains=words)
        self.assertRefused(cpp.inspect, self.url("truncated/small.safetensors"), kind="io", contains="bytes of a")
        self.assertRefused(cpp.inspect, self.url("stall/small.safetensors"), timeout=0.5, kind="io")
        self.assertRefused(cpp.inspect, "hf://only-owner", kind="invalid_argument")

    def test_hf_expansion(self):
        os.environ["HF_ENDPOINT"] = self.url("hub")
        doc = cpp.inspect("hf://org/model@v1/small.safetensors")
        self.assertEqual(len(doc["tensors"]), 2)
        self.assertEqual(self.srv.hub_paths, ["/hub/org/model/resolve/v1/small.safetensors"])


if __name__ == "__main__":
    unittest.main()
