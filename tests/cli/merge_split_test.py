"""`safetensors-cli merge`, `split`, `reshard` (and convert's selection options), all one pipeline:
Hugging Face shard names and index, merge(split(x)) byte-identical to x, reshard in place (stale
shards removed), --filter/--exclude/--rename/--dtype, PyTorch inputs, companion files, bounded
memory on a large tensor, and the error paths (existing outputs, bad options, rename collisions,
unwritable folders, a write that fails mid-way)."""
import json
import os
import resource
import signal
import stat
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from st_testlib import (CLI, REAL_TORCH, CliTestCase, main, read_header, run, tensor,  # noqa: E402
                         write_safetensors)

META = {"format": "pt", "source": "merge_split_test"}
TENSORS = [tensor("model.layers.%d.%s" % (i, part), dtype, shape)
           for i in range(4) for part, dtype, shape in (("attn.weight", "F32", [16, 8]),
                                                        ("mlp.weight", "F16", [8, 32]),
                                                        ("norm.weight", "BF16", [8]))]
TENSORS += [tensor("model.embed.weight", "F32", [32, 8]), tensor("model.step", "I64", [1]),
            tensor("lm_head.weight", "F16", [32, 8])]


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def index_of(folder, prefix="model"):
    with open(os.path.join(folder, prefix + ".safetensors.index.json")) as f:
        return json.load(f)


