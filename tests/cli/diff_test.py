"""`safetensors-cli diff`: identical checkpoints in other layouts (exit 0), tensors only in A/B,
dtype and shape changes, value differences (max abs/rel diff, count beyond tolerance, first
differing index) with --atol/--rtol, NaN handling, --structure-only, metadata differences
(reported; exit 1 only with --metadata), a PyTorch .bin against its safetensors form, and the
error paths."""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from st_testlib import CliTestCase, main, run, write_safetensors, write_sharded  # noqa: E402

W = np.arange(12, dtype=np.float32).reshape(3, 4)
B = np.array([1, 2, 3], dtype=np.float16)


def st(tc, name, tensors, metadata=None, **kw):
    return write_safetensors(tc.path(name), [(k, dt, list(a.shape), a.tobytes()) for k, (dt, a) in tensors.items()],
                             metadata, **kw)


class DiffEqual(CliTestCase):
    def test_same_content_other_layout(self):
        a = st(self, "a.safetensors", {"w": ("F32", W), "b": ("F16", B)})
        c = st(self, "c.safetensors", {"w": ("F32", W), "b": ("F16", B)}, order="given", align=4096)
        index, _ = write_sharded(self.path("m"), [[("b", "F16", [3], B.tobytes())], [("w", "F32", [3, 4], W.tobytes())]])
        for other in (c, index):
            proc = run("diff", a, other, check_rc=0)
            self.assertIn("2 identical", proc.stdout)
        doc = json.loads(run("diff", a, c, "--json", check_rc=0).stdout)
        self.assertTrue(doc["equal"])
        self.assertEqual({t["status"] for t in doc["tensors"]}, {"identical"})

    def test_torch_against_safetensors(self):
        import torch
        w = torch.arange(12, dtype=torch.float32).reshape(3, 4)
        torch.save({"w": w, "wt": w.t()}, self.path("m.bin"))
        s = st(self, "m.safetensors", {"w": ("F32", w.numpy()), "wt": ("F32", w.t().contiguous().numpy())})
        run("diff", self.path("m.bin"), s, check_rc=0)
        s2 = st(self, "m2.safetensors", {"w": ("F32", w.numpy()), "wt": ("F32", w.numpy().reshape(4, 3))})
        proc = run("diff", self.path("m.bin"), s2)
        self.assert_exit(proc, 1)
        self.assertIn("different: wt", proc.stdout)


