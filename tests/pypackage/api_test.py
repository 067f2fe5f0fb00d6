"""The upstream (0.4.x) API surface of the safetensors package on our core: one test per function
and per error (safe_open and its slices, safetensors.numpy, safetensors.torch, save_model /
load_model, metadata and dtype rules), zero-copy rules, and files byte-identical to the C++ writer
and to the reference writer's layout (tests/support/st_testlib.py)."""
import gc
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import unittest

import numpy as np
import torch

from pypackage_testlib import PackageTestCase, SafetensorError
import safetensors
import safetensors.numpy as stnp
import safetensors.torch as stpt
from safetensors import safe_open
from st_testlib import REAL_SAFETENSORS, SOURCE_DIR, serialize, write_raw
from torch_testlib import read_safetensors

ROUNDTRIP_TOOL = os.environ.get("ST_ROUNDTRIP_TOOL", "")
NP_DTYPES = [np.bool_, np.uint8, np.int8, np.int16, np.uint16, np.float16, np.int32, np.uint32,
             np.float32, np.complex64, np.float64, np.int64, np.uint64]
PT_DTYPES = [torch.bool, torch.uint8, torch.int8, torch.int16, torch.float16, torch.bfloat16,
             torch.int32, torch.float32, torch.complex64, torch.float64, torch.int64]


def np_sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if np.issubdtype(dtype, np.complexfloating):
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


def pt_sample(dtype, shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=g).bool()
    if dtype.is_floating_point or dtype.is_complex:
        return torch.randn(shape, generator=g, dtype=dtype if dtype != torch.bfloat16 else torch.float32).to(dtype)
    return torch.randint(-100 if dtype != torch.uint8 else 0, 100, shape, generator=g, dtype=dtype)


def project_version():
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
        return re.search(r"project\(safetensors_cpp VERSION ([0-9.]+)", f.read()).group(1)


class ReadmeExample(PackageTestCase):
    def test_example_at_the_top_of_the_issue_runs_unchanged(self):
        code = ("from safetensors.torch import save_file, load_file\n"
                "import torch\n"
                "tensors = {\"layer1.weight\": torch.randn(2, 2), \"layer1.bias\": torch.randn(2)}\n"
                "save_file(tensors, \"model.safetensors\")\n"
                "loaded = load_file(\"model.safetensors\")\n"
                "print(loaded[\"layer1.weight\"])\n")
        with open(os.path.join(SOURCE_DIR, "README.md")) as f:
            self.assertIn(code, f.read(), "README shows the example")
        out = subprocess.run([os.sys.executable, "-c", code], cwd=self.tmp, capture_output=True, text=True,
                             check=True).stdout
        self.assertTrue(out.startswith("tensor([["), out)


class Module(PackageTestCase):
    def test_version_is_the_project_version(self):
        self.assertEqual(safetensors.__version__, project_version())
        self.assertEqual(importlib.metadata.version("safetensors"), project_version())

    def test_find_spec_and_exports(self):
        self.assertIsNotNone(importlib.util.find_spec("safetensors"))
        self.assertTrue(issubclass(SafetensorError, Exception))
        self.assertEqual(SafetensorError.__module__, "safetensors")

    def test_tensorflow_and_flax_modules_refuse_clearly(self):
        for name in ("safetensors.tensorflow", "safetensors.flax"):
            with self.assertRaisesRegex(ImportError, "not supported by safetensors-cpp"):
                __import__(name)


