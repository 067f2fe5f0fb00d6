"""`safetensors-cli get`: .npy files that numpy.load reads back equal for every dtype NumPy has
(and slices of them, library slice syntax), raw bytes with a note for BF16/F8/F6/F4, raw output,
text summarised like NumPy's printing, sharded and PyTorch inputs, and the error paths (missing
tensor, bad slice, binary output to a terminal)."""
import os
import pty
import struct
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from st_testlib import CLI, CliTestCase, main, run, write_safetensors, write_sharded  # noqa: E402

NUMPY_DTYPES = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16,
                "F16": np.float16, "U32": np.uint32, "I32": np.int32, "F32": np.float32, "U64": np.uint64,
                "I64": np.int64, "F64": np.float64, "C64": np.complex64}


def sample(dtype, shape):
    n = int(np.prod(shape))
    if dtype == np.bool_:
        return (np.arange(n) % 3 == 0).reshape(shape)
    if dtype == np.complex64:
        return (np.arange(n) + 1j * np.arange(n, 0, -1)).astype(dtype).reshape(shape)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.array([info.max, info.min] + list(range(n - 2)), dtype=dtype).reshape(shape)
    return (np.arange(n) / 7 - 1).astype(dtype).reshape(shape)


class GetNpy(CliTestCase):
    def test_every_numpy_dtype_and_slices(self):
        arrays = {name: sample(dt, (3, 4, 5)) for name, dt in NUMPY_DTYPES.items()}
        p = write_safetensors(self.path("a.safetensors"),
                              [(k, k, list(a.shape), a.tobytes()) for k, a in arrays.items()])
        for name, a in arrays.items():
            out = self.path(name + ".npy")
            run("get", p, name, "-o", out, check_rc=0)
            got = np.load(out)
            self.assertEqual(got.dtype, a.dtype, name)
            np.testing.assert_array_equal(got, a, name)
            run("get", p, name, "--slice", "0:2,:,-1", "-o", out, check_rc=0)
            np.testing.assert_array_equal(np.load(out), a[0:2, :, -1], name)
            run("get", p, name, "--slice", "[1, ::2]", "-o", out, check_rc=0)  # strided copy
            np.testing.assert_array_equal(np.load(out), a[1, ::2], name)

    def test_scalar_and_stdout(self):
        p = write_safetensors(self.path("a.safetensors"), [("s", "F32", [], struct.pack("<f", 2.5))])
        proc = subprocess.run([CLI, "get", p, "s", "--format", "npy"], capture_output=True, check=True)
        with open(self.path("s.npy"), "wb") as f:
            f.write(proc.stdout)
        got = np.load(self.path("s.npy"))
        self.assertEqual(got.shape, ())
        self.assertEqual(float(got), 2.5)

    def test_no_numpy_dtype_is_raw_with_note(self):
        data = bytes(range(12))
        p = write_safetensors(self.path("a.safetensors"), [("b", "BF16", [2, 3], data), ("f8", "F8_E4M3", [4], data[:4])])
        for name, want in (("b", data), ("f8", data[:4])):
            out = self.path(name + ".npy")
            proc = run("get", p, name, "-o", out, check_rc=0)
            self.assertIn("no NumPy dtype", proc.stderr)
            with open(out, "rb") as f:
                self.assertEqual(f.read(), want)

    def test_raw(self):
        a = sample(np.int16, (4, 6))
        p = write_safetensors(self.path("a.safetensors"), [("x", "I16", [4, 6], a.tobytes())])
        out = self.path("x.bin")
        run("get", p, "x", "--slice", "1:3", "-o", out, check_rc=0)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), a[1:3].tobytes())

    def test_sharded_and_torch(self):
        a, b = sample(np.float32, (5,)), sample(np.int64, (2, 2))
        index, _ = write_sharded(self.path("m"), [[("a", "F32", [5], a.tobytes())], [("b", "I64", [2, 2], b.tobytes())]])
        run("get", index, "b", "-o", self.path("b.npy"), check_rc=0)
        np.testing.assert_array_equal(np.load(self.path("b.npy")), b)
        import torch
        t = torch.arange(12, dtype=torch.float32).reshape(3, 4)
        torch.save({"t": t.t()}, self.path("m.pt"))  # a strided view
        run("get", self.path("m.pt"), "t", "-o", self.path("t.npy"), check_rc=0)
        np.testing.assert_array_equal(np.load(self.path("t.npy")), t.t().numpy())


