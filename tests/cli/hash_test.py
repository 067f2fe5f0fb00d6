"""`safetensors-cli hash`: file digests equal to hashlib's sha256 (= sha256sum) for single files
and every file of a sharded checkpoint; --tensors digests and the content hash (recomputed here
from its definition in docs/FORMAT.md; unchanged by tensor order, alignment, sharding and by a
PyTorch .bin holding the same tensors); --check against sha256sum lists (OK, FAILED, unlisted,
malformed, unreadable); error exits."""
import hashlib
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from st_testlib import CliTestCase, main, run, tensor, write_safetensors, write_sharded  # noqa: E402

TENSORS = [tensor("w", "F32", [4, 3]), tensor("b", "F16", [3]), tensor("emb", "BF16", [2, 5]),
           tensor("m", "U8", [5])]


def sha(data):
    return hashlib.sha256(data).hexdigest()


def file_sha(path):
    with open(path, "rb") as f:
        return sha(f.read())


def content_hash(tensors):
    """docs/FORMAT.md "Content hash"."""
    h = hashlib.sha256()
    for name, dtype, shape, data in sorted(tensors, key=lambda t: t[0].encode()):
        for text in (name.encode(), dtype.encode()):
            h.update(struct.pack("<Q", len(text)) + text)
        h.update(struct.pack("<Q", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape))
        h.update(hashlib.sha256(data).digest())
    return h.hexdigest()


class HashFiles(CliTestCase):
    def test_single_file_matches_sha256sum(self):
        p = write_safetensors(self.path("a.safetensors"), TENSORS)
        out = run("hash", p, check_rc=0).stdout
        self.assertEqual(out, "%s  %s\n" % (file_sha(p), p))

    def test_any_file(self):  # a .bin or any other file: hashed as bytes
        p = self.path("x.bin")
        with open(p, "wb") as f:
            f.write(os.urandom(3 << 20))
        self.assertEqual(run("hash", p, check_rc=0).stdout.split()[0], file_sha(p))

    def test_sharded(self):
        index, names = write_sharded(self.path("m"), [TENSORS[:2], TENSORS[2:]])
        for target in (self.path("m"), index):
            doc = json.loads(run("hash", target, "--json", check_rc=0).stdout)
            got = {os.path.basename(f["path"]): f["sha256"] for f in doc["files"]}
            want = {n: file_sha(os.path.join(self.path("m"), n)) for n in names + ["model.safetensors.index.json"]}
            self.assertEqual(got, want)


class HashTensors(CliTestCase):
    def content(self, path):
        return json.loads(run("hash", path, "--tensors", "--json", check_rc=0).stdout)

    def test_digests_and_content_hash(self):
        p = write_safetensors(self.path("a.safetensors"), TENSORS)
        doc = self.content(p)
        self.assertEqual({t["name"]: t["sha256"] for t in doc["tensors"]}, {t[0]: sha(t[3]) for t in TENSORS})
        self.assertEqual([t["name"] for t in doc["tensors"]], ["b", "emb", "m", "w"])
        self.assertEqual(doc["content_sha256"], content_hash(TENSORS))
        out = run("hash", p, "--tensors", check_rc=0).stdout
        self.assertIn("content sha256: " + content_hash(TENSORS), out)

    def test_invariant_under_layout(self):
        want = content_hash(TENSORS)
        a = write_safetensors(self.path("a.safetensors"), TENSORS)
        b = write_safetensors(self.path("b.safetensors"), TENSORS, order="given", align=4096)
        index, _ = write_sharded(self.path("m"), [TENSORS[2:], TENSORS[:2]])
        self.assertNotEqual(file_sha(a), file_sha(b))
        for p in (a, b, index):
            self.assertEqual(self.content(p)["content_sha256"], want, p)

    def test_changes_with_content(self):
        changed = list(TENSORS)
        changed[0] = ("w", "F32", [3, 4], TENSORS[0][3])  # same bytes, other shape
        renamed = [("w2",) + TENSORS[0][1:]] + TENSORS[1:]
        hashes = {self.content(write_safetensors(self.path("%d.safetensors" % i), ts))["content_sha256"]
                  for i, ts in enumerate([TENSORS, changed, renamed])}
        self.assertEqual(len(hashes), 3)

    def test_torch_bin_equals_safetensors(self):
        import torch
        sd = {"w": torch.arange(12, dtype=torch.float32).reshape(4, 3),
              "h": torch.arange(6, dtype=torch.float16), "i": torch.arange(4, dtype=torch.int64)}
        sd["t"] = sd["w"].t()  # a strided view: gathered row-major
        pt = self.path("m.bin")
        torch.save(sd, pt)
        ts = [(k, {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64"}[v.dtype], list(v.shape),
               v.contiguous().numpy().tobytes()) for k, v in sd.items()]
        st = write_safetensors(self.path("m.safetensors"), ts)
        self.assertEqual(self.content(pt)["content_sha256"], content_hash(ts))
        self.assertEqual(self.content(st)["content_sha256"], content_hash(ts))


class HashCheck(CliTestCase):
    def setUp(self):
        super().setUp()
        self.index, self.names = write_sharded(self.path("m"), [TENSORS[:2], TENSORS[2:]])
        self.sums = self.path("SUMS")
        with open(self.sums, "w") as f:
            for n in self.names + ["model.safetensors.index.json"]:
                f.write("%s  %s\n" % (file_sha(os.path.join(self.path("m"), n)), n))

    def test_ok(self):
        out = run("hash", self.path("m"), "--check", self.sums, check_rc=0).stdout
        self.assertEqual(out.count(": OK"), 3, out)

    def test_mismatch_and_unlisted(self):
        shard = os.path.join(self.path("m"), self.names[1])
        with open(shard, "r+b") as f:  # one data byte changes: the file stays valid
            f.seek(-1, 2)
            last = f.read(1)
            f.seek(-1, 2)
            f.write(bytes([last[0] ^ 1]))
        proc = run("hash", self.path("m"), "--check", self.sums)
        self.assert_exit(proc, 1)
        self.assertIn(self.names[1] + ": FAILED", proc.stdout)
        self.assertEqual(proc.stdout.count(": OK"), 2)
        with open(self.sums, "w") as f:
            f.write("%s *%s\n" % (file_sha(shard), self.names[1]))
        proc = run("hash", self.path("m"), "--check", self.sums)
        self.assert_exit(proc, 1)
        self.assertIn("not listed", proc.stdout)
        doc = json.loads(run("hash", shard, "--check", self.sums, "--json", check_rc=0).stdout)
        self.assertTrue(doc["files"][0]["ok"])

    def test_bad_sums(self):
        with open(self.sums, "w") as f:
            f.write("abc  file\n")
        proc = run("hash", self.path("m"), "--check", self.sums)
        self.assert_exit(proc, 1)
        self.assertIn("SUMS:1", proc.stderr)
        self.assert_exit(run("hash", self.path("m"), "--check", self.path("none")), 3)

    def test_missing_input(self):
        proc = run("hash", self.path("nothing.safetensors"))
        self.assert_exit(proc, 3)
        self.assertEqual(len(proc.stderr.splitlines()), 1)
        bad = self.path("bad.safetensors")
        with open(bad, "wb") as f:
            f.write(struct.pack("<Q", 2) + b"{}xx")
        self.assert_exit(run("hash", bad, "--tensors"), 1)


if __name__ == "__main__":
    main()
