"""A brief fuzz of the Python entry points: the core's bad-file corpus (fuzz/corpus), the files
kept in tests/data, every truncation of a small valid file and seeded byte/header mutations, run
through load_file (numpy and torch), load (bytes) and safe_open (+ every get_tensor and a
slice). Each must load or raise SafetensorError with a one-line message: any other exception, or
a crash of the interpreter, fails the test."""
import os
import random
import unittest

import numpy as np

from pypackage_testlib import PackageTestCase, SafetensorError
import safetensors.numpy as stnp
import safetensors.torch as stpt
from safetensors import safe_open
from st_testlib import SOURCE_DIR


def corpus_files():
    roots = [os.path.join(SOURCE_DIR, "fuzz", "corpus"), os.path.join(SOURCE_DIR, "tests", "data")]
    out = []
    for root in roots:
        for folder, _, names in os.walk(root):
            out += [os.path.join(folder, n) for n in sorted(names) if not n.endswith((".md", ".json", ".gz"))]
    return sorted(out)


class Fuzz(PackageTestCase):
    def exercise(self, path, data):
        outcomes = []
        for fn in (lambda: stnp.load_file(path), lambda: stpt.load_file(path), lambda: stnp.load(data),
                   lambda: stpt.load(data), lambda: self.open_all(path)):
            try:
                fn()
                outcomes.append("ok")
            except SafetensorError as e:
                self.assertNotIn("\n", str(e), path)
                self.assertTrue(getattr(e, "kind", ""), path)
                outcomes.append(e.kind)
        return outcomes

    def open_all(self, path):
        for fw in ("np", "pt"):
            with safe_open(path, framework=fw) as f:
                f.metadata()
                for k in f.keys():
                    try:
                        f.get_tensor(k)
                    except SafetensorError as e:
                        if e.kind != "dtype_mismatch":  # a dtype this framework lacks
                            raise
                    s = f.get_slice(k)
                    if s.get_shape():
                        try:
                            s[..., :1]
                        except SafetensorError as e:
                            if e.kind not in ("dtype_mismatch", "misaligned_slice"):
                                raise

    def test_corpus(self):
        files = corpus_files()
        self.assertGreater(len(files), 20)
        refused = 0
        for path in files:
            with open(path, "rb") as f:
                data = f.read()
            refused += "ok" not in self.exercise(path, data)
        self.assertGreater(refused, 10)

    def test_truncations_and_mutations(self):
        good = stnp.save({"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.arange(3, dtype=np.int8),
                          "m": np.ones((2, 2), dtype=np.bool_)}, metadata={"format": "np"})
        p = self.path("f.safetensors")
        variants = [good[:n] for n in range(len(good))]
        rng = random.Random(20240)
        header_end = 8 + int.from_bytes(good[:8], "little")
        for _ in range(400):
            b = bytearray(good)
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(0, header_end if rng.random() < 0.8 else len(b))
                b[i] = rng.choice([rng.randrange(256), ord("0"), ord("9"), ord("-"), ord('"'), ord("]")])
            variants.append(bytes(b))
        kinds = set()
        for data in variants:
            with open(p, "wb") as f:
                f.write(data)
            kinds.update(self.exercise(p, data))
        self.assertIn("ok", kinds)
        self.assertGreater(len(kinds), 4, kinds)


if __name__ == "__main__":
    unittest.main()
