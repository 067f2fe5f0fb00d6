"""`safetensors-cli validate`: OK lines, one problem line per failure naming file and tensor with
its kind, warnings (order, alignment, --check-values), --json, sharded inputs, the progress bar on
a terminal only, and exit codes. Runs the built CLI ($SAFETENSORS_CLI)."""
import json
import os
import pty
import select
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from st_testlib import (REAL_SAFETENSORS, REAL_TORCH, CLI, CliTestCase, f32, main, run, tensor,  # noqa: E402
                         write_raw, write_safetensors, write_sharded)

U8_2 = '"dtype":"U8","shape":[2]'

# (label, header JSON, data bytes, expected kind, tensor the message must name or None)
CORRUPT = [
    ("gap", '{"a":{%s,"data_offsets":[0,2]},"b":{%s,"data_offsets":[3,5]}}' % (U8_2, U8_2), 5,
     "invalid_offset", "b"),
    ("overlap", '{"a":{%s,"data_offsets":[0,2]},"b":{%s,"data_offsets":[1,3]}}' % (U8_2, U8_2), 3,
     "invalid_offset", "b"),
    ("size mismatch", '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', 4, "tensor_invalid_info", "w"),
    ("trailing bytes", '{"a":{%s,"data_offsets":[0,2]}}' % U8_2, 3, "incomplete_buffer", None),
    ("unknown dtype", '{"x":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}', 16, "unknown_dtype", None),
    ("bad json", '{"a":{%s,"data_offsets":[0,2]},}' % U8_2, 2, "invalid_json", None),
    ("duplicate", '{"a":{%s,"data_offsets":[0,2]},"a":{%s,"data_offsets":[0,2]}}' % (U8_2, U8_2), 2,
     "duplicate_key", None),
    ("overflow", '{"o":{"dtype":"U8","shape":[4294967296,4294967296,2],"data_offsets":[0,2]}}', 2,
     "validation_overflow", None),
]


def canonical_file(tc, name="ok.safetensors", **kw):
    ts = [tensor("w", "F32", [2, 2]), tensor("b", "F16", [2]), tensor("m", "BOOL", [3], fill=b"\x00\x01\x01")]
    return write_safetensors(tc.path(name), ts, metadata={"format": "pt"}, **kw)


class ValidateBasics(CliTestCase):
    def test_valid_file_ok_line(self):
        path = canonical_file(self)
        p = run("validate", path)
        self.assert_exit(p, 0)
        self.assertEqual(p.stdout, "OK %s (3 tensors)\n" % path)
        self.assertEqual(p.stderr, "")

    def test_quiet_prints_nothing_when_valid(self):
        p = run("validate", "--quiet", canonical_file(self))
        self.assert_exit(p, 0)
        self.assertEqual(p.stdout, "")

    def test_every_corruption_kind(self):
        for label, header, size, kind, name in CORRUPT:
            with self.subTest(label):
                path = write_raw(self.path(label.replace(" ", "_") + ".safetensors"), header, b"\0" * size)
                p = run("validate", path)
                self.assert_exit(p, 1)
                lines = p.stdout.splitlines()
                self.assertEqual(len(lines), 1, p.stdout)
                self.assertTrue(lines[0].startswith(path + ": "), lines[0])
                self.assertTrue(lines[0].endswith("[%s]" % kind), lines[0])
                if name:
                    self.assertIn("tensor '%s'" % name, lines[0])
                data = json.loads(run("validate", "--json", path).stdout)
                self.assertEqual(data[0]["valid"], False)
                self.assertEqual(data[0]["errors"][0]["kind"], kind)
                if name:
                    self.assertEqual(data[0]["errors"][0]["tensor"], name)

    def test_header_length_kinds(self):
        small = self.path("small.safetensors")
        with open(small, "wb") as f:
            f.write(b"\x00\x01")
        huge = write_raw(self.path("huge.safetensors"), "{}", length=100_000_001)
        beyond = write_raw(self.path("beyond.safetensors"), "{}", length=4096)
        for path, kind in [(small, "header_too_small"), (huge, "header_too_large"), (beyond, "invalid_header_length")]:
            with self.subTest(kind):
                p = run("validate", path)
                self.assert_exit(p, 1)
                self.assertTrue(p.stdout.rstrip().endswith("[%s]" % kind), p.stdout)

    def test_missing_file_exit_3(self):
        missing = self.path("missing.safetensors")
        p = run("validate", missing)
        self.assert_exit(p, 3)
        self.assertIn(missing, p.stdout)
        self.assertIn("[io]", p.stdout)

    def test_several_inputs(self):
        ok = canonical_file(self)
        bad = write_raw(self.path("bad.safetensors"), '{"a":{%s,"data_offsets":[0,2]}}' % U8_2, b"\0" * 3)
        p = run("validate", ok, bad)
        self.assert_exit(p, 1)
        self.assertIn("OK %s (3 tensors)" % ok, p.stdout)
        self.assertIn(bad + ": ", p.stdout)
        p = run("validate", ok, bad, self.path("missing.safetensors"))
        self.assert_exit(p, 3)
        self.assert_exit(run("validate", ok, ok), 0)

    def test_torch_file_is_validated_as_one(self):
        pt = os.path.join(REAL_TORCH, "mlp_mnist_statedict_zip_archive_prefix.pt")
        p = run("validate", "--check-values", pt)
        self.assert_exit(p, 0)
        self.assertRegex(p.stdout, r"^OK %s \(\d+ tensors\)\n$" % pt)
        p = run("validate", "--format", "safetensors", pt)
        self.assert_exit(p, 1)
        self.assertIn("holds no safetensors checkpoint [invalid_argument]", p.stdout)

    def test_bad_arguments_exit_2(self):
        self.assert_exit(run("validate"), 2)
        self.assert_exit(run("validate", "--nope", canonical_file(self)), 2)

    def test_json(self):
        ok = canonical_file(self)
        bad = write_raw(self.path("bad.safetensors"),
                        '{"a":{%s,"data_offsets":[0,2]},"zz":{%s,"data_offsets":[4,6]}}' % (U8_2, U8_2), b"\0" * 6)
        p = run("validate", "--json", ok, bad)
        self.assert_exit(p, 1)
        data = json.loads(p.stdout)
        self.assertEqual([d["path"] for d in data], [ok, bad])
        self.assertEqual(data[0], {"path": ok, "valid": True, "errors": [], "warnings": [], "notes": [],
                                   "tensors": 3})
        self.assertFalse(data[1]["valid"])
        err = data[1]["errors"][0]
        self.assertEqual((err["kind"], err["tensor"]), ("invalid_offset", "zz"))
        self.assertIn(bad, err["message"])


