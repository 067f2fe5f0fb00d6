"""`safetensors-cli metadata`: printing (text, --json), edits in place (same N, trailing spaces)
and by rewrite (header grows; alignment and mode kept), tensor bytes unchanged, sharded folders
(every shard, or the index with --index), and the error paths (read-only file, bad --set, a
key set and unset, --index on a single file, a PyTorch file, a corrupt file)."""
import json
import os
import stat
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from st_testlib import (REAL_TORCH, CliTestCase, main, read_header, run, tensor,  # noqa: E402
                         write_safetensors, write_sharded)

TENSORS = [tensor("w", "F32", [4, 3]), tensor("b", "F16", [3]), tensor("m", "U8", [5])]


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def split_file(path):
    """(N, header text, data bytes)."""
    blob = read_bytes(path)
    n = struct.unpack("<Q", blob[:8])[0]
    return n, blob[8:8 + n].decode(), blob[8 + n:]


class MetadataShow(CliTestCase):
    def test_text_and_json(self):
        p = write_safetensors(self.path("a.safetensors"), TENSORS, {"format": "pt", "zz": "1"})
        out = run("metadata", p, check_rc=0).stdout
        self.assertRegex(out, r"format\s+pt")
        self.assertRegex(out, r"zz\s+1")
        doc = json.loads(run("metadata", p, "--json", check_rc=0).stdout)
        self.assertEqual(doc["metadata"], {"format": "pt", "zz": "1"})
        self.assertEqual(doc["edited"], [])

    def test_absent(self):
        p = write_safetensors(self.path("a.safetensors"), TENSORS)
        self.assertIn("no metadata", run("metadata", p, check_rc=0).stdout)
        self.assertIsNone(json.loads(run("metadata", p, "--json", check_rc=0).stdout)["metadata"])


class MetadataEdit(CliTestCase):
    def test_in_place_keeps_n_and_data(self):
        p = write_safetensors(self.path("a.safetensors"), TENSORS, {"format": "pt", "long": "x" * 40})
        n0, _, data0 = split_file(p)
        size0 = os.path.getsize(p)
        ino0 = os.stat(p).st_ino
        doc = json.loads(run("metadata", p, "--set", "format=np", "--unset", "long", "--json",
                             check_rc=0).stdout)
        self.assertEqual(doc["edited"][0]["action"], "in_place")
        self.assertEqual(doc["metadata"], {"format": "np"})
        n1, text, data1 = split_file(p)
        self.assertEqual((n1, os.path.getsize(p), os.stat(p).st_ino), (n0, size0, ino0))
        self.assertEqual(data1, data0)
        self.assertTrue(text.endswith(" "))  # the freed space is trailing spaces
        self.assertEqual(json.loads(text)["__metadata__"], {"format": "np"})
        run("validate", p, check_rc=0)

    def test_rewrite_when_header_grows(self):
        p = write_safetensors(self.path("a.safetensors"), TENSORS, {"format": "pt"}, align=64)
        os.chmod(p, 0o640)
        n0, text0, data0 = split_file(p)
        value = "v" * 500
        out = run("metadata", p, "--set", "note=" + value, check_rc=0).stdout
        self.assertIn("rewritten", out)
        n1, text1, data1 = split_file(p)
        self.assertGreater(n1, n0)
        self.assertEqual((8 + n1) % 64, 0)  # the data section keeps its alignment
        self.assertEqual(data1, data0)
        self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o640)
        h0, h1 = json.loads(text0), json.loads(text1)
        self.assertEqual(h1.pop("__metadata__"), {"format": "pt", "note": value})
        h0.pop("__metadata__")
        self.assertEqual(h1, h0)  # same tensors at the same offsets
        run("validate", p, check_rc=0)
        self.assertEqual([f for f in os.listdir(self.tmp) if f.endswith(".tmp")], [])

    def test_unchanged_and_unset_all(self):
        p = write_safetensors(self.path("a.safetensors"), TENSORS, {"format": "pt"})
        before = read_bytes(p)
        self.assertIn("unchanged", run("metadata", p, "--set", "format=pt", check_rc=0).stdout)
        self.assertEqual(read_bytes(p), before)
        doc = json.loads(run("metadata", p, "--unset", "format", "--json", check_rc=0).stdout)
        self.assertEqual(doc["metadata"], {})

    def test_through_symlink(self):
        p = write_safetensors(self.path("blob"), TENSORS, {"format": "pt"})
        link = self.path("model.safetensors")
        os.symlink("blob", link)
        run("metadata", link, "--set", "k=" + "z" * 300, check_rc=0)
        self.assertTrue(os.path.islink(link))
        self.assertEqual(read_header(p)[1]["__metadata__"]["k"], "z" * 300)

    def test_sharded_every_shard(self):
        shards = [[tensor("a", "F32", [2])], [tensor("b", "F32", [3])]]
        index, names = write_sharded(self.path("m"), shards, {"format": "pt"})
        doc = json.loads(run("metadata", self.path("m"), "--set", "author=me", "--json", check_rc=0).stdout)
        self.assertEqual(len(doc["edited"]), 2)
        for name in names:
            self.assertEqual(read_header(os.path.join(self.path("m"), name))[1]["__metadata__"],
                             {"format": "pt", "author": "me"})
        run("validate", index, check_rc=0)

    def test_sharded_index(self):
        shards = [[tensor("a", "F32", [2])], [tensor("b", "F32", [3])]]
        index, names = write_sharded(self.path("m"), shards, {"format": "pt"})
        shard_before = read_bytes(os.path.join(self.path("m"), names[0]))
        doc = json.loads(run("metadata", index, "--index", "--set", "quant=none", "--json", check_rc=0).stdout)
        self.assertEqual(doc["metadata"], {"total_size": 20, "quant": "none"})
        with open(index) as f:
            idx = json.load(f)
        self.assertEqual(idx["metadata"], {"total_size": 20, "quant": "none"})
        self.assertEqual(idx["weight_map"], {"a": names[0], "b": names[1]})
        self.assertEqual(read_bytes(os.path.join(self.path("m"), names[0])), shard_before)
        doc = json.loads(run("metadata", index, "--index", "--unset", "quant", "--json", check_rc=0).stdout)
        self.assertEqual(doc["metadata"], {"total_size": 20})
        run("validate", index, check_rc=0)


