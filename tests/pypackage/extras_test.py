"""safetensors.cpp: convert (torch checkpoint -> safetensors without running pickle code), scan
(globals and verdict), validate and inspect, one test per function and per error."""
import os
import unittest

import numpy as np
import torch

from pypackage_testlib import PackageTestCase
import safetensors.cpp as cpp
import safetensors.numpy as stnp
import safetensors.torch as stpt
from st_testlib import REAL_SAFETENSORS, REAL_TORCH, write_raw
from torch_testlib import glob, s, tup


class Convert(PackageTestCase):
    def test_torch_file_to_safetensors(self):
        torch.manual_seed(0)
        m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
        src, out = self.path("pytorch_model.bin"), self.path("out.safetensors")
        torch.save(m.state_dict(), src)
        report = cpp.convert(src, out)
        self.assertEqual(report["written"], [out])
        self.assertEqual(report["tensors"], 4)
        self.assertTrue(report["verified"])
        loaded = stpt.load_file(out)
        for k, v in m.state_dict().items():
            self.assertTrue(torch.equal(loaded[k], v), k)
        from safetensors import safe_open
        with safe_open(out, framework="pt") as f:
            self.assertEqual(f.metadata(), {"format": "pt"})

    def test_default_output_cast_and_tied_weights(self):
        w = torch.randn(3, 3, dtype=torch.float64)
        src = self.path("pytorch_model.bin")
        torch.save({"emb.weight": w, "head.weight": w}, src)
        report = cpp.convert(src, cast="f16")
        out = self.path("model.safetensors")
        self.assertEqual(report["written"], [out])
        self.assertEqual(report["aliases"], [("head.weight", "emb.weight")])
        loaded = stpt.load_file(out)
        self.assertEqual(list(loaded), ["emb.weight"])
        self.assertTrue(torch.equal(loaded["emb.weight"], w.to(torch.float16)))

    def test_real_checkpoint(self):
        src = os.path.join(REAL_TORCH, "dqn_banana_checkpoint_legacy.pth")
        report = cpp.convert(src, self.path("dqn.safetensors"))
        self.assertGreater(report["tensors"], 0)

    def test_errors(self):
        src = self.path("evil.pkl")
        with open(src, "wb") as f:
            f.write(b"\x80\x02" + glob("posix", "system") + tup(s("true")) + b"R.")
        self.assertRefused(cpp.convert, src, self.path("e.safetensors"), kind="malicious", contains="posix.system")
        self.assertFalse(os.path.exists(self.path("e.safetensors")))
        self.assertRefused(cpp.convert, self.path("missing.bin"), kind="io")
        good = self.path("a.bin")
        torch.save({"a": torch.zeros(2)}, good)
        cpp.convert(good, self.path("a.safetensors"))
        self.assertRefused(cpp.convert, good, self.path("a.safetensors"), kind="invalid_argument")
        cpp.convert(good, self.path("a.safetensors"), force=True)
        self.assertRefused(cpp.convert, good, cast="I8", kind="invalid_argument")
        self.assertRefused(cpp.convert, good, sharing="bogus", kind="invalid_argument")


class Scan(PackageTestCase):
    def test_safe_and_malicious(self):
        src = self.path("ok.bin")
        torch.save({"a": torch.zeros(2)}, src)
        r = cpp.scan(src)
        self.assertEqual((r["format"], r["verdict"]), ("zip", "safe"))
        self.assertIn(("collections.OrderedDict", "safe"), r["globals"])
        self.assertIn("storage", r["persistent_ids"])
        evil = self.path("evil.pkl")
        with open(evil, "wb") as f:
            f.write(b"\x80\x02" + glob("posix", "system") + tup(s("touch " + self.path("ran"))) + b"R.")
        r = cpp.scan(evil)
        self.assertEqual(r["verdict"], "malicious")
        self.assertIn(("posix.system", "malicious"), r["globals"])
        self.assertIn("posix.system", r["reason"])
        self.assertFalse(os.path.exists(self.path("ran")))

    def test_unreadable(self):
        self.assertRefused(cpp.scan, self.path("missing.pt"), kind="io")


