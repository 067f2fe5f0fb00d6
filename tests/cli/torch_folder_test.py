"""Sharded PyTorch folders (pytorch_model.bin.index.json + torch.save shards, .pt shards, a lone
pytorch_model.bin) and their index files as checkpoints: inspect (shard column, --json),
validate (index against shards, --check-values), scan, convert, and `--format` for a folder
holding both formats. The folder is a tiny Llama-shaped one written by torch
(tests/support/torch_folder.py, the benchmark's generator)."""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from st_testlib import CliTestCase, main, run  # noqa: E402
from torch_folder import write_llama_folder  # noqa: E402

INDEX = "pytorch_model.bin.index.json"
SHARDS = ["pytorch_model-%05d-of-00003.bin" % i for i in (1, 2, 3)]


class TorchFolder(CliTestCase):
    def setUp(self):
        super().setUp()
        self.dir = self.path("llama")
        os.makedirs(self.dir)
        self.layout = write_llama_folder(self.dir, layers=2, dim=8, ffn=16, vocab=32, shards=3)
        self.index = os.path.join(self.dir, INDEX)

    def edit_index(self, change):
        with open(self.index) as f:
            doc = json.load(f)
        change(doc["weight_map"])
        with open(self.index, "w") as f:
            json.dump(doc, f)

    def invalid_index(self, needle, *paths):
        for path in paths or (self.dir, self.index):
            p = run("validate", path)
            self.assert_exit(p, 1)
            self.assertEqual(len(p.stdout.splitlines()), 1, p.stdout)
            self.assertIn(needle, p.stdout)
            self.assertIn("[invalid_index]", p.stdout)
            self.assertIn(INDEX, p.stdout)
            p = run("inspect", path)
            self.assert_exit(p, 1)
            self.assertIn(needle, p.stderr)

    # ---- inspect -----------------------------------------------------------------------
    def test_inspect_folder_and_index_list_every_tensor_with_its_shard(self):
        for path in (self.dir, self.index):
            p = run("inspect", "--json", path)
            self.assert_exit(p, 0)
            doc = json.loads(p.stdout)
            self.assertEqual(doc["format"], "pytorch")
            self.assertTrue(doc["sharded"])
            self.assertEqual(doc["index"], self.index)
            self.assertEqual([os.path.basename(f["path"]) for f in doc["files"]], SHARDS)
            shard_of = {t["name"]: t["shard"] for t in doc["tensors"]}
            expected = {n: s for s, names in self.layout.items() for n in names}
            self.assertEqual(shard_of, expected)
            self.assertEqual(doc["totals"]["all"]["tensors"], 21)
        p = run("inspect", self.dir)
        self.assert_exit(p, 0)
        self.assertIn("sharded checkpoint, 3 shards, index %s" % self.index, p.stdout)
        header = [line for line in p.stdout.splitlines() if line.startswith("name ")][0]
        self.assertIn("shard", header.split())
        self.assertIn("storage", header.split())

    def test_pt_shards_and_a_lone_pytorch_model_bin(self):
        pt = self.path("pt")
        os.makedirs(pt)
        write_llama_folder(pt, layers=1, dim=8, ffn=16, vocab=32, shards=2, ext=".pt")
        doc = json.loads(run("inspect", "--json", pt, check_rc=0).stdout)
        self.assertEqual(doc["index"], os.path.join(pt, "pytorch_model.pt.index.json"))
        self.assertEqual(len(doc["files"]), 2)
        self.assert_exit(run("validate", "--check-values", pt), 0)
        lone = self.path("lone")
        os.makedirs(lone)
        shutil.copy(os.path.join(pt, "pytorch_model-00001-of-00002.pt"), os.path.join(lone, "pytorch_model.bin"))
        doc = json.loads(run("inspect", "--json", lone, check_rc=0).stdout)
        self.assertFalse(doc["sharded"])
        self.assertEqual(doc["format"], "pytorch")
        p = run("validate", lone)
        self.assert_exit(p, 0)
        self.assertEqual(p.stdout, "OK %s (%d tensors)\n" % (lone, len(doc["tensors"])))

    # ---- validate: the index and the shards agree --------------------------------------
    def test_valid_folder_and_index(self):
        for path in (self.dir, self.index):
            p = run("validate", "--check-values", path)
            self.assert_exit(p, 0)
            self.assertEqual(p.stdout, "OK %s (21 tensors)\n" % path)

    def test_index_names_a_missing_shard(self):
        os.remove(os.path.join(self.dir, SHARDS[1]))
        self.invalid_index("shard `%s` does not exist" % SHARDS[1])

    def test_shard_the_index_does_not_know(self):
        self.edit_index(lambda m: [m.pop(n) for n in self.layout[SHARDS[2]]])
        self.invalid_index("shard `%s` is in the folder but the weight_map names none of its tensors" % SHARDS[2])

    def test_tensor_not_in_the_weight_map(self):
        self.edit_index(lambda m: m.pop("model.norm.weight"))
        self.invalid_index("tensor `model.norm.weight` in shard `%s` is not in the weight_map"
                           % [s for s, ns in self.layout.items() if "model.norm.weight" in ns][0])

    def test_weight_map_entry_whose_tensor_is_absent(self):
        self.edit_index(lambda m: m.update({"ghost.weight": SHARDS[0]}))
        self.invalid_index("tensor `ghost.weight` is assigned to shard `%s` but missing from it" % SHARDS[0])

    def test_tensor_in_two_shards(self):
        import torch
        first = self.layout[SHARDS[0]][0]
        path = os.path.join(self.dir, SHARDS[1])
        state = torch.load(path, weights_only=True)
        state[first] = torch.zeros(3, dtype=torch.float16)
        torch.save(state, path)
        self.invalid_index("tensor `%s` appears in shards `%s` and `%s`" % (first, SHARDS[0], SHARDS[1]))

    def test_corrupt_shard_names_the_shard(self):
        with open(os.path.join(self.dir, SHARDS[2]), "r+b") as f:
            f.truncate(100)
        p = run("validate", self.dir)
        self.assert_exit(p, 1)
        self.assertIn(SHARDS[2], p.stdout)

    def test_check_values_counts_nan_inf_per_tensor_and_shard(self):
        import torch

        def fill(name, t):
            if name == "model.layers.1.mlp.up_proj.weight":
                t.view(-1)[:3] = float("nan")
                t.view(-1)[5] = float("-inf")

        os.makedirs(self.path("bad"))
        layout = write_llama_folder(self.path("bad"), layers=2, dim=8, ffn=16, vocab=32, shards=3, fill=fill)
        shard = [s for s, ns in layout.items() if "model.layers.1.mlp.up_proj.weight" in ns][0]
        p = run("validate", "--check-values", "--json", self.path("bad"))
        self.assert_exit(p, 0)  # values are warnings
        [v] = json.loads(p.stdout)
        self.assertEqual(v["errors"], [])
        [w] = v["warnings"]
        self.assertEqual(w["kind"], "values")
        self.assertEqual(w["tensor"], "model.layers.1.mlp.up_proj.weight")
        self.assertIn(shard, w["message"])
        self.assertIn("3 NaN and 1 Inf values (of 128)", w["message"])
        # A strided view (a transposed tensor) is gathered and checked too.
        path = os.path.join(self.path("bad"), shard)
        state = torch.load(path, weights_only=True)
        state["model.layers.1.mlp.up_proj.weight"] = state["model.layers.1.mlp.up_proj.weight"].t()
        torch.save(state, path)
        [v] = json.loads(run("validate", "--check-values", "--json", self.path("bad"), check_rc=0).stdout)
        self.assertIn("3 NaN and 1 Inf values (of 128)", v["warnings"][0]["message"])

    # ---- scan, convert, both formats ---------------------------------------------------
    def test_scan_index_judges_every_shard(self):
        p = run("scan", "--json", self.index)
        self.assert_exit(p, 0)
        self.assertEqual([os.path.basename(r["path"]) for r in json.loads(p.stdout)], SHARDS)
        self.assertTrue(all(r["verdict"] == "safe" for r in json.loads(p.stdout)))
        os.remove(os.path.join(self.dir, SHARDS[0]))
        p = run("scan", self.index)
        self.assert_exit(p, 1)
        self.assertIn("does not exist", p.stderr)

    def test_convert_folder_and_index_then_both_formats(self):
        out = self.path("out")
        p = run("convert", "--json", self.index, out)
        self.assert_exit(p, 0)
        self.assertTrue(json.loads(p.stdout)["verified"])
        doc = json.loads(run("inspect", "--json", out, check_rc=0).stdout)
        self.assertEqual((doc["format"], len(doc["tensors"]), len(doc["files"])), ("safetensors", 21, 3))
        # In place: the folder now holds both formats; safetensors is read unless asked.
        run("convert", "--quiet", self.dir, check_rc=0)
        p = run("inspect", "--json", self.dir)
        self.assert_exit(p, 0)
        doc = json.loads(p.stdout)
        self.assertEqual(doc["format"], "safetensors")
        self.assertIn("reading safetensors (choose with --format safetensors|pytorch)", doc["notes"][0])
        doc = json.loads(run("inspect", "--json", "--format", "pytorch", self.dir, check_rc=0).stdout)
        self.assertEqual((doc["format"], doc["notes"]), ("pytorch", []))
        p = run("validate", self.dir)
        self.assert_exit(p, 0)
        self.assertTrue(p.stdout.startswith("note: %s: the folder holds safetensors and PyTorch" % self.dir))
        self.assert_exit(run("validate", "--format", "pytorch", "--check-values", self.dir), 0)
        # convert prefers the PyTorch weights of such a folder: a re-run reads them again.
        p = run("convert", "--json", "--force", self.dir)
        self.assert_exit(p, 0)
        self.assertIn("reading pytorch (choose with --format safetensors|pytorch)", json.loads(p.stdout)["notes"][0])
        p = run("convert", "--json", "--force", "--format", "safetensors", self.dir, self.path("re"))
        self.assert_exit(p, 0)
        self.assertEqual(json.loads(p.stdout)["notes"], [])
        p = run("validate", "--format", "safetensors", out)
        self.assert_exit(p, 0)
        p = run("inspect", "--format", "pytorch", out)
        self.assert_exit(p, 2)
        self.assertIn("holds no pytorch checkpoint", p.stderr)
        self.assert_exit(run("inspect", "--format", "onnx", out), 2)


if __name__ == "__main__":
    main()