class SafeOpen(PackageTestCase):
    def make(self, metadata=None):
        tensors = {"b": np.arange(6, dtype=np.float32).reshape(2, 3), "a": np.arange(4, dtype=np.int64),
                   "c": np.ones((2,), dtype=np.float64)}
        p = self.path("x.safetensors")
        stnp.save_file(tensors, p, metadata=metadata)
        return p, tensors

    def test_keys_sorted_and_offset_keys_in_data_order(self):
        p, _ = self.make()
        with safe_open(p, framework="np") as f:
            self.assertEqual(f.keys(), ["a", "b", "c"])
            # the writer orders by dtype (I64, F64, F32 descending), then name
            self.assertEqual(f.offset_keys(), ["a", "c", "b"])

    def test_metadata_none_without_metadata_and_dict_with(self):
        p, _ = self.make()
        with safe_open(p, framework="pt") as f:
            self.assertIsNone(f.metadata())
        p, _ = self.make({"format": "pt", "x": "y"})
        with safe_open(p, framework="pt") as f:
            self.assertEqual(f.metadata(), {"format": "pt", "x": "y"})

    def test_get_tensor_numpy_is_read_only_zero_copy_and_outlives_the_handle(self):
        p, tensors = self.make()
        with safe_open(p, framework="numpy") as f:
            a = f.get_tensor("b")
            again = f.get_tensor("b")
        gc.collect()
        np.testing.assert_array_equal(a, tensors["b"])
        self.assertFalse(a.flags.writeable)
        self.assertFalse(a.flags.owndata)
        self.assertTrue(np.shares_memory(a, again) or a.__array_interface__["data"][0] ==
                        again.__array_interface__["data"][0])
        with self.assertRaises(ValueError):
            a[0, 0] = 1
        with self.assertRaises(ValueError):
            a.setflags(write=True)
        del again
        gc.collect()
        self.assertEqual(float(a.sum()), 15.0)  # the mapping lives while an array borrows it

    def test_get_tensor_torch_is_a_writable_copy(self):
        p, tensors = self.make()
        f = safe_open(p, framework="pt", device="cpu")
        t = f.get_tensor("b")
        t[0, 0] = 42
        self.assertEqual(float(f.get_tensor("b")[0, 0]), 0.0)
        self.assertTrue(torch.equal(f.get_tensor("a"), torch.arange(4)))

    def test_closed_handle_refuses(self):
        p, _ = self.make()
        with safe_open(p, framework="np") as f:
            pass
        self.assertRefused(f.get_tensor, "a", kind="invalid_argument", contains="closed")
        self.assertRefused(f.keys, kind="invalid_argument")

    def test_unknown_tensor(self):
        p, _ = self.make()
        with safe_open(p, framework="pt") as f:
            self.assertRefused(f.get_tensor, "zz", kind="tensor_not_found", contains="'zz'")
            self.assertRefused(f.get_slice, "zz", kind="tensor_not_found")

    def test_frameworks(self):
        p, _ = self.make()
        for fw in ("pt", "torch", "np", "numpy"):
            with safe_open(p, framework=fw) as f:
                self.assertEqual(f.keys(), ["a", "b", "c"])
        for fw in ("tf", "flax", "jax", "tensorflow"):
            self.assertRefused(safe_open, p, framework=fw, kind="unsupported", contains="not supported")
        self.assertRefused(safe_open, p, framework="bogus", kind="invalid_argument", contains="invalid")

    def test_numpy_device_must_be_cpu(self):
        p, _ = self.make()
        self.assertRefused(safe_open, p, framework="np", device="cuda", kind="invalid_argument")

    def test_pathlike_and_missing_file(self):
        import pathlib
        p, _ = self.make()
        with safe_open(pathlib.Path(p), framework="np") as f:
            self.assertEqual(len(f.keys()), 3)
        self.assertRefused(safe_open, self.path("missing.safetensors"), framework="np", kind="io",
                           contains="missing.safetensors")
        with self.assertRaises(TypeError):
            safe_open(3.5, framework="np")

    def test_get_slice_shape_dtype(self):
        p, tensors = self.make()
        with safe_open(p, framework="np") as f:
            s = f.get_slice("b")
            self.assertEqual(s.get_shape(), [2, 3])
            self.assertEqual(s.get_dtype(), "F32")
            np.testing.assert_array_equal(s[:, 1:], tensors["b"][:, 1:])
            self.assertTrue(s[:, 1:].flags.writeable)

    def test_slice_errors(self):
        p, _ = self.make()
        with safe_open(p, framework="pt") as f:
            s = f.get_slice("b")
            self.assertRefused(s.__getitem__, 5, kind="invalid_slice")
            self.assertRefused(s.__getitem__, (slice(None), -4), kind="invalid_slice")
            self.assertRefused(s.__getitem__, (0, 0, 0), kind="invalid_slice")
            self.assertRefused(s.__getitem__, slice(None, None, 0), kind="invalid_slice")
            self.assertRefused(s.__getitem__, slice(None, None, -1), kind="invalid_slice")
            self.assertRefused(s.__getitem__, (Ellipsis, Ellipsis), kind="invalid_slice")
            self.assertRefused(s.__getitem__, None, kind="invalid_slice")
            self.assertRefused(s.__getitem__, "x", kind="invalid_slice")