class Validate(PackageTestCase):
    def test_valid_and_invalid(self):
        p = self.path("ok.safetensors")
        stnp.save_file({"a": np.zeros(3, dtype=np.float32)}, p)
        self.assertEqual(cpp.validate(p), {"path": p, "valid": True, "errors": [], "tensors": 1})
        bad = write_raw(self.path("bad.safetensors"),
                        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', b"\x00" * 4)
        r = cpp.validate(bad)
        self.assertFalse(r["valid"])
        self.assertEqual(r["errors"][0]["kind"], "tensor_invalid_info")
        self.assertIn("bad.safetensors", r["errors"][0]["message"])
        r = cpp.validate(self.path("missing"))
        self.assertEqual(r["errors"][0]["kind"], "io")


class Inspect(PackageTestCase):
    def test_header_information(self):
        p = os.path.join(REAL_SAFETENSORS, "mnist_tinygrad_model.safetensors")
        r = cpp.inspect(p)
        self.assertFalse(r["sharded"])
        self.assertIsNone(r["metadata"])
        self.assertEqual(r["files"][0]["header_size"], 152)
        self.assertEqual([(t["name"], t["dtype"], t["shape"]) for t in r["tensors"]],
                         [("l1.weight", "F32", [128, 784]), ("l2.weight", "F32", [10, 128])])
        self.assertEqual(r["tensors"][1]["data_offsets"], (401408, 406528))
        self.assertEqual(r["total_size"], 406528)

    def test_sharded_folder_and_errors(self):
        from st_testlib import tensor, write_sharded
        write_sharded(self.tmp, [[tensor("a", "F32", [2])], [tensor("b", "I8", [3])]], {"format": "pt"})
        r = cpp.inspect(self.tmp)
        self.assertTrue(r["sharded"])
        self.assertEqual(len(r["files"]), 2)
        self.assertEqual(r["metadata"], {"format": "pt"})
        self.assertEqual(sorted(t["name"] for t in r["tensors"]), ["a", "b"])
        bad = write_raw(self.path("x.safetensors"), "{", b"")
        self.assertRefused(cpp.inspect, bad, kind="invalid_json", contains="x.safetensors")


class Pipeline(PackageTestCase):
    """merge / split / reshard and convert's selection options (the core pipeline)."""

    def setUp(self):
        super().setUp()
        torch.manual_seed(0)
        self.tensors = {"model.layers.%d.w" % i: torch.randn(32, 16) for i in range(4)}
        self.tensors["model.embed"] = torch.randn(10, 16).to(torch.bfloat16)
        self.tensors["lm_head"] = torch.randn(10, 16, dtype=torch.float16)
        self.src = self.path("x.safetensors")
        stpt.save_file(self.tensors, self.src, metadata={"format": "pt"})

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def test_merge_of_split_is_byte_identical(self):
        out = self.path("shards")
        report = cpp.split(self.src, out, 3000)
        self.assertGreater(len(report["written"]), 3)
        self.assertTrue(report["written"][-1].endswith("model.safetensors.index.json"))
        self.assertEqual(report["tensors"], 6)
        merged = self.path("m.safetensors")
        cpp.merge(out, merged)
        self.assertEqual(self.read(merged), self.read(self.src))
        report = cpp.reshard(out, out, 5000, force=True)
        self.assertTrue(report["removed"])
        cpp.merge(os.path.join(out, "model.safetensors.index.json"), merged, force=True)
        self.assertEqual(self.read(merged), self.read(self.src))

    def test_selection_and_cast(self):
        out = self.path("o.safetensors")
        cpp.merge(self.src, out, filter="model.*", exclude=["*.embed"],
                  rename=[(r"^model\.layers\.(\d+)", r"block$1")], cast=torch.float16)
        loaded = stpt.load_file(out)
        self.assertEqual(sorted(loaded), ["block%d.w" % i for i in range(4)])
        for i in range(4):
            self.assertTrue(torch.equal(loaded["block%d.w" % i], self.tensors["model.layers.%d.w" % i].half()))
        conv = self.path("c.safetensors")
        cpp.convert(self.src, conv, rename={"^lm_head$": "head"}, filter=["lm_head", "model.embed"],
                    cast="F32")
        loaded = stpt.load_file(conv)
        self.assertEqual(sorted(loaded), ["head", "model.embed"])
        self.assertTrue(torch.equal(loaded["model.embed"], self.tensors["model.embed"].float()))

    def test_errors(self):
        out = self.path("o.safetensors")
        self.assertRefused(cpp.merge, self.src, out, rename="layers\\.\\d+=L", kind="invalid_argument",
                           contains="would both be named")
        self.assertRefused(cpp.merge, self.src, out, filter="nothing", kind="invalid_argument",
                           contains="no tensor is left")
        self.assertRefused(cpp.merge, self.src, out, rename="(=x", kind="invalid_argument",
                           contains="invalid regex")
        self.assertRefused(cpp.merge, self.src, out, cast="U8", kind="invalid_argument")
        self.assertRefused(cpp.merge, self.path("missing"), out, kind="io")
        self.assertRefused(cpp.merge, self.src, out, format="onnx", kind="invalid_argument")
        self.assertFalse(os.path.exists(out))
        with self.assertRaises(TypeError):
            cpp.split(self.src, self.path("d"), "5GB")
        with self.assertRaises(TypeError):
            cpp.merge(self.src, out, filter=[1])
        cpp.merge(self.src, out)
        self.assertRefused(cpp.merge, self.src, out, kind="invalid_argument", contains="already exists")


if __name__ == "__main__":
    unittest.main()
