"""convert: checkpoints written by Debian torch 1.13 during the run, converted with the CLI and
compared tensor by tensor (dtype, shape, bytes) with what torch.load returns."""
import collections
import hashlib
import io
import json
import os
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
import torch  # noqa: E402
from st_testlib import REAL_TORCH, run  # noqa: E402
from torch_testlib import (glob, k, read_safetensors, rebuild_v2, s,  # noqa: E402
                           storage_pid, torch_bytes, torch_dtype_name, torch_zip, tup)

torch.manual_seed(0)
TMP = tempfile.TemporaryDirectory(prefix="st-torch-convert-")


def path(name):
    return os.path.join(TMP.name, name)


def model_sd():
    m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    return m, m.state_dict()


def dtype_dict():
    d = {}
    for dt in [torch.float32, torch.float16, torch.bfloat16, torch.float64]:
        d[f"t_{dt}".replace("torch.", "")] = torch.randn(3, 5).to(dt)
    for dt in [torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8]:
        d[f"t_{dt}".replace("torch.", "")] = torch.randint(-100 if dt != torch.uint8 else 0, 100, (2, 7)).to(dt)
    d["t_bool"] = torch.rand(4, 3) > 0.5
    d["t_c64"] = torch.randn(3, dtype=torch.complex64)
    d["scalar_f32"] = torch.tensor(3.5)
    d["scalar_i64"] = torch.tensor(7)
    d["empty_0"] = torch.zeros(0)
    d["empty_3x0"] = torch.zeros(3, 0)
    return d


def views_dict():
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    big = torch.arange(100, dtype=torch.int64)
    return {"transposed": base.t(), "rows": base[1:], "cols": base[:, 1:3], "step": base[:, ::2],
            "expanded": torch.tensor([1.0, 2.0]).expand(3, 2), "slice5": big[10:15].clone()[0:5],
            "slice_of_big": big[20:25], "bf16_t": torch.randn(4, 6).to(torch.bfloat16).t()}


def shared_dict():
    emb = torch.randn(5, 4)
    full = torch.arange(12, dtype=torch.float32)
    return {"emb.weight": emb, "lm_head.weight": emb, "full": full, "first_half": full[:6], "second_half": full[6:]}


def save(obj, name, **kw):
    torch.save(obj, path(name), **kw)
    return path(name)


def convert(src, *extra, rc=0):
    out = src.rsplit(".", 1)[0] + ".safetensors"
    run("convert", src, out, "--quiet", "--force", *extra, check_rc=rc)
    return out