class Slicing(PackageTestCase):
    """get_slice(...)[key] against NumPy's own indexing of the loaded array, many random keys."""

    def random_item(self, rng, d):
        if rng.random() < 0.3 and d > 0:
            return int(rng.integers(-d, d))

        def bound():
            return None if rng.random() < 0.3 else int(rng.integers(-d - 2, d + 3))
        return slice(bound(), bound(), None if rng.random() < 0.3 else int(rng.integers(1, 4)))

    def random_key(self, rng, shape):
        """Items for a prefix of the dims, optionally `...` and items for a suffix."""
        rank = len(shape)
        head = int(rng.integers(0, rank + 1))
        key = [self.random_item(rng, d) for d in shape[:head]]
        if rng.random() < 0.3:
            tail = int(rng.integers(0, rank - head + 1))
            key += [Ellipsis] + [self.random_item(rng, d) for d in shape[rank - tail:]]
        if len(key) == 1 and rng.random() < 0.5:
            return key[0]
        return tuple(key)

    def test_random_slices_match_numpy_and_torch(self):
        rng = np.random.default_rng(1234)
        cases = 0
        for i, dtype in enumerate([np.float32, np.int8, np.float64, np.bool_, np.uint16, np.float16, np.int64]):
            for rank in range(0, 5):
                shape = tuple(int(x) for x in rng.integers(0, 6, size=rank))
                arr = np_sample(dtype, shape, seed=i * 10 + rank)
                p = self.path(f"s{i}_{rank}.safetensors")
                stnp.save_file({"t": arr}, p)
                with safe_open(p, framework="np") as fn, safe_open(p, framework="pt") as fp:
                    sn, sp = fn.get_slice("t"), fp.get_slice("t")
                    for _ in range(25):
                        key = self.random_key(rng, shape)
                        expected = arr[key]
                        got = sn[key]
                        self.assertEqual(got.shape, np.shape(expected), (shape, key))
                        np.testing.assert_array_equal(got, expected, err_msg=str((shape, key)))
                        if dtype != np.uint16:
                            np.testing.assert_array_equal(sp[key].numpy(), expected, err_msg=str((shape, key)))
                        cases += 1
        self.assertGreater(cases, 800)

    def test_bf16_slice_matches_torch(self):
        t = pt_sample(torch.bfloat16, (4, 5, 3))
        p = self.path("bf.safetensors")
        stpt.save_file({"t": t}, p)
        with safe_open(p, framework="pt") as f:
            s = f.get_slice("t")
            for key in [(slice(1, None, 2), -1), (Ellipsis, 0), (2, slice(None, None, 3), slice(0, 2))]:
                self.assertTrue(torch.equal(s[key], t[key]), key)