class DiffDifferent(CliTestCase):
    def test_structure(self):
        a = st(self, "a.safetensors", {"w": ("F32", W), "b": ("F16", B), "gone": ("F32", W)})
        b = st(self, "b.safetensors", {"w": ("F32", W.reshape(4, 3)), "b": ("F32", B.astype(np.float32)),
                                       "new": ("F32", W)})
        proc = run("diff", a, b)
        self.assert_exit(proc, 1)
        self.assertIn("only in A: gone", proc.stdout)
        self.assertIn("only in B: new", proc.stdout)
        self.assertIn("changed: w  F32 [3, 4] -> F32 [4, 3]", proc.stdout)
        self.assertIn("changed: b  F16 [3] -> F32 [3]", proc.stdout)
        doc = json.loads(run("diff", a, b, "--json").stdout)
        self.assertEqual((doc["only_in_a"], doc["only_in_b"]), (["gone"], ["new"]))
        t = {x["name"]: x for x in doc["tensors"]}
        self.assertEqual(t["b"]["status"], "equal")  # same values in another dtype
        self.assertEqual(t["w"]["status"], "not_compared")
        self.assert_exit(run("diff", a, b, "--structure-only"), 1)

    def test_values_and_tolerance(self):
        w2 = W.copy()
        w2[1, 2] += 0.5
        w2[2, 3] *= 1.001
        a = st(self, "a.safetensors", {"w": ("F32", W)})
        b = st(self, "b.safetensors", {"w": ("F32", w2)})
        doc = json.loads(run("diff", a, b, "--json").stdout)
        t = doc["tensors"][0]
        self.assertFalse(doc["equal"])
        self.assertEqual(t["status"], "different")
        self.assertEqual(t["beyond_tolerance"], 2)
        self.assertEqual(t["first_difference"], [1, 2])
        self.assertAlmostEqual(t["max_abs_diff"], 0.5, places=6)
        self.assertAlmostEqual(t["max_rel_diff"], 0.5 / 6.5, places=6)
        out = run("diff", a, b).stdout
        self.assertIn("first at [1, 2]", out)
        self.assertIn("2 of 12 values beyond tolerance", out)
        doc = json.loads(run("diff", a, b, "--atol", "0.02", "--json").stdout)
        self.assertEqual(doc["tensors"][0]["beyond_tolerance"], 1)
        doc = json.loads(run("diff", a, b, "--atol", "0.6", "--json", check_rc=0).stdout)
        self.assertEqual(doc["tensors"][0]["status"], "equal")
        run("diff", a, b, "--rtol", "0.1", check_rc=0)
        run("diff", a, b, "--structure-only", check_rc=0)

    def test_nan(self):
        x = np.array([np.nan, 1, np.inf], dtype=np.float32)
        y = np.array([np.nan, 1, -np.inf], dtype=np.float32)
        a = st(self, "a.safetensors", {"x": ("F32", x)})
        run("diff", a, st(self, "b.safetensors", {"x": ("F32", x.copy())}), check_rc=0)
        doc = json.loads(run("diff", a, st(self, "c.safetensors", {"x": ("F32", y)}), "--json").stdout)
        self.assertEqual(doc["tensors"][0]["beyond_tolerance"], 1)
        self.assertEqual(doc["tensors"][0]["first_difference"], [2])

    def test_metadata(self):
        a = st(self, "a.safetensors", {"w": ("F32", W)}, {"format": "pt", "x": "1"})
        b = st(self, "b.safetensors", {"w": ("F32", W)}, {"format": "np", "y": "2"})
        out = run("diff", a, b, check_rc=0).stdout
        self.assertIn("metadata changed: format: pt -> np", out)
        self.assertIn("metadata only in A: x = 1", out)
        self.assertIn("metadata only in B: y = 2", out)
        self.assert_exit(run("diff", a, b, "--metadata"), 1)


class DiffLarge(CliTestCase):
    def test_large_tensors_in_bounded_memory(self):
        """Two 128 MiB tensors differing in their last value: found at the right index, and the
        child's peak RSS stays far below the files (both sides are read in pieces)."""
        import subprocess
        from st_testlib import CLI
        n = 32 << 20
        values = np.arange(n, dtype=np.float32) % 1000
        a = write_safetensors(self.path("a.safetensors"), [("w", "F32", [n], values.tobytes())])
        values[-1] += 1
        b = write_safetensors(self.path("b.safetensors"), [("w", "F32", [n], values.tobytes())])
        p = subprocess.run([sys.executable, "-c",
                            "import json, resource, subprocess, sys\n"
                            "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
                            "print(json.dumps([r.returncode, r.stdout, "
                            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))",
                            CLI, "diff", a, b, "--json"], capture_output=True, text=True, timeout=300)
        rc, out, peak_kib = json.loads(p.stdout)
        self.assertEqual(rc, 1, out)
        [t] = json.loads(out)["tensors"]
        self.assertEqual((t["status"], t["beyond_tolerance"], t["first_difference"]), ("different", 1, [n - 1]))
        self.assertLess(peak_kib, 96 * 1024, "peak RSS %d KiB for two 128 MiB tensors" % peak_kib)


class DiffErrors(CliTestCase):
    def test_errors(self):
        a = st(self, "a.safetensors", {"w": ("F32", W)})
        self.assert_exit(run("diff", a, self.path("none.safetensors")), 3)
        self.assert_exit(run("diff", a, a, "--atol", "-1"), 2)
        bad = self.path("bad.safetensors")
        with open(bad, "wb") as f:
            f.write(struct.pack("<Q", 2) + b"{}xx")
        proc = run("diff", bad, a)
        self.assert_exit(proc, 1)
        self.assertIn("bad.safetensors", proc.stderr)
        self.assertEqual(len(proc.stderr.splitlines()), 1)


if __name__ == "__main__":
    main()