def tensor_bytes(path):
    """{name: (dtype, shape, bytes)} of a safetensors file."""
    n, header = read_header(path)
    blob = read_bytes(path)[8 + n:]
    return {k: (v["dtype"], v["shape"], blob[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in header.items() if k != "__metadata__"}


def folder_tensors(folder, prefix="model"):
    out = {}
    for shard in sorted(set(index_of(folder, prefix)["weight_map"].values())):
        out.update(tensor_bytes(os.path.join(folder, shard)))
    return out


def bf16_of_f32(data):
    """Round-to-nearest-even F32 -> BF16 (NaN kept quiet), as the reference casts."""
    out = bytearray()
    for (bits,) in struct.iter_unpack("<I", data):
        if (bits & 0x7fffffff) > 0x7f800000:
            out += struct.pack("<H", (bits >> 16) | 0x40)
        else:
            out += struct.pack("<H", ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) & 0xffff)
    return bytes(out)


class SplitMerge(CliTestCase):
    def setUp(self):
        super().setUp()
        self.src = write_safetensors(self.path("x.safetensors"), TENSORS, metadata=META)
        self.total = sum(len(t[3]) for t in TENSORS)

    def split(self, src, out, size, *flags, code=0):
        p = run("split", src, out, "--max-shard-size", size, *flags)
        self.assert_exit(p, code)
        return p

    def test_split_writes_hugging_face_shards(self):
        out = self.path("shards")
        self.split(self.src, out, "2KB")
        index = index_of(out)
        shards = sorted(set(index["weight_map"].values()))
        self.assertGreater(len(shards), 2)
        self.assertEqual(shards, ["model-%05d-of-%05d.safetensors" % (i + 1, len(shards))
                                  for i in range(len(shards))])
        self.assertEqual(index["metadata"]["total_size"], self.total)
        self.assertEqual(sorted(index["weight_map"]), sorted(t[0] for t in TENSORS))
        self.assertEqual(sorted(os.listdir(out)), sorted(shards + ["model.safetensors.index.json"]))
        for shard in shards:
            size = sum(len(b) for _, _, b in tensor_bytes(os.path.join(out, shard)).values())
            self.assertLessEqual(size, 2000, shard)  # no tensor here is larger than a shard
            self.assertEqual(read_header(os.path.join(out, shard))[1]["__metadata__"], META)
        want = {t[0]: (t[1], t[2], t[3]) for t in TENSORS}
        self.assertEqual(folder_tensors(out), want)
        self.assert_exit(run("validate", out), 0)

    def test_index_text_is_what_hugging_face_writes(self):
        """The index is json.dumps(index, indent=2, sort_keys=True) + "\\n", as transformers'
        save_pretrained writes it (non-ASCII names as \\u escapes, quotes escaped)."""
        odd = TENSORS + [tensor('caf\u00e9."quoted"\\x.\U0001f600', "F32", [300])]
        src = write_safetensors(self.path("odd.safetensors"), odd)
        out = self.path("odd")
        self.split(src, out, "1KB")
        index_path = os.path.join(out, "model.safetensors.index.json")
        with open(index_path, encoding="utf-8") as f:
            text = f.read()
        self.assertEqual(text, json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n")
        self.assertIn("\\ud83d\\ude00", text)
        self.assert_exit(run("validate", out), 0)

    def test_merge_of_split_is_byte_identical(self):
        for size in ("1KB", "2KB", "100KB"):
            with self.subTest(size=size):
                out = self.path("s" + size)
                self.split(self.src, out, size)
                merged = self.path("m%s.safetensors" % size)
                self.assert_exit(run("merge", out, merged), 0)
                self.assertEqual(read_bytes(merged), read_bytes(self.src))
                # the index file names the same set
                index = os.path.join(out, "model.safetensors.index.json")
                if os.path.exists(index):
                    merged2 = self.path("i%s.safetensors" % size)
                    self.assert_exit(run("merge", index, merged2), 0)
                    self.assertEqual(read_bytes(merged2), read_bytes(self.src))

    def test_one_shard_is_a_single_file(self):
        out = self.path("one")
        self.split(self.src, out, "1GB")
        self.assertEqual(os.listdir(out), ["model.safetensors"])
        self.assertEqual(read_bytes(os.path.join(out, "model.safetensors")), read_bytes(self.src))

    def test_reshard_to_another_size_and_in_place(self):
        out = self.path("a")
        self.split(self.src, out, "1KB")
        before = sorted(os.listdir(out))
        b = self.path("b")
        p = run("reshard", out, b, "--max-shard-size", "3KB", "--json")
        self.assert_exit(p, 0)
        report = json.loads(p.stdout)
        self.assertEqual(report["tensors"], len(TENSORS))
        self.assertEqual(report["bytes"], self.total)
        self.assertTrue(report["verified"])
        self.assertLess(len(set(index_of(b)["weight_map"].values())), len(before) - 1)
        self.assertEqual(folder_tensors(b), folder_tensors(out))
        # in place: refused without --force (nothing touched), then the old set is replaced and
        # its stale shards removed
        p = run("reshard", out, out, "--max-shard-size", "3KB")
        self.assert_exit(p, 2)
        self.assertIn("already exists (use --force to overwrite)", p.stderr)
        self.assertEqual(sorted(os.listdir(out)), before)
        p = run("reshard", out, out, "--max-shard-size", "3KB", "--force")
        self.assert_exit(p, 0)
        self.assertIn("removed: ", p.stdout)
        self.assertEqual(sorted(os.listdir(out)), sorted(os.listdir(b)))
        for name in os.listdir(b):
            self.assertEqual(read_bytes(os.path.join(out, name)), read_bytes(os.path.join(b, name)), name)
        merged = self.path("m.safetensors")
        self.assert_exit(run("merge", out, merged), 0)
        self.assertEqual(read_bytes(merged), read_bytes(self.src))
        # back to one file in place: the index and every shard go
        self.assert_exit(run("reshard", out, out, "--max-shard-size", "1GB", "--force"), 0)
        self.assertEqual(os.listdir(out), ["model.safetensors"])

    def test_filter_exclude_rename(self):
        out = self.path("f.safetensors")
        p = run("merge", self.src, out, "--filter", "model.*", "--exclude", "*.norm.weight",
                "--rename", r"^model\.=", "--rename", r"layers\.(\d+)=blocks.$1")
        self.assert_exit(p, 0)
        got = tensor_bytes(out)
        want = {}
        for name, dtype, shape, data in TENSORS:
            if name.startswith("model.") and not name.endswith(".norm.weight"):
                new = name[len("model."):]
                if new.startswith("layers."):
                    new = "blocks." + new[len("layers."):]
                want[new] = (dtype, shape, data)
        self.assertEqual(got, want)
        self.assertEqual(read_header(out)[1]["__metadata__"], META)

    def test_rename_collision_bad_regex_and_empty_selection(self):
        out = self.path("c.safetensors")
        p = run("merge", self.src, out, "--rename", r"\.(attn|mlp)\.=.x.")
        self.assert_exit(p, 2)
        self.assertRegex(p.stderr, r"^error: .*rename: tensors 'model\.layers\.0\.(attn|mlp)\.weight' and "
                                   r"'model\.layers\.0\.(attn|mlp)\.weight' would both be named "
                                   r"'model\.layers\.0\.x\.weight'\n$")
        p = run("merge", self.src, out, "--rename", "(unclosed=x")
        self.assert_exit(p, 2)
        self.assertIn("invalid regex", p.stderr)
        p = run("merge", self.src, out, "--rename", "no-equals-sign")
        self.assert_exit(p, 2)
        self.assertIn("expected REGEX=REPLACEMENT", p.stderr)
        p = run("merge", self.src, out, "--rename", "^.*$=")
        self.assert_exit(p, 2)
        self.assertIn("would get an empty name", p.stderr)
        p = run("split", self.src, self.path("d"), "--max-shard-size", "1KB", "--filter", "nothing.*")
        self.assert_exit(p, 2)
        self.assertIn("no tensor is left after the filters (of %d)" % len(TENSORS), p.stderr)
        for args in (("split", self.src, self.path("d"), "--max-shard-size", "zero"),
                     ("split", self.src, self.path("d")),
                     ("split", self.src, self.path("d"), "--max-shard-size", "1KB", "--prefix", "a/b"),
                     ("merge", self.src, out, "--dtype", "i8")):
            with self.subTest(args=args):
                self.assert_exit(run(*args), 2)
        self.assertFalse(os.path.exists(out))
        self.assertFalse(os.path.exists(self.path("d")))

    def test_dtype_cast_on_split(self):
        out = self.path("bf")
        self.split(self.src, out, "2KB", "--dtype", "bf16")
        got = folder_tensors(out)
        for name, dtype, shape, data in TENSORS:
            with self.subTest(tensor=name):
                if dtype == "F32":
                    self.assertEqual(got[name], ("BF16", shape, bf16_of_f32(data)))
                elif dtype == "I64":
                    self.assertEqual(got[name], (dtype, shape, data))
                else:
                    self.assertEqual(got[name][0], "BF16")

    def test_merge_errors(self):
        self.assert_exit(run("merge", self.path("missing"), self.path("o.safetensors")), 3)
        os.mkdir(self.path("dir"))
        p = run("merge", self.src, self.path("dir"))
        self.assert_exit(p, 2)
        self.assertIn("is a folder", p.stderr)
        existing = write_safetensors(self.path("e.safetensors"), TENSORS[:1])
        before = read_bytes(existing)
        p = run("merge", self.src, existing)
        self.assert_exit(p, 2)
        self.assertEqual(read_bytes(existing), before)
        self.assert_exit(run("merge", self.src, existing, "--force"), 0)
        self.assertEqual(read_bytes(existing), read_bytes(self.src))
        bad = self.path("bad.safetensors")
        with open(bad, "wb") as f:
            f.write(read_bytes(self.src)[:-3])
        p = run("merge", bad, self.path("o.safetensors"))
        self.assert_exit(p, 1)
        self.assertIn("bad.safetensors", p.stderr)
        self.assertFalse(os.path.exists(self.path("o.safetensors")))

    def test_read_only_folder(self):
        if os.geteuid() == 0:
            self.skipTest("root writes into read-only folders")
        ro = self.path("ro")
        os.mkdir(ro)
        os.chmod(ro, stat.S_IRUSR | stat.S_IXUSR)
        try:
            p = run("split", self.src, ro, "--max-shard-size", "1KB")
            self.assert_exit(p, 3)
            self.assertEqual(os.listdir(ro), [])
        finally:
            os.chmod(ro, stat.S_IRWXU)

    def test_failed_write_leaves_nothing(self):
        """A write that fails mid-way (RLIMIT_FSIZE: EFBIG, as a full disk gives ENOSPC) exits 3
        with one line; no output, no temp file, the input untouched."""
        out = self.path("shards")
        os.mkdir(out)
        before = read_bytes(self.src)

        def limit():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))

        p = subprocess.run([CLI, "split", self.src, out, "--max-shard-size", "100KB"], capture_output=True,
                           text=True, preexec_fn=limit, timeout=60)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertEqual(os.listdir(out), [])
        self.assertEqual(read_bytes(self.src), before)

    def test_companion_files_follow_a_folder(self):
        model = self.path("model")
        os.mkdir(model)
        write_safetensors(os.path.join(model, "model.safetensors"), TENSORS, metadata=META)
        for name in ("config.json", "tokenizer.json"):
            with open(os.path.join(model, name), "w") as f:
                f.write('{"name": "%s"}' % name)
        out = self.path("out")
        p = self.split(model, out, "2KB")
        self.assertIn("copied: ", p.stdout)
        for name in ("config.json", "tokenizer.json"):
            self.assertEqual(read_bytes(os.path.join(out, name)), read_bytes(os.path.join(model, name)))
        p = run("split", model, self.path("out2"), "--max-shard-size", "2KB", "--no-copy")
        self.assert_exit(p, 0)
        self.assertFalse(os.path.exists(os.path.join(self.path("out2"), "config.json")))
        # an existing companion is an existing output: refused before anything is written
        p = run("split", model, out, "--max-shard-size", "3KB", "--prefix", "other")
        self.assert_exit(p, 2)
        self.assertIn("config.json already exists", p.stderr)
        self.assertFalse([n for n in os.listdir(out) if n.startswith("other")])

    def test_pytorch_input(self):
        src = os.path.join(REAL_TORCH, "mlp_mnist_statedict_zip_archive_prefix.pt")
        converted = self.path("c.safetensors")
        self.assert_exit(run("convert", src, converted), 0)
        merged = self.path("m.safetensors")
        self.assert_exit(run("merge", src, merged), 0)
        self.assertEqual(read_bytes(merged), read_bytes(converted))
        out = self.path("s")
        self.split(src, out, "100KB")
        self.assertEqual(folder_tensors(out), tensor_bytes(converted))

    def test_large_tensor_streams_in_bounded_memory(self):
        """A 192 MiB tensor, merged with a cast and split: the child's peak RSS stays far below it."""
        big = self.path("big.safetensors")
        n = 48 << 20  # F32 elements
        header = json.dumps({"big": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}},
                            separators=(",", ":")).encode()
        header += b" " * (-len(header) % 8)
        with open(big, "wb") as f:
            f.write(struct.pack("<Q", len(header)) + header)
            chunk = struct.pack("<f", 1.5) * (1 << 20)
            for _ in range(n >> 20):
                f.write(chunk)
        for args in (("merge", big, self.path("bf.safetensors"), "--dtype", "bf16"),
                     ("split", big, self.path("sp"), "--max-shard-size", "1MB")):
            with self.subTest(command=args[0]):
                p = subprocess.run([sys.executable, "-c",
                                    "import resource, subprocess, sys\n"
                                    "rc = subprocess.run(sys.argv[1:]).returncode\n"
                                    "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
                                    CLI, *args, "--quiet"], capture_output=True, text=True, timeout=300)
                rc, peak_kib = map(int, p.stdout.split())
                self.assertEqual(rc, 0, p.stderr)
                self.assertLess(peak_kib, 96 * 1024, "peak RSS %d KiB for a 192 MiB tensor" % peak_kib)
        self.assertEqual(read_header(self.path("bf.safetensors"))[1]["big"]["dtype"], "BF16")


class ConvertSelection(CliTestCase):
    """convert takes the same selection options (one pipeline)."""

    def test_convert_filter_rename_dtype(self):
        src = write_safetensors(self.path("x.safetensors"), TENSORS, metadata=META)
        out = self.path("o.safetensors")
        p = run("convert", src, out, "--filter", "*.attn.weight", "--rename", r"^model\.layers\.=L",
                "--dtype", "bf16", "--json")
        self.assert_exit(p, 0)
        self.assertEqual(json.loads(p.stdout)["tensors"], 4)
        got = tensor_bytes(out)
        self.assertEqual(sorted(got), ["L%d.attn.weight" % i for i in range(4)])
        for i in range(4):
            data = next(t[3] for t in TENSORS if t[0] == "model.layers.%d.attn.weight" % i)
            self.assertEqual(got["L%d.attn.weight" % i], ("BF16", [16, 8], bf16_of_f32(data)))


if __name__ == "__main__":
    main()