class NumpyApi(PackageTestCase):
    def test_save_file_load_file_every_dtype(self):
        tensors = {f"t{i}": np_sample(d, (3, 2), seed=i) for i, d in enumerate(NP_DTYPES)}
        tensors["scalar"] = np.full((), 2.5, dtype=np.float32)
        tensors["empty"] = np.zeros((0, 4), dtype=np.int32)
        p = self.path("np.safetensors")
        stnp.save_file(tensors, p, metadata={"k": "v"})
        loaded = stnp.load_file(p)
        self.assertEqual(sorted(loaded), sorted(tensors))
        for k, v in tensors.items():
            self.assertEqual(loaded[k].dtype, v.dtype, k)
            np.testing.assert_array_equal(loaded[k], v)
            self.assertTrue(loaded[k].flags.writeable and loaded[k].flags.owndata is not None)
        loaded["t0"][0, 0] = not loaded["t0"][0, 0]  # ordinary writable arrays

    def test_save_load_bytes_identical_to_file(self):
        tensors = {"a": np_sample(np.float32, (2, 3)), "b": np_sample(np.int16, (5,))}
        data = stnp.save(tensors, metadata={"format": "np"})
        p = self.path("np.safetensors")
        stnp.save_file(tensors, p, metadata={"format": "np"})
        with open(p, "rb") as f:
            self.assertEqual(f.read(), data)
        loaded = stnp.load(data)
        for k in tensors:
            np.testing.assert_array_equal(loaded[k], tensors[k])
            self.assertTrue(loaded[k].flags.writeable)

    def test_non_contiguous_arrays_are_saved_in_c_order(self):
        a = np_sample(np.float32, (4, 6))
        p = self.path("nc.safetensors")
        stnp.save_file({"t": a.T, "u": a[:, ::2]}, p)
        loaded = stnp.load_file(p)
        np.testing.assert_array_equal(loaded["t"], a.T)
        np.testing.assert_array_equal(loaded["u"], a[:, ::2])

    def test_big_endian_refused(self):
        with self.assertRaisesRegex(ValueError, "little endian"):
            stnp.save({"a": np.zeros(2, dtype=">f4")})

    def test_dtype_numpy_lacks_in_file(self):
        p = self.path("bf16.safetensors")
        stpt.save_file({"h": torch.zeros(2, dtype=torch.bfloat16)}, p)
        self.assertRefused(stnp.load_file, p, kind="dtype_mismatch", contains="BF16")
        with safe_open(p, framework="np") as f:
            self.assertRefused(f.get_tensor, "h", kind="dtype_mismatch")
            self.assertEqual(f.get_slice("h").get_dtype(), "BF16")

    def test_dtype_the_format_lacks(self):
        for dt in (np.complex128, np.float128 if hasattr(np, "float128") else np.complex128):
            self.assertRefused(stnp.save, {"a": np.zeros(2, dtype=dt)}, kind="unknown_dtype", contains="not covered")
        self.assertRefused(stnp.save_file, {"a": np.array(["x"])}, self.path("s"), kind="unknown_dtype")

    def test_argument_errors(self):
        with self.assertRaises(ValueError):
            stnp.save([np.zeros(2)])
        with self.assertRaises(ValueError):
            stnp.save({"a": [1, 2]})
        with self.assertRaises(TypeError):
            stnp.save({1: np.zeros(2)})
        with self.assertRaises(TypeError):
            stnp.load("a-path.safetensors")


class Metadata(PackageTestCase):
    def test_type_errors_as_upstream(self):
        t = {"a": torch.zeros(2)}
        for bad, word in (({"a": 1}, "PyString"), ({1: "a"}, "PyString"), (["a"], "PyDict"), ({"a": None}, "PyString")):
            with self.assertRaisesRegex(TypeError, f"argument 'metadata': .* cannot be converted to '{word}'"):
                stpt.save_file(t, self.path("m.safetensors"), metadata=bad)
            with self.assertRaises(TypeError):
                stnp.save({"a": np.zeros(2)}, metadata=bad)
        self.assertFalse(os.path.exists(self.path("m.safetensors")))

    def test_none_and_empty(self):
        t = {"a": torch.zeros(2)}
        self.assertNotIn(b"__metadata__", stpt.save(t))
        data = stpt.save(t, metadata={})
        self.assertIn(b'"__metadata__":{}', data)
        p = self.path("e.safetensors")
        with open(p, "wb") as f:
            f.write(data)
        with safe_open(p, framework="pt") as f:
            self.assertEqual(f.metadata(), {})