class MetadataErrors(CliTestCase):
    def test_read_only_file(self):
        p = write_safetensors(self.path("a.safetensors"), TENSORS, {"format": "pt"})
        os.chmod(p, 0o444)
        before = read_bytes(p)
        for value in ["x", "y" * 1000]:  # in place and rewrite
            proc = run("metadata", p, "--set", "format=" + value)
            self.assert_exit(proc, 3)
            self.assertEqual(len(proc.stderr.splitlines()), 1, proc.stderr)
            self.assertIn("a.safetensors", proc.stderr)
            self.assertIn("read-only", proc.stderr)
        self.assertEqual(read_bytes(p), before)

    def test_bad_edits(self):
        p = write_safetensors(self.path("a.safetensors"), TENSORS, {"format": "pt"})
        for args in (["--set", "novalue"], ["--set", "=v"], ["--set", "k=1", "--unset", "k"],
                     ["--set", "k=1", "--set", "k=2"]):
            proc = run("metadata", p, *args)
            self.assert_exit(proc, 2)
            self.assertEqual(len(proc.stderr.splitlines()), 1, proc.stderr)

    def test_index_errors(self):
        p = write_safetensors(self.path("a.safetensors"), TENSORS)
        self.assert_exit(run("metadata", p, "--index"), 2)
        index, _ = write_sharded(self.path("m"), [[tensor("a", "F32", [2])], [tensor("b", "F32", [3])]])
        proc = run("metadata", index, "--index", "--set", "total_size=5")
        self.assert_exit(proc, 2)
        self.assertIn("total_size", proc.stderr)

    def test_torch_and_corrupt(self):
        proc = run("metadata", os.path.join(REAL_TORCH, "mlp_mnist_statedict_zip_archive_prefix.pt"))
        self.assert_exit(proc, 5)
        bad = self.path("bad.safetensors")
        with open(bad, "wb") as f:
            f.write(struct.pack("<Q", 2) + b"{}" + b"xx")
        proc = run("metadata", bad, "--set", "a=b")
        self.assert_exit(proc, 1)
        self.assertIn("bad.safetensors", proc.stderr)
        self.assert_exit(run("metadata", self.path("missing.safetensors")), 3)


if __name__ == "__main__":
    main()
