"""load_file (torch and numpy) hands out views of one block of memory per file
(python/src/tensor_block.hpp): each result must still be an ordinary tensor/array - right
values for every dtype, zero-size and misaligned tensors, writable, independent of the others
and of the file, with its own storage, and the block freed once every result is gone."""
import gc
import subprocess
import sys
import textwrap
import unittest

import numpy as np
import torch

from pypackage_testlib import PackageTestCase
import safetensors.numpy as stnp
import safetensors.torch as stpt
from st_testlib import write_safetensors

# Format name -> numpy dtype, for every dtype numpy has (torch's subset: the names in stpt._TYPES).
NP_TYPES = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "I16": np.int16, "U16": np.uint16,
            "F16": np.float16, "I32": np.int32, "U32": np.uint32, "F32": np.float32, "C64": np.complex64,
            "F64": np.float64, "I64": np.int64, "U64": np.uint64}


def pattern(n, seed):
    """n bytes that differ per tensor; BOOL needs 0/1 bytes."""
    return bytes((i * 131 + seed * 29 + 7) % 251 for i in range(n))


def odd_file(path, formats):
    """Each of `formats`, in the given order: a 3-byte U8 first shifts the rest off their natural
    alignment, a second copy at an aligned offset, odd element counts, a zero-size tensor of
    each kind, a rank-0 one. Returns {name: (format dtype, shape, bytes)}."""
    items = [("lead", "U8", [3], pattern(3, 0))]
    for i, fmt in enumerate(formats):
        size = np.dtype(NP_TYPES[fmt]).itemsize
        for j, shape in enumerate(([5], [3, 1, 7], [0, 2], [])):
            n = int(np.prod(shape)) * size
            data = bytes(b & 1 for b in pattern(n, i)) if fmt == "BOOL" else pattern(n, 4 * i + j)
            items.append((f"{fmt}.{j}", fmt, shape, data))
    write_safetensors(path, items, order="given")
    return {name: (fmt, shape, data) for name, fmt, shape, data in items}


class OddLayouts(PackageTestCase):
    def test_numpy_every_dtype_zero_size_and_misaligned(self):
        expected = odd_file(self.path("odd.safetensors"), NP_TYPES)
        loaded = stnp.load_file(self.path("odd.safetensors"))
        self.assertEqual(sorted(loaded), sorted(expected))
        for name, (fmt, shape, data) in expected.items():
            dt = NP_TYPES[fmt]
            a = loaded[name]
            self.assertEqual((a.dtype, list(a.shape)), (np.dtype(dt), shape), name)
            np.testing.assert_array_equal(a, np.frombuffer(data, dtype=dt).reshape(shape), name)
            self.assertTrue(a.flags.writeable and a.flags.c_contiguous and a.flags.aligned, name)

    def test_torch_every_dtype_zero_size_and_misaligned(self):
        formats = [f for f in NP_TYPES if f in stpt._TYPES]  # torch < 2.3 has no U16/U32/U64
        expected = odd_file(self.path("odd.safetensors"), formats)
        loaded = stpt.load_file(self.path("odd.safetensors"))
        self.assertEqual(list(loaded), sorted(expected))
        for name, (fmt, shape, data) in expected.items():
            want = torch.from_numpy(np.frombuffer(data, dtype=NP_TYPES[fmt]).copy()).reshape(shape)
            t = loaded[name]
            self.assertEqual((t.dtype, list(t.shape)), (want.dtype, shape), name)
            self.assertTrue(torch.equal(t, want), name)
            self.assertTrue(t.is_contiguous(), name)
            self.assertEqual(t.data_ptr() % t.element_size(), 0, name)  # misaligned ones are copies
        t = loaded["F32.1"]
        t.add_(1)  # writable, like any tensor

    def test_a_dtype_torch_lacks_is_refused(self):
        missing = [f for f in NP_TYPES if f not in stpt._TYPES]
        if not missing:
            self.skipTest("this torch has every numpy dtype")
        odd_file(self.path("odd.safetensors"), ["F32"] + missing)
        self.assertRefused(stpt.load_file, self.path("odd.safetensors"), kind="dtype_mismatch",
                           contains=missing[0])