class TorchApi(PackageTestCase):
    def test_save_file_load_file_every_dtype(self):
        tensors = {f"t{i}": pt_sample(d, (3, 4), seed=i) for i, d in enumerate(PT_DTYPES)}
        tensors["scalar"] = torch.tensor(3.5)
        tensors["empty"] = torch.zeros((2, 0))
        p = self.path("pt.safetensors")
        stpt.save_file(tensors, p)
        loaded = stpt.load_file(p)
        self.assertEqual(list(loaded), sorted(tensors))
        for k, v in tensors.items():
            self.assertEqual(loaded[k].dtype, v.dtype, k)
            self.assertEqual(loaded[k].shape, v.shape, k)
            self.assertTrue(torch.equal(loaded[k], v), k)
        dev = stpt.load_file(p, device="cpu")
        self.assertTrue(torch.equal(dev["t9"], tensors["t9"]))
        dev["t9"].add_(1)  # ordinary writable tensors that share nothing
        self.assertFalse(torch.equal(dev["t9"], loaded["t9"]))
        other, _ = read_safetensors(p)
        np.testing.assert_array_equal(other["t7"][2], tensors["t7"].numpy())

    def test_save_load_bytes(self):
        tensors = {"a": pt_sample(torch.float16, (3,)), "b": pt_sample(torch.bfloat16, (2, 2))}
        data = stpt.save(tensors, metadata={"format": "pt"})
        p = self.path("b.safetensors")
        stpt.save_file(tensors, p, metadata={"format": "pt"})
        with open(p, "rb") as f:
            self.assertEqual(f.read(), data)
        loaded = stpt.load(data)
        for k in tensors:
            self.assertTrue(torch.equal(loaded[k], tensors[k]))

    def test_errors_as_upstream(self):
        with self.assertRaisesRegex(ValueError, "non contiguous tensor: `t`"):
            stpt.save_file({"t": torch.zeros(3, 4).T}, self.path("x"))
        with self.assertRaisesRegex(ValueError, "sparse tensors"):
            stpt.save({"s": torch.zeros(3, 3).to_sparse()})
        with self.assertRaisesRegex(ValueError, "Key `a` is invalid, expected torch.Tensor"):
            stpt.save({"a": np.zeros(2)})
        with self.assertRaisesRegex(ValueError, r"Expected a dict of \[str, torch.Tensor\]"):
            stpt.save([torch.zeros(2)])
        base = torch.zeros(10)
        with self.assertRaisesRegex(RuntimeError, "Some tensors share memory"):
            stpt.save({"a": base, "b": base})
        with self.assertRaisesRegex(RuntimeError, "Some tensors share memory"):
            stpt.save({"a": base[:6], "b": base[4:]})
        stpt.save({"a": base[:5], "b": base[5:]})  # one storage, no overlap: allowed as upstream
        self.assertRefused(stpt.save, {"c": torch.zeros(2, dtype=torch.complex128)}, kind="unknown_dtype",
                           contains="dtype complex128 is not covered")

    def test_file_dtype_this_torch_lacks(self):
        p = self.path("u16.safetensors")
        stnp.save_file({"u": np.arange(3, dtype=np.uint16)}, p)
        if hasattr(torch, "uint16"):
            self.assertEqual(stpt.load_file(p)["u"].tolist(), [0, 1, 2])
        else:
            self.assertRefused(stpt.load_file, p, kind="dtype_mismatch", contains="U16")

    def test_requires_grad_and_views_save(self):
        w = torch.nn.Linear(3, 2).weight
        p = self.path("g.safetensors")
        stpt.save_file({"w": w}, p)
        self.assertTrue(torch.equal(stpt.load_file(p)["w"], w.detach()))


