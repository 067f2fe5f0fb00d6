"""`safetensors-cli stats`: per-tensor min/max/mean/std/absmax and NaN/Inf/zero counts checked
against NumPy for float and integer dtypes (one tensor larger than a work piece, so partial
results are merged), BF16/F8/F4 through the core's conversions, --filter, sharded and PyTorch
inputs, and the error paths."""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from st_testlib import CliTestCase, main, run, write_safetensors, write_sharded  # noqa: E402


def expected(values):
    v = np.asarray(values, dtype=np.float64).ravel()
    fin = v[np.isfinite(v)]
    return {"min": fin.min(), "max": fin.max(), "mean": fin.mean(), "std": fin.std(),
            "absmax": np.abs(fin).max(), "nan": int(np.isnan(v).sum()), "inf": int(np.isinf(v).sum()),
            "zeros": int((fin == 0).sum())}


class StatsValues(CliTestCase):
    def check(self, got, want):
        for k in ("nan", "inf", "zeros"):
            self.assertEqual(got[k], want[k], (got["name"], k))
        for k in ("min", "max", "mean", "std", "absmax"):
            self.assertAlmostEqual(got[k], want[k], delta=1e-9 * max(1.0, abs(want[k])), msg=(got["name"], k))

    def test_against_numpy(self):
        rng = np.random.default_rng(7)
        big = rng.standard_normal(5_000_000).astype(np.float32)  # more than one work piece
        big[[3, 99, 4_200_000]] = [np.nan, np.inf, 0]
        f16 = rng.standard_normal(1000).astype(np.float16)
        f64 = rng.standard_normal((10, 10))
        i32 = rng.integers(-1000, 1000, 500).astype(np.int32)
        u8 = np.arange(256, dtype=np.uint8)
        b = np.array([1, 0, 1, 1], dtype=np.bool_)
        arrays = {"big": ("F32", big), "f16": ("F16", f16), "f64": ("F64", f64), "i32": ("I32", i32),
                  "u8": ("U8", u8), "b": ("BOOL", b)}
        p = write_safetensors(self.path("a.safetensors"),
                              [(k, dt, list(a.shape), a.tobytes()) for k, (dt, a) in arrays.items()])
        doc = json.loads(run("stats", p, "--json", check_rc=0).stdout)
        got = {t["name"]: t for t in doc["tensors"]}
        self.assertEqual(sorted(got), sorted(arrays))
        for name, (_, a) in arrays.items():
            self.check(got[name], expected(a))
        self.assertEqual(got["big"]["values"], 5_000_000)
        self.assertEqual(got["big"]["finite"], 4_999_998)

    def test_every_numpy_dtype(self):
        # Each integer width and sign at its extremes, C64 (over its components), and F16/BF16
        # with subnormals, Inf and NaN in an F16 tensor of more than one 4 MiB chunk.
        rng = np.random.default_rng(11)
        arrays = {}
        for dt, t in (("I8", np.int8), ("U8", np.uint8), ("I16", np.int16), ("U16", np.uint16),
                      ("I32", np.int32), ("U32", np.uint32), ("I64", np.int64), ("U64", np.uint64)):
            info = np.iinfo(t)
            a = rng.integers(info.min, info.max, 1001, dtype=t, endpoint=True)
            a[:3] = [info.min, info.max, 0]
            arrays[dt.lower()] = (dt, a)
        c = (rng.standard_normal(77) + 1j * rng.standard_normal(77)).astype(np.complex64)
        f16 = rng.standard_normal(3_000_001).astype(np.float16)
        f16[[0, 5, 2_500_000, 2_999_999]] = [np.float16(6e-8), -np.inf, np.nan, np.float16(-3e-5)]
        arrays["f16big"] = ("F16", f16)
        bf = rng.standard_normal(999).astype(np.float32)
        bf[[1, 2]] = [np.inf, np.float32(1e-39)]
        bf16 = (bf.view(np.uint32) >> 16).astype(np.uint16)
        p = write_safetensors(self.path("a.safetensors"),
                              [(k, dt, list(a.shape), a.tobytes()) for k, (dt, a) in arrays.items()]
                              + [("c", "C64", [77], c.tobytes()), ("bf", "BF16", [999], bf16.tobytes())])
        got = {t["name"]: t for t in json.loads(run("stats", p, "--json", check_rc=0).stdout)["tensors"]}
        for name, (_, a) in arrays.items():
            self.check(got[name], expected(a))
        self.check(got["c"], expected(c.view(np.float32)))
        self.assertEqual(got["c"]["values"], 154)
        self.check(got["bf"], expected((bf16.astype(np.uint32) << 16).view(np.float32)))

    def test_narrow_floats(self):
        # BF16 [1, -2, nan]; F8_E4M3 [0.5, 448, nan(0x7f)]; F4 [1, -6, 0, 0.5].
        bf16 = struct.pack("<3H", 0x3f80, 0xc000, 0x7fc0)
        f8 = bytes([0x30, 0x7e, 0x7f])
        f4 = bytes([0xF2, 0x10])
        p = write_safetensors(self.path("a.safetensors"), [("bf", "BF16", [3], bf16), ("f8", "F8_E4M3", [3], f8),
                                                          ("f4", "F4", [4], f4)])
        got = {t["name"]: t for t in json.loads(run("stats", p, "--json", check_rc=0).stdout)["tensors"]}
        self.check(got["bf"], expected([1, -2, np.nan]))
        self.check(got["f8"], expected([0.5, 448, np.nan]))
        self.check(got["f4"], expected([1, -6, 0, 0.5]))

    def test_text_filter_sharded_torch(self):
        index, _ = write_sharded(self.path("m"), [[("a.weight", "F32", [2], struct.pack("<2f", 1, 3))],
                                                  [("b.bias", "F32", [1], struct.pack("<f", 0))]])
        out = run("stats", index, "--filter", "*.weight", check_rc=0).stdout
        self.assertIn("a.weight", out)
        self.assertNotIn("b.bias", out)
        self.assertIn("1 tensors", out)
        import torch
        torch.save({"w": torch.tensor([[1.0, 2.0], [3.0, 4.0]]).t()}, self.path("m.pt"))
        got = json.loads(run("stats", self.path("m.pt"), "--json", check_rc=0).stdout)["tensors"][0]
        self.check(got, expected([1, 2, 3, 4]))

    def test_all_nan_and_empty(self):
        p = write_safetensors(self.path("a.safetensors"), [("n", "F32", [2], struct.pack("<2f", np.nan, np.nan)),
                                                          ("e", "F32", [0, 3], b"")])
        got = {t["name"]: t for t in json.loads(run("stats", p, "--json", check_rc=0).stdout)["tensors"]}
        self.assertIsNone(got["n"]["min"])
        self.assertEqual(got["n"]["nan"], 2)
        self.assertEqual(got["e"]["values"], 0)
        self.assertIn(" - ", run("stats", p, check_rc=0).stdout)


class StatsErrors(CliTestCase):
    def test_errors(self):
        self.assert_exit(run("stats", self.path("none.safetensors")), 3)
        bad = self.path("bad.safetensors")
        with open(bad, "wb") as f:
            f.write(struct.pack("<Q", 2) + b"{}xx")
        proc = run("stats", bad)
        self.assert_exit(proc, 1)
        self.assertEqual(len(proc.stderr.splitlines()), 1)


if __name__ == "__main__":
    main()