class Independence(PackageTestCase):
    def setUp(self):
        super().setUp()
        self.tensors = {f"t{i}": torch.arange(i * 100, i * 100 + 97, dtype=torch.float32) for i in range(6)}
        self.tensors["i8"] = torch.arange(-5, 6, dtype=torch.int8)
        self.file = self.path("f.safetensors")
        stpt.save_file(self.tensors, self.file)

    def test_torch_tensors_are_writable_and_share_nothing(self):
        loaded = stpt.load_file(self.file)
        ptrs = {stpt.storage_ptr(t) for t in loaded.values()}
        self.assertEqual(len(ptrs), len(loaded))  # one storage each, none covering another
        for t in loaded.values():
            self.assertEqual(stpt.storage_size(t), t.numel() * t.element_size())
        loaded["t2"].fill_(-1)
        loaded["i8"][0] = 7
        for k, v in loaded.items():
            if k not in ("t2", "i8"):
                self.assertTrue(torch.equal(v, self.tensors[k]), k)
        self.assertTrue(torch.equal(loaded["t2"], torch.full((97,), -1.0)))
        again = stpt.load_file(self.file)  # the file and other loads are untouched
        self.assertTrue(torch.equal(again["t2"], self.tensors["t2"]))
        self.assertEqual(int(again["i8"][0]), -5)
        # Loaded tensors save like any others: no "shared memory" refusal, same bytes.
        stpt.save_file(again, self.path("again.safetensors"))
        with open(self.file, "rb") as a, open(self.path("again.safetensors"), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_numpy_arrays_are_writable_and_share_nothing(self):
        loaded = stnp.load_file(self.file)
        names = sorted(loaded)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                self.assertFalse(np.shares_memory(loaded[a], loaded[b]), (a, b))
        loaded["t3"][:] = 0
        for k, v in loaded.items():
            if k != "t3":
                np.testing.assert_array_equal(v, self.tensors[k].numpy(), k)
        np.testing.assert_array_equal(stnp.load_file(self.file)["t3"], self.tensors["t3"].numpy())

    def test_one_survivor_keeps_its_memory(self):
        for load in (stpt.load_file, stnp.load_file):
            loaded = load(self.file)
            keep = loaded["t5"]
            del loaded
            gc.collect()
            junk = [bytearray(b"\xff" * 4096) for _ in range(256)]  # reuse freed memory, if any was
            np.testing.assert_array_equal(np.asarray(keep), self.tensors["t5"].numpy())
            del junk


RSS_CHILD = textwrap.dedent("""
    import gc, sys
    import safetensors.numpy, safetensors.torch
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
    for fw in ("torch", "numpy"):
        for mode in ("drop-all", "keep-small"):
            gc.collect()
            base = rss()
            loaded = getattr(safetensors, fw).load_file(sys.argv[1])
            held = rss() - base
            survivor = loaded.pop("small") if mode == "keep-small" else None
            del loaded
            gc.collect()
            print(fw, mode, held, rss() - base)
            del survivor
""")


class Freed(PackageTestCase):
    """The block is unmapped when the last tensor of the load is gone (RSS in a fresh process)."""

    def test_memory_returns_when_every_result_is_dropped(self):
        size = 48 << 20
        stpt.save_file({"big": torch.ones(size // 4), "small": torch.zeros(3)}, self.path("big.safetensors"))
        out = subprocess.run([sys.executable, "-c", RSS_CHILD, self.path("big.safetensors")],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = [line.split() for line in out.stdout.splitlines()]
        self.assertEqual(len(lines), 4, out.stdout)
        for fw, mode, held, after in lines:
            held, after = int(held), int(after)
            self.assertGreater(held, 0.9 * size, (fw, mode))
            self.assertLess(held, 1.1 * size, (fw, mode))
            if mode == "drop-all":
                self.assertLess(after, 0.1 * size, (fw, mode))
            else:  # one small survivor holds the whole block: documented in docs/PYTHON.md
                self.assertGreater(after, 0.9 * size, (fw, mode))


if __name__ == "__main__":
    unittest.main()