class ValidateWarnings(CliTestCase):
    def test_non_canonical_order_warns_but_passes(self):
        ts = [tensor("b", "F32", [2]), tensor("a", "F32", [2])]
        path = write_safetensors(self.path("o.safetensors"), ts, order="given")
        p = run("validate", path)
        self.assert_exit(p, 0)
        self.assertIn("warning: %s: tensors are not in the canonical writer order" % path, p.stdout)
        self.assertIn("[order]", p.stdout)
        self.assertIn("OK %s (2 tensors)" % path, p.stdout)
        self.assertNotIn("[order]", run("validate", canonical_file(self)).stdout)

    def test_unaligned_data_start_warns(self):
        header = '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'  # N not padded
        self.assertNotEqual((8 + len(header)) % 8, 0)
        path = write_raw(self.path("u.safetensors"), header, b"\x01")
        p = run("validate", path)
        self.assert_exit(p, 0)
        self.assertIn("[alignment]", p.stdout)
        data = json.loads(run("validate", "--json", path).stdout)
        self.assertEqual(data[0]["warnings"][0]["kind"], "alignment")

    def test_check_values_counts_nan_inf(self):
        nan, inf = float("nan"), float("inf")
        f16 = struct.pack("<4H", 0x7E00, 0x7C00, 0xFC00, 0x3C00)  # NaN, +Inf, -Inf, 1.0
        bf16 = struct.pack("<2H", 0x7FC0, 0x3F80)                 # NaN, 1.0
        f64 = struct.pack("<3d", inf, 1.0, nan)
        c64 = f32(nan, 0.0)
        ts = [tensor("f32", "F32", [5], fill=f32(1.0, nan, inf, -inf, 2.0)), tensor("f16", "F16", [4], fill=f16),
              tensor("bf16", "BF16", [2], fill=bf16), tensor("f64", "F64", [3], fill=f64),
              tensor("c64", "C64", [1], fill=c64), tensor("clean", "F32", [2], fill=f32(0.5, -0.5)),
              tensor("flags", "BOOL", [3], fill=b"\x00\x02\x01"), tensor("ints", "I32", [1], fill=b"\xff" * 4)]
        path = write_safetensors(self.path("v.safetensors"), ts)
        plain = run("validate", path)
        self.assert_exit(plain, 0)
        self.assertNotIn("NaN", plain.stdout)
        p = run("validate", "--check-values", path)
        self.assert_exit(p, 0)
        self.assertIn("tensor 'f32': 1 NaN and 2 Inf values (of 5)", p.stdout)
        self.assertIn("tensor 'f16': 1 NaN and 2 Inf values (of 4)", p.stdout)
        self.assertIn("tensor 'bf16': 1 NaN and 0 Inf values (of 2)", p.stdout)
        self.assertIn("tensor 'f64': 1 NaN and 1 Inf values (of 3)", p.stdout)
        self.assertIn("tensor 'c64': 1 NaN and 0 Inf values (of 1)", p.stdout)
        self.assertIn("tensor 'flags': 1 BOOL bytes are neither 0 nor 1", p.stdout)
        self.assertNotIn("'clean'", p.stdout)
        self.assertNotIn("'ints'", p.stdout)
        self.assertIn("OK %s (8 tensors)" % path, p.stdout)
        data = json.loads(run("validate", "--json", "--check-values", path).stdout)
        self.assertEqual(sorted(w["tensor"] for w in data[0]["warnings"] if w["kind"] == "values"),
                         ["bf16", "c64", "f16", "f32", "f64", "flags"])

    def test_check_values_large_tensor_in_chunks(self):
        count = 200_000  # several conversion chunks
        values = [0.0] * count
        values[0], values[70_000], values[count - 1] = float("nan"), float("inf"), float("nan")
        f16 = bytearray(struct.pack("<%de" % count, *[0.0] * count))
        struct.pack_into("<H", f16, 2 * 131_072, 0x7C00)
        ts = [tensor("big", "F32", [count], fill=f32(*values)), tensor("half", "F16", [count], fill=bytes(f16))]
        path = write_safetensors(self.path("big.safetensors"), ts)
        out = run("validate", "--check-values", path).stdout
        self.assertIn("tensor 'big': 2 NaN and 1 Inf values (of 200,000)", out)
        self.assertIn("tensor 'half': 0 NaN and 1 Inf values (of 200,000)", out)