class ConvertTest(unittest.TestCase):
    def assert_matches(self, st_path, expected, exact_names=True):
        tensors, meta = read_safetensors(st_path)
        self.assertEqual(meta.get("format"), "pt")
        if exact_names:
            self.assertEqual(sorted(tensors), sorted(expected))
        for name, t in expected.items():
            dt, shape, arr = tensors[name]
            self.assertEqual(dt, torch_dtype_name(t), name)
            self.assertEqual(shape, list(t.shape), name)
            self.assertEqual(arr.tobytes(), torch_bytes(t), name)
        return tensors, meta

    def roundtrip(self, obj, name, **kw):
        src = save(obj, name, **kw)
        out = convert(src)
        return self.assert_matches(out, torch.load(src))

    def test_zip_filename_prefix_and_archive_prefix(self):
        _, sd = model_sd()
        self.roundtrip(sd, "basic.pt")
        buf = io.BytesIO()
        torch.save(sd, buf)  # saving to a buffer writes the archive/ prefix
        with open(path("archive.pt"), "wb") as f:
            f.write(buf.getvalue())
        out = convert(path("archive.pt"))
        self.assert_matches(out, torch.load(path("archive.pt")))

    def test_legacy(self):
        _, sd = model_sd()
        self.roundtrip(sd, "legacy.pt", _use_new_zipfile_serialization=False)

    def test_every_dtype_zip_and_legacy(self):
        self.roundtrip(dtype_dict(), "dtypes.pt")
        self.roundtrip(dtype_dict(), "dtypes_legacy.pt", _use_new_zipfile_serialization=False)

    def test_views_are_gathered(self):
        self.roundtrip(views_dict(), "views.pt")
        self.roundtrip(views_dict(), "views_legacy.pt", _use_new_zipfile_serialization=False)

    def test_parameters(self):
        d = {"p": torch.nn.Parameter(torch.randn(3, 3)), "q": torch.nn.Parameter(torch.randn(2), requires_grad=False),
             "g": torch.randn(4, requires_grad=True)}
        self.roundtrip(d, "params.pt")

    def test_protocol_4(self):
        _, sd = model_sd()
        self.roundtrip(sd, "proto4.pt", pickle_protocol=4)

    def test_tied_weights_and_partial_overlaps(self):
        src = save(shared_dict(), "shared.pt")
        loaded = torch.load(src)
        out = convert(src)
        expected = {k: v for k, v in loaded.items() if k != "lm_head.weight"}
        _, meta = self.assert_matches(out, expected)
        self.assertEqual(meta, {"format": "pt", "lm_head.weight": "emb.weight"})
        hf = convert(src, "--hf-compat")
        _, meta = self.assert_matches(hf, {"emb.weight": loaded["emb.weight"], "full": loaded["full"]})
        self.assertEqual(meta, {"format": "pt", "lm_head.weight": "emb.weight", "first_half": "full",
                                "second_half": "full"})

    def test_nested_dicts_wrappers_and_flatten(self):
        m, sd = model_sd()
        opt = torch.optim.Adam(m.parameters())
        m(torch.randn(2, 4)).sum().backward()
        opt.step()
        obj = {"model": sd, "optimizer": opt.state_dict(), "epoch": 3, "loss": 0.25, "name": "run",
               "tags": ["a", "b"], "pair": (1, 2), "huge": 2 ** 70}
        src = save(obj, "nested.pt")
        p = run("convert", src, path("nested_default.safetensors"), "--json", "--force", check_rc=0)
        report = json.loads(p.stdout)
        self.assertTrue(any("'model' entry" in n for n in report["notes"]), report["notes"])
        self.assert_matches(path("nested_default.safetensors"), dict(torch.load(src)["model"]))
        p = run("convert", src, path("nested_flat.safetensors"), "--flatten", "--json", "--force", check_rc=0)
        tensors, _ = read_safetensors(path("nested_flat.safetensors"))
        loaded = torch.load(src)
        self.assertIn("optimizer.state.0.exp_avg", tensors)
        self.assertEqual(tensors["model.0.weight"][2].tobytes(), torch_bytes(loaded["model"]["0.weight"]))
        self.assertEqual(tensors["optimizer.state.0.exp_avg"][2].tobytes(),
                         torch_bytes(loaded["optimizer"]["state"][0]["exp_avg"]))
        notes = json.loads(p.stdout)["notes"]
        self.assertTrue(any("'epoch' (int)" in n for n in notes), notes)
        run("convert", src, path("nested_key.safetensors"), "--key", "optimizer/state/1", "--quiet", "--force", check_rc=0)
        tensors, _ = read_safetensors(path("nested_key.safetensors"))
        self.assertEqual(sorted(tensors), ["exp_avg", "exp_avg_sq", "step"])
        p = run("convert", src, path("bad_key.safetensors"), "--key", "nope", check_rc=2)
        self.assertIn("no entry 'nope'", p.stderr)

    def test_state_dict_wrapper(self):
        _, sd = model_sd()
        src = save({"state_dict": sd, "epoch": 1}, "wrapper.pt")
        self.assert_matches(convert(src), dict(sd))

    def test_cast(self):
        d = {"w": torch.randn(8, 8), "d": torch.randn(3).double(), "i": torch.arange(4)}
        src = save(d, "cast.pt")
        for flag, dt in (("f16", torch.float16), ("bf16", torch.bfloat16)):
            out = convert(src, "--dtype", flag)
            self.assert_matches(out, {"w": d["w"].to(dt), "d": d["d"].to(dt), "i": d["i"]})

    def test_sharded_folder_and_copies(self):
        folder = path("sharded")
        os.makedirs(folder)
        _, sd = model_sd()
        names = list(sd)
        shards = {"pytorch_model-00001-of-00002.bin": names[:2], "pytorch_model-00002-of-00002.bin": names[2:]}
        weight_map = {}
        for file, keys in shards.items():
            torch.save({k: sd[k] for k in keys}, os.path.join(folder, file))
            weight_map.update({k: file for k in keys})
        with open(os.path.join(folder, "pytorch_model.bin.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)
        with open(os.path.join(folder, "config.json"), "w") as f:
            f.write('{"architectures": ["X"]}')
        out = path("sharded_out")
        run("convert", folder, out, "--quiet", check_rc=0)
        self.assertEqual(sorted(os.listdir(out)), ["config.json", "model-00001-of-00002.safetensors",
                                                   "model-00002-of-00002.safetensors", "model.safetensors.index.json"])
        with open(os.path.join(out, "model.safetensors.index.json")) as f:
            index = json.load(f)
        self.assertEqual(index["metadata"]["total_size"], sum(t.numel() * 4 for t in sd.values()))
        for name, file in index["weight_map"].items():
            tensors, _ = read_safetensors(os.path.join(out, file))
            self.assertEqual(tensors[name][2].tobytes(), torch_bytes(sd[name]))
        p = run("convert", folder, out, check_rc=2)
        self.assertIn("--force", p.stderr)
        run("convert", folder, out, "--force", "--no-copy", "--quiet", check_rc=0)

        # A corrupt second shard: nothing of the set is put in place, no temp file stays.
        with open(os.path.join(folder, "pytorch_model-00002-of-00002.bin"), "r+b") as f:
            f.truncate(100)
        fresh = path("sharded_failed")
        p = run("convert", folder, fresh, "--quiet", check_rc=1)
        self.assertIn("pytorch_model-00002-of-00002.bin", p.stderr)
        self.assertEqual(os.listdir(fresh) if os.path.exists(fresh) else [], [])

    def test_one_to_one_shards_and_index_come_from_the_core_writer(self):
        """A sharded torch folder converted shard for shard, and the same folder resharded by
        write_sharded into the same split, give the same bytes: shard names, index JSON and
        publishing are the core's one implementation (src/core/shard_set)."""
        folder = path("parity")
        os.makedirs(folder)
        sd = {n: torch.randn(4) for n in ("a", "b", "c", "d")}  # 16 bytes each
        weight_map = {}
        for file, keys in (("pytorch_model-00001-of-00002.bin", "ab"), ("pytorch_model-00002-of-00002.bin", "cd")):
            torch.save({k: sd[k] for k in keys}, os.path.join(folder, file))
            weight_map.update({k: file for k in keys})
        with open(os.path.join(folder, "pytorch_model.bin.index.json"), "w") as f:
            json.dump({"weight_map": weight_map}, f)
        one_to_one, resharded = path("parity_1to1"), path("parity_resharded")
        run("convert", folder, one_to_one, "--quiet", check_rc=0)
        run("convert", folder, resharded, "--max-shard-size", "32B", "--quiet", check_rc=0)  # {a,b}, {c,d}
        names = sorted(os.listdir(one_to_one))
        self.assertEqual(names, ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                 "model.safetensors.index.json"])
        self.assertEqual(sorted(os.listdir(resharded)), names)
        for name in names:
            with open(os.path.join(one_to_one, name), "rb") as a, open(os.path.join(resharded, name), "rb") as b:
                self.assertEqual(a.read(), b.read(), name)
        with open(os.path.join(one_to_one, "model.safetensors.index.json"), "rb") as f:
            index = {"metadata": {"total_size": 64}, "weight_map": {
                "a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
                "c": "model-00002-of-00002.safetensors", "d": "model-00002-of-00002.safetensors"}}
            # as transformers' save_pretrained writes it
            self.assertEqual(f.read(), (json.dumps(index, indent=2, sort_keys=True) + "\n").encode())

    def test_torch_index_is_read_strictly(self):
        folder = path("strict_index")
        os.makedirs(folder)
        torch.save({"a": torch.randn(2)}, os.path.join(folder, "pytorch_model-00001-of-00001.bin"))
        index = os.path.join(folder, "pytorch_model.bin.index.json")
        shard = "pytorch_model-00001-of-00001.bin"
        for text, message in (
                ('{"weight_map": {"a": "%s", "a": "%s"}}' % (shard, shard), "field 'weight_map.a': duplicate key"),
                ('{"weight_map": {"a": 1}}', "field 'weight_map.a': must be a string"),
                ('{"weight_map": {"a": "../%s"}}' % shard, "': shard path `../%s` leaves the folder" % shard),
                ('{"weight_map": {}}', "field 'weight_map': is empty"),
                ('{"metadata": {}}', "field 'weight_map': is missing")):
            with open(index, "w") as f:
                f.write(text)
            p = run("convert", folder, path("strict_index_out"), "--quiet", check_rc=1)
            self.assertIn("pytorch_model.bin.index.json" + (message if message[0] == "'" else ": " + message),
                          p.stderr)
        os.unlink(index)
        os.mkfifo(index)
        try:
            p = run("convert", folder, path("strict_index_out"), "--quiet", check_rc=3)  # would hang if it blocked
            self.assertIn("is a FIFO, not a regular file", p.stderr)
        finally:
            os.unlink(index)

    def test_single_file_folder(self):
        folder = path("single")
        os.makedirs(folder)
        _, sd = model_sd()
        torch.save(sd, os.path.join(folder, "pytorch_model.bin"))
        run("convert", folder, "--quiet", check_rc=0)
        self.assert_matches(os.path.join(folder, "model.safetensors"), dict(sd))
        self.assertTrue(os.path.exists(os.path.join(folder, "pytorch_model.bin")))

    def test_safetensors_reserialization_and_sharding(self):
        src = save(dtype_dict(), "resave.pt")
        st = convert(src)
        out = path("resaved.safetensors")
        run("convert", st, out, "--align", "4096", "--quiet", check_rc=0)
        with open(out, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
        self.assertEqual((8 + n) % 4096, 0)
        self.assert_matches(out, torch.load(src))
        shard_dir = path("resharded")
        run("convert", st, shard_dir, "--max-shard-size", "100B", "--quiet", check_rc=0)
        self.assertTrue(os.path.exists(os.path.join(shard_dir, "resave.safetensors.index.json")), os.listdir(shard_dir))
        # in place, with --force: the input is read while the new file is written beside it
        run("convert", out, out, "--force", "--quiet", check_rc=0)
        self.assert_matches(out, torch.load(src))

    def test_torch2_style_records(self):
        """torch 2.x constructs torch 1.13 cannot write, built by hand from the documented layout:
        _rebuild_tensor_v3 + UntypedStorage (float8/uint16/32/64), _rebuild_parameter_with_state,
        _rebuild_from_type_v2, and the byteorder / .data/serialization_id records."""
        hooks = glob("collections", "OrderedDict") + b")R"

        def v3(key, nbytes, n, dtype):
            return (glob("torch._utils", "_rebuild_tensor_v3") +
                    tup(storage_pid(key, nbytes, "UntypedStorage").replace(b"ctorch\nUntypedStorage", b"ctorch.storage\nUntypedStorage"),
                        k(0), tup(k(n)), tup(k(1)), b"\x89", hooks, glob("torch", dtype)) + b"R")
        v2_args = tup(storage_pid("4", 3), k(0), tup(k(3)), tup(k(1)), b"\x89", hooks)
        entries = [
            ("f8", v3("0", 4, 4, "float8_e4m3fn")), ("u16", v3("1", 6, 3, "uint16")),
            ("u32", v3("2", 8, 2, "uint32")), ("u64", v3("3", 16, 2, "uint64")),
            ("param", glob("torch._utils", "_rebuild_parameter_with_state") +
             tup(rebuild_v2(storage_pid("5", 2), 0, (2,), (1,)), b"\x88", hooks, b"}") + b"R"),
            ("plain", glob("torch._tensor", "_rebuild_from_type_v2") +
             tup(glob("torch._utils", "_rebuild_tensor_v2"), glob("torch._tensor", "Tensor"), v2_args, b"}") + b"R"),
        ]
        pkl = b"\x80\x02" + glob("collections", "OrderedDict") + b")R(" + b"".join(s(n) + v for n, v in entries) + b"u."
        data = {"0": bytes([0x38, 0x40, 0xb8, 0x7e]), "1": struct.pack("<3H", 1, 2, 65535),
                "2": struct.pack("<2I", 7, 4000000000), "3": struct.pack("<2Q", 9, 2 ** 63 + 5),
                "4": struct.pack("<3f", 1.5, 2.5, 3.5), "5": struct.pack("<2f", -1, 1)}
        src = torch_zip(path("torch2.pt"), pkl, data, prefix="torch2",
                        extra={"byteorder": b"little", ".data/serialization_id": b"1234567890" * 4})
        out = convert(src)
        tensors, meta = read_safetensors(out)
        self.assertEqual(meta, {"format": "pt"})
        want = {"f8": ("F8_E4M3", [4], data["0"]), "u16": ("U16", [3], data["1"]), "u32": ("U32", [2], data["2"]),
                "u64": ("U64", [2], data["3"]), "param": ("F32", [2], data["5"]), "plain": ("F32", [3], data["4"])}
        self.assertEqual(sorted(tensors), sorted(want))
        for name, (dt, shape, raw) in want.items():
            self.assertEqual(tensors[name][:2], (dt, shape), name)
            self.assertEqual(tensors[name][2].tobytes(), raw, name)

    def test_real_checkpoints_match_expected(self):
        with open(os.path.join(REAL_TORCH, "expected.json")) as f:
            expected = json.load(f)
        for file, tensors in expected.items():
            out = path(file + ".safetensors")
            run("convert", os.path.join(REAL_TORCH, file), out, "--quiet", check_rc=0)
            got, _ = read_safetensors(out)
            self.assertEqual(sorted(got), sorted(tensors))
            for name, want in tensors.items():
                self.assertEqual(got[name][0], "F32")
                self.assertEqual(got[name][1], want["shape"])
                self.assertEqual(hashlib.sha256(got[name][2].tobytes()).hexdigest(), want["sha256"], name)

    def test_refuses_overwrite_and_default_name(self):
        _, sd = model_sd()
        src = save(sd, "pytorch_model.bin")
        run("convert", src, "--quiet", check_rc=0)
        self.assertTrue(os.path.exists(path("model.safetensors")))
        p = run("convert", src, check_rc=2)
        self.assertIn("already exists", p.stderr)

    def test_fifo_input_is_refused_without_blocking(self):
        fifo = path("weights.bin")
        os.mkfifo(fifo)
        try:
            for args in (("convert", fifo, path("fifo.safetensors")), ("scan", fifo)):
                p = run(*args, check_rc=3)  # would time out (no writer ever opens the FIFO) if it blocked
                self.assertIn("is a FIFO, not a regular file", p.stderr)
            self.assertFalse(os.path.exists(path("fifo.safetensors")))
        finally:
            os.unlink(fifo)

    def test_sharded_output_and_verify_leave_no_temp_files(self):
        sd = {f"w{i}": torch.randn(64, 64) for i in range(6)}
        src = save(sd, "many.bin")
        out = path("many_sharded")
        run("convert", src, out, "--quiet", "--max-shard-size", "40KB", check_rc=0)
        names = sorted(os.listdir(out))
        self.assertEqual(names[-1], "many.safetensors.index.json")
        self.assertTrue(all(not n.startswith(".") for n in names), names)
        self.assertEqual(len(names), 1 + 3)  # two 16 KiB tensors per 40 KB shard
        index = json.load(open(os.path.join(out, names[-1])))
        self.assertEqual(sorted(index["weight_map"]), sorted(sd))


if __name__ == "__main__":
    unittest.main(verbosity=2)