class GetText(CliTestCase):
    def test_small_like_numpy(self):
        a = np.array([[1, 2.5, -3], [0.125, 1e-8, 100]], dtype=np.float32)
        p = write_safetensors(self.path("a.safetensors"), [("x", "F32", [2, 3], a.tobytes()),
                                                          ("m", "BOOL", [3], bytes([1, 0, 1]))])
        out = run("get", p, "x", check_rc=0).stdout
        self.assertEqual(out.splitlines()[0], "x: F32 [2, 3]")
        rows = out.splitlines()[1:]
        self.assertEqual(len(rows), 2)
        self.assertTrue(rows[0].startswith("[[") and rows[1].startswith(" [") and rows[1].endswith("]]"))
        self.assertEqual([np.float32(v) for v in " ".join(rows).replace("[", " ").replace("]", " ").split()],
                         list(a.flatten()))
        self.assertIn("[ True False  True]", run("get", p, "m", check_rc=0).stdout)

    def test_summarised(self):
        a = np.arange(40 * 50, dtype=np.int32).reshape(40, 50)
        p = write_safetensors(self.path("a.safetensors"), [("x", "I32", [40, 50], a.tobytes())])
        lines = run("get", p, "x", check_rc=0).stdout.splitlines()[1:]
        self.assertEqual(len(lines), 7)  # 3 rows, "...", 3 rows, as NumPy prints it
        self.assertEqual(lines[0].split(), ["[[", "0", "1", "2", "...", "47", "48", "49]"])
        self.assertEqual(lines[3].strip(), "...")
        self.assertEqual(lines[-1].split()[-1], "1999]]")

    def test_bf16_and_f4_values(self):
        # BF16 1.0, -2.0; F4 (E2M1) codes 0x2 = 1.0, 0xF = -6.0 packed low nibble first.
        p = write_safetensors(self.path("a.safetensors"), [("b", "BF16", [2], bytes([0x80, 0x3f, 0x00, 0xc0])),
                                                          ("f", "F4", [2], bytes([0xF2]))])
        self.assertIn("[ 1. -2.]", run("get", p, "b", check_rc=0).stdout)
        self.assertIn("[ 1. -6.]", run("get", p, "f", check_rc=0).stdout)


class GetErrors(CliTestCase):
    def setUp(self):
        super().setUp()
        self.p = write_safetensors(self.path("a.safetensors"), [("layer.weight", "F32", [2, 3], bytes(24))])

    def test_missing_tensor(self):
        proc = run("get", self.p, "layer.wieght")
        self.assert_exit(proc, 1)
        self.assertIn("layer.wieght", proc.stderr)
        self.assertIn("similar: 'layer.weight'", proc.stderr)
        self.assertEqual(len(proc.stderr.splitlines()), 1)

    def test_bad_slice(self):
        for spec in ("0:2,:,1", "5", "::0", "a:b"):
            proc = run("get", self.p, "layer.weight", "--slice", spec)
            self.assert_exit(proc, 2)
            self.assertEqual(len(proc.stderr.splitlines()), 1, proc.stderr)

    def test_binary_to_terminal(self):
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(CLI, [CLI, "get", self.p, "layer.weight", "--format", "raw"])
        out = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 2)
        self.assertIn(b"terminal", out)

    def test_unreadable_input(self):
        self.assert_exit(run("get", self.path("none.safetensors"), "x"), 3)


if __name__ == "__main__":
    main()