def run_on_pty(args):
    """Runs the CLI with stderr on a pseudo-terminal; returns (exit code, stderr text)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([CLI, *args], stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO once the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


class ValidateProgress(CliTestCase):
    def test_progress_bar_only_on_a_terminal(self):
        ts = [tensor("w", "F32", [300_000], fill=f32(*([1.0] * 300_000)))]
        path = write_safetensors(self.path("p.safetensors"), ts)
        code, err = run_on_pty(["validate", "--check-values", path])
        self.assertEqual(code, 0)
        self.assertIn("100%", err)
        self.assertIn("/s", err)
        self.assertIn("1.1 MiB/1.1 MiB", err)
        code, err = run_on_pty(["validate", "--check-values", "--quiet", path])
        self.assertEqual((code, err), (0, ""))
        p = run("validate", "--check-values", path)
        self.assertEqual(p.stderr, "")


class ValidateSharded(CliTestCase):
    def setUp(self):
        super().setUp()
        self.folder = self.path("model")
        self.index, self.names = write_sharded(self.folder, [
            [tensor("a", "F32", [4]), tensor("b", "F32", [4])], [tensor("c", "F16", [4])]])

    def test_folder_and_index_ok(self):
        for target in (self.folder, self.index):
            p = run("validate", target)
            self.assert_exit(p, 0)
            self.assertEqual(p.stdout, "OK %s (3 tensors)\n" % target)

    def test_corrupt_shard_names_shard_file(self):
        shard = os.path.join(self.folder, self.names[1])
        with open(shard, "ab") as f:
            f.write(b"\0")
        p = run("validate", self.index)
        self.assert_exit(p, 1)
        self.assertIn(self.names[1], p.stdout)
        self.assertIn("[incomplete_buffer]", p.stdout)

    def test_total_size_that_differs_is_a_warning(self):
        with open(self.index) as f:
            index = json.load(f)
        index["metadata"]["total_size"] = 999
        with open(self.index, "w") as f:
            json.dump(index, f)
        p = run("validate", self.index)
        self.assert_exit(p, 0)
        self.assertIn("warning: %s: metadata.total_size is 999 but the shards hold 40 bytes of tensor data [index]"
                      % self.index, p.stdout)

    def test_missing_shard(self):
        os.remove(os.path.join(self.folder, self.names[0]))
        p = run("validate", self.index)
        self.assert_exit(p, 1)  # the index names a file that does not exist
        self.assertIn(self.names[0], p.stdout)
        self.assertIn("[invalid_index]", p.stdout)


class ValidateRealFiles(CliTestCase):
    def test_real_files_valid(self):
        files = sorted(os.path.join(REAL_SAFETENSORS, f) for f in os.listdir(REAL_SAFETENSORS)
                       if f.endswith(".safetensors"))
        p = run("validate", "--check-values", *files)
        self.assert_exit(p, 0)
        for f in files:
            self.assertIn("OK %s (2 tensors)" % f, p.stdout)
        self.assertNotIn("NaN", p.stdout)


if __name__ == "__main__":
    main()