class Tied(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(4, 4)
        self.b = torch.nn.Linear(4, 4)
        self.b.weight = self.a.weight


class Models(PackageTestCase):
    def test_save_model_load_model_with_tied_weights(self):
        torch.manual_seed(0)
        m = Tied()
        p = self.path("m.safetensors")
        with self.assertRaisesRegex(RuntimeError, "share memory"):
            stpt.save_file(m.state_dict(), p)
        stpt.save_model(m, p)
        with safe_open(p, framework="pt") as f:
            self.assertEqual(f.keys(), ["a.bias", "a.weight", "b.bias"])
            self.assertEqual(f.metadata(), {"b.weight": "a.weight"})
        m2 = Tied()
        missing, unexpected = stpt.load_model(m2, p)
        self.assertEqual((set(missing), list(unexpected)), (set(), []))
        x = torch.randn(2, 4)
        self.assertTrue(torch.equal(m2.b(m2.a(x)), m.b(m.a(x))))
        self.assertIs(m2.b.weight, m2.a.weight)

    def test_save_model_keeps_caller_metadata_and_force_contiguous(self):
        m = Tied()
        p = self.path("m.safetensors")
        stpt.save_model(m, p, metadata={"b.weight": "mine", "format": "pt"})
        with safe_open(p, framework="pt") as f:
            self.assertEqual(f.metadata(), {"b.weight": "mine", "format": "pt"})

        class T(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("t", torch.zeros(3, 4).T)
        with self.assertRaisesRegex(ValueError, "force_contiguous=True"):
            stpt.save_model(T(), p)
        stpt.save_model(T(), p, force_contiguous=True)
        self.assertEqual(stpt.load_file(p)["t"].shape, (4, 3))

    def test_sharing_without_a_complete_tensor_is_refused(self):
        class Parts(torch.nn.Module):
            def __init__(self):
                super().__init__()
                base = torch.zeros(10)
                self.register_buffer("x", base[:6])
                self.register_buffer("y", base[4:])
        with self.assertRaisesRegex(RuntimeError, "None is covering the entire storage"):
            stpt.save_model(Parts(), self.path("p.safetensors"))

    def test_load_model_strict_and_not(self):
        p = self.path("l.safetensors")
        stpt.save_file({"weight": torch.zeros(2, 3), "extra": torch.zeros(1)}, p)
        m = torch.nn.Linear(3, 2)
        with self.assertRaisesRegex(RuntimeError, 'Missing key\\(s\\) in state_dict: "bias"[\\s\\S]*Unexpected key\\(s\\) in state_dict: "extra"'):
            stpt.load_model(m, p)
        missing, unexpected = stpt.load_model(m, p, strict=False)
        self.assertEqual((sorted(missing), list(unexpected)), (["bias"], ["extra"]))
        self.assertTrue(torch.equal(m.weight.detach(), torch.zeros(2, 3)))


class ByteIdentity(PackageTestCase):
    TENSORS = [("z.w", "F32", [2, 3]), ("a.b", "F32", [3]), ("ids", "I64", [4]), ("h", "F16", [2, 2]),
               ("m", "BOOL", [5]), ("u", "U8", [0]), ("s", "F64", [])]

    def arrays(self):
        kinds = {"F32": np.float32, "I64": np.int64, "F16": np.float16, "BOOL": np.bool_, "U8": np.uint8,
                 "F64": np.float64}
        return {n: np_sample(kinds[d], tuple(s), seed=i) for i, (n, d, s) in enumerate(self.TENSORS)}

    def test_save_file_matches_the_cpp_writer_and_the_reference_layout(self):
        arrays = self.arrays()
        metadata = {"format": "pt", "b": "2", "a": "é\"\\\n"}
        p = self.path("py.safetensors")
        stnp.save_file(arrays, p, metadata=metadata)
        with open(p, "rb") as f:
            ours = f.read()
        reference = serialize([(n, d, s, arrays[n].tobytes()) for n, d, s in self.TENSORS], metadata)
        self.assertEqual(ours, reference)
        torch_p = self.path("pt.safetensors")
        stpt.save_file({k: torch.from_numpy(v.copy()) for k, v in arrays.items()}, torch_p, metadata=metadata)
        with open(torch_p, "rb") as f:
            self.assertEqual(f.read(), ours)
        self.assertTrue(ROUNDTRIP_TOOL, "ST_ROUNDTRIP_TOOL names the C++ writer helper")
        spec = {"metadata": metadata, "alignment": 8,
                "tensors": [{"name": n, "dtype": d, "shape": s, "hex": arrays[n].tobytes().hex()}
                            for n, d, s in self.TENSORS]}
        spec_path, cpp_path = self.path("spec.json"), self.path("cpp.safetensors")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        subprocess.run([ROUNDTRIP_TOOL, "write", spec_path, cpp_path], check=True)
        with open(cpp_path, "rb") as f:
            self.assertEqual(f.read(), ours)

    def test_files_written_by_other_tools_load_equal(self):
        for name in sorted(os.listdir(REAL_SAFETENSORS)):
            path = os.path.join(REAL_SAFETENSORS, name)
            expected, meta = read_safetensors(path)
            with safe_open(path, framework="pt") as f:
                self.assertEqual(f.metadata(), meta)
            loaded = stpt.load_file(path)
            self.assertEqual(sorted(loaded), sorted(expected), name)
            for k, (dtype, shape, arr) in expected.items():
                self.assertEqual(list(loaded[k].shape), shape)
                got = loaded[k].view(torch.int16) if dtype == "BF16" else loaded[k]
                np.testing.assert_array_equal(got.numpy(), arr, err_msg=f"{name}: {k}")


class LowLevel(PackageTestCase):
    """Upstream's serialize / serialize_file / deserialize (framework dtype names in, format
    names out)."""

    def test_serialize_round_trip(self):
        data = np.arange(6, dtype=np.float32).tobytes()
        flat = {"a": {"dtype": "float32", "shape": [2, 3], "data": data}, "m": {"dtype": "bool", "shape": [1],
                                                                               "data": b"\x01"}}
        blob = safetensors.serialize(flat, metadata={"k": "v"})
        self.assertEqual(blob, stnp.save({"a": np.arange(6, dtype=np.float32).reshape(2, 3),
                                          "m": np.ones(1, dtype=np.bool_)}, metadata={"k": "v"}))
        p = self.path("l.safetensors")
        safetensors.serialize_file(flat, p, metadata={"k": "v"})
        with open(p, "rb") as f:
            self.assertEqual(f.read(), blob)
        self.assertEqual(dict(safetensors.deserialize(blob)),
                         {"a": {"dtype": "F32", "shape": [2, 3], "data": data},
                          "m": {"dtype": "BOOL", "shape": [1], "data": b"\x01"}})

    def test_errors(self):
        self.assertRefused(safetensors.serialize, {"a": {"dtype": "float32", "shape": [2], "data": b"abc"}},
                           kind="invalid_tensor_view", contains="tensor `a`")
        self.assertRefused(safetensors.serialize, {"a": {"dtype": "float128", "shape": [1], "data": b"x" * 16}},
                           kind="unknown_dtype")
        self.assertRefused(safetensors.deserialize, b"\x00" * 4, kind="header_too_small")


class Threads(PackageTestCase):
    def test_one_handle_shared_by_threads(self):
        # The GIL is released while reading: threads share a handle and get the same values.
        from concurrent.futures import ThreadPoolExecutor
        tensors = {f"t{i}": np_sample(np.float32, (64, 33), seed=i) for i in range(8)}
        p = self.path("t.safetensors")
        stnp.save_file(tensors, p)
        with safe_open(p, framework="pt") as f:
            def work(i):
                name = f"t{i % 8}"
                whole = f.get_tensor(name)
                part = f.get_slice(name)[3:40:3, -5]
                return name, whole, part, stpt.load_file(p)[name]
            with ThreadPoolExecutor(4) as pool:
                results = list(pool.map(work, range(32)))
        for name, whole, part, loaded in results:
            np.testing.assert_array_equal(whole.numpy(), tensors[name])
            np.testing.assert_array_equal(part.numpy(), tensors[name][3:40:3, -5])
            self.assertTrue(torch.equal(loaded, whole))


class Hostile(PackageTestCase):
    def test_truncated_and_bad_headers(self):
        good = stnp.save({"a": np.arange(6, dtype=np.float32)})
        cases = {
            "short": b"\x01\x02",
            "length_past_end": good[:8] + b"{}",
            "truncated_data": good[:-3],
            "bad_json": b"\x04\x00\x00\x00\x00\x00\x00\x00{abc",
            "bad_offsets": None,
        }
        for name, data in cases.items():
            p = self.path(name)
            if data is None:
                write_raw(p, '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', b"\x00" * 4)
            else:
                with open(p, "wb") as f:
                    f.write(data)
            self.assertRefused(stpt.load_file, p, contains=name)
            self.assertRefused(stnp.load_file, p, contains=name)
            self.assertRefused(safe_open, p, framework="np", contains=name)
            self.assertRefused(stnp.load, data if data is not None else open(p, "rb").read())


if __name__ == "__main__":
    unittest.main()
