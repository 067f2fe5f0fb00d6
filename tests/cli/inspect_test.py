"""`safetensors-cli inspect`: table, totals, metadata, --json, --filter, --sort, sharded inputs,
torch checkpoints, header-only reading and exit codes. Runs the built CLI ($SAFETENSORS_CLI)."""
import json
import os
import re
import subprocess
import sys
import unicodedata
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from st_testlib import (REAL_SAFETENSORS, REAL_TORCH, CLI, CliTestCase, main, numel, read_header,  # noqa: E402
                         run, tensor, write_raw, write_safetensors, write_sharded)


def table_rows(text, first_header="name"):
    """The rows (lists of cells split on 2+ spaces) of the first table whose header starts with
    `first_header`, excluding the header and the dashed rule."""
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.split()[:1] == [first_header])
    rows = []
    for line in lines[start + 2:]:
        if not line.strip():
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return lines[start], rows


def display_width(s):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else
               0 if unicodedata.combining(c) else 1 for c in s)


class InspectFile(CliTestCase):
    def make(self, **kw):
        tensors = [tensor("b.weight", "F32", [2, 3]), tensor("a.bias", "F16", [3]),
                   tensor("c.scale", "BF16", []), tensor("d.mask", "BOOL", [4, 0]),
                   tensor("e.ids", "I64", [5])]
        return write_safetensors(self.path("m.safetensors"), tensors, metadata={"format": "pt", "k": "v w"}, **kw)

    def test_table_rows_sorted_by_name(self):
        path = self.make()
        p = run("inspect", path)
        self.assert_exit(p, 0)
        header, rows = table_rows(p.stdout)
        self.assertEqual(header.split(), ["name", "dtype", "shape", "parameters", "bytes"])
        self.assertEqual(rows, [
            ["a.bias", "F16", "[3]", "3", "6"],
            ["b.weight", "F32", "[2, 3]", "6", "24"],
            ["c.scale", "BF16", "[]", "1", "2"],
            ["d.mask", "BOOL", "[4, 0]", "0", "0"],
            ["e.ids", "I64", "[5]", "5", "40"],
        ])

    def test_numbers_are_right_aligned(self):
        big = [tensor("x", "U8", [1234567], fill=bytes(1234567)), tensor("y", "U8", [1])]
        path = write_safetensors(self.path("a.safetensors"), big)
        out = run("inspect", path).stdout
        lines = out.splitlines()
        i = next(i for i, l in enumerate(lines) if l.startswith("name"))
        x_line, y_line = lines[i + 2], lines[i + 3]
        self.assertIn("1,234,567", x_line)
        self.assertEqual(len(x_line), len(y_line), "the bytes column ends in the same column")
        self.assertTrue(y_line.endswith(" 1"))

    def test_sort_offset(self):
        path = self.make()
        _, rows = table_rows(run("inspect", "--sort", "offset", path).stdout)
        # canonical writer order: I64, F32, BF16, F16, BOOL
        self.assertEqual([r[0] for r in rows], ["e.ids", "b.weight", "c.scale", "a.bias", "d.mask"])

    def test_totals_per_dtype(self):
        path = self.make()
        out = run("inspect", path).stdout
        header, rows = table_rows(out, "dtype")
        self.assertEqual(header.split(), ["dtype", "tensors", "parameters", "bytes", "size"])
        by = {r[0]: r[1:] for r in rows}
        self.assertEqual(by["F32"], ["1", "6", "24", "24 B"])
        self.assertEqual(by["I64"], ["1", "5", "40", "40 B"])
        self.assertEqual(by["total"], ["5", "15", "72", "72 B"])
        self.assertEqual(list(by)[:-1], sorted(list(by)[:-1]))
        self.assertIn("5 tensors, 15 parameters, 72 B", out)

    def test_metadata_and_header_facts(self):
        path = self.make()
        n, _ = read_header(path)
        out = run("inspect", path).stdout
        self.assertIn("  format = pt\n", out)
        self.assertIn("  k = v w\n", out)
        size = os.path.getsize(path)
        self.assertIn("header {:,} bytes, data starts at byte {:,} (8-byte aligned), file size {:,} bytes"
                      .format(n, 8 + n, size), out)

    def test_alignment_reported(self):
        path = self.make(align=4096)
        out = run("inspect", path).stdout
        self.assertIn("data starts at byte 4,096 (4096-byte aligned)", out)
        data = json.loads(run("inspect", "--json", path).stdout)
        self.assertEqual(data["files"][0]["alignment"], 4096)
        self.assertEqual(data["files"][0]["data_start"], 4096)

    def test_no_metadata(self):
        path = write_safetensors(self.path("n.safetensors"), [tensor("a", "F32", [1])])
        out = run("inspect", path).stdout
        self.assertIn("metadata: none", out)
        self.assertIsNone(json.loads(run("inspect", "--json", path).stdout)["metadata"])

    def test_json(self):
        path = self.make()
        p = run("inspect", "--json", path)
        self.assert_exit(p, 0)
        data = json.loads(p.stdout)
        n, header = read_header(path)
        self.assertEqual(data["header_size"], n)
        self.assertEqual(data["sharded"], False)
        self.assertEqual(data["format"], "safetensors")
        self.assertEqual(data["files"][0]["file_size"], os.path.getsize(path))
        self.assertEqual(data["metadata"], {"format": "pt", "k": "v w"})
        names = [t["name"] for t in data["tensors"]]
        self.assertEqual(names, sorted(names))
        for t in data["tensors"]:
            h = header[t["name"]]
            self.assertEqual((t["dtype"], t["shape"], t["data_offsets"]), (h["dtype"], h["shape"], h["data_offsets"]))
            self.assertEqual(t["parameters"], numel(h["shape"]))
            self.assertEqual(t["bytes"], h["data_offsets"][1] - h["data_offsets"][0])
            self.assertEqual(t["shard"], "m.safetensors")
        self.assertEqual(data["totals"]["all"], {"tensors": 5, "parameters": 15, "bytes": 72})
        self.assertEqual(data["totals"]["by_dtype"]["F16"], {"tensors": 1, "parameters": 3, "bytes": 6})

    def test_filter_applies_to_table_totals_and_json(self):
        path = self.make()
        out = run("inspect", "--filter", "*.b*", path).stdout
        _, rows = table_rows(out)
        self.assertEqual([r[0] for r in rows], ["a.bias"])
        self.assertIn("filter '*.b*': 1 tensors match", out)
        _, totals = table_rows(out, "dtype")
        self.assertEqual([r[0] for r in totals], ["F16", "total"])
        data = json.loads(run("inspect", "--json", "--filter", "[bc].*", path).stdout)
        self.assertEqual([t["name"] for t in data["tensors"]], ["b.weight", "c.scale"])
        self.assertEqual(data["totals"]["all"]["tensors"], 2)
        none = json.loads(run("inspect", "--json", "--filter", "zzz*", path).stdout)
        self.assertEqual(none["tensors"], [])
        self.assertEqual(none["totals"]["all"]["bytes"], 0)

    def test_unicode_names_align(self):
        ts = [tensor("日本語.weight", "F32", [2]), tensor("ascii", "F32", [2]), tensor("e\u0301", "F32", [1])]
        path = write_safetensors(self.path("u.safetensors"), ts)
        lines = run("inspect", path).stdout.splitlines()
        i = next(i for i, l in enumerate(lines) if l.startswith("name"))
        rows = lines[i + 2:i + 5]
        columns = {display_width(r[:r.index("F32")]) for r in rows}
        self.assertEqual(len(columns), 1, "dtype column starts at one display column: %r" % rows)
        data = json.loads(run("inspect", "--json", path).stdout)
        self.assertIn("日本語.weight", [t["name"] for t in data["tensors"]])

    def test_escaped_names_in_json(self):
        ts = [tensor('q"uote\\back\nnl', "U8", [1])]
        path = write_safetensors(self.path("e.safetensors"), ts)
        data = json.loads(run("inspect", "--json", path).stdout)
        self.assertEqual(data["tensors"][0]["name"], 'q"uote\\back\nnl')
        _, rows = table_rows(run("inspect", path).stdout)
        self.assertEqual(rows[0][0], 'q"uote\\back\\nnl', "control characters are escaped in the table")

    def test_reads_headers_only(self):
        # A 512 MiB tensor in a sparse file: inspect must not touch its pages (peak RSS stays small).
        path = self.path("big.safetensors")
        size = 512 << 20
        header = json.dumps({"t": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}}).encode()
        header += b" " * ((-(8 + len(header))) % 8)
        write_raw(path, header)
        with open(path, "r+b") as f:
            f.truncate(8 + len(header) + size)
        probe = ("import resource, subprocess, sys\n"
                 "p = subprocess.run(sys.argv[1:], capture_output=True)\n"
                 "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
        out = subprocess.run([sys.executable, "-c", probe, CLI, "inspect", path],
                             capture_output=True, text=True, timeout=120).stdout.split()
        self.assertEqual(out[0], "0")
        self.assertLess(int(out[1]), 64 * 1024, "peak RSS %s KiB: data pages were read" % out[1])


class InspectSharded(CliTestCase):
    def setUp(self):
        super().setUp()
        self.folder = self.path("model")
        self.index, self.names = write_sharded(self.folder, [
            [tensor("layer.0.w", "F32", [4, 4]), tensor("layer.0.b", "F32", [4])],
            [tensor("layer.1.w", "F32", [4, 4]), tensor("head", "F16", [2, 4])],
        ], metadata={"format": "pt"})

    def check(self, target):
        p = run("inspect", target)
        self.assert_exit(p, 0)
        header, rows = table_rows(p.stdout)
        self.assertEqual(header.split(), ["name", "dtype", "shape", "parameters", "bytes", "shard"])
        self.assertEqual({r[0]: r[-1] for r in rows}, {
            "layer.0.w": self.names[0], "layer.0.b": self.names[0],
            "layer.1.w": self.names[1], "head": self.names[1]})
        self.assertIn("sharded checkpoint, 2 shards", p.stdout)
        data = json.loads(run("inspect", "--json", target).stdout)
        self.assertTrue(data["sharded"])
        self.assertEqual(len(data["files"]), 2)
        self.assertEqual({t["name"]: t["shard"] for t in data["tensors"]}["head"], self.names[1])
        self.assertEqual(data["totals"]["all"]["bytes"], 64 + 16 + 64 + 16)
        self.assertEqual(data["header_size"], sum(read_header(os.path.join(self.folder, n))[0] for n in self.names))

    def test_folder(self):
        self.check(self.folder)

    def test_index_json(self):
        self.check(self.index)

    def test_sort_offset_groups_by_shard(self):
        _, rows = table_rows(run("inspect", "--sort", "offset", self.folder).stdout)
        # per shard in the writer's order: F32 before F16, then by name
        self.assertEqual([r[0] for r in rows], ["layer.0.b", "layer.0.w", "layer.1.w", "head"])

    def test_filter(self):
        data = json.loads(run("inspect", "--json", "--filter", "layer.1.*", self.index).stdout)
        self.assertEqual([t["name"] for t in data["tensors"]], ["layer.1.w"])

    def test_missing_shard_names_file(self):
        os.remove(os.path.join(self.folder, self.names[1]))
        p = run("inspect", self.index)
        self.assert_exit(p, 1)  # the index names a file that does not exist: invalid_index
        self.assertIn(self.names[1], p.stderr)
        self.assertTrue(p.stderr.startswith("error: "))


class InspectRealFiles(CliTestCase):
    def test_every_real_file(self):
        files = sorted(f for f in os.listdir(REAL_SAFETENSORS) if f.endswith(".safetensors"))
        self.assertGreaterEqual(len(files), 3)
        for f in files:
            path = os.path.join(REAL_SAFETENSORS, f)
            n, header = read_header(path)
            data = json.loads(run("inspect", "--json", path).stdout)
            self.assertEqual(data["header_size"], n, f)
            expect = {k: (v["dtype"], v["shape"]) for k, v in header.items() if k != "__metadata__"}
            self.assertEqual({t["name"]: (t["dtype"], t["shape"]) for t in data["tensors"]}, expect, f)

    def test_mnist_table(self):
        path = os.path.join(REAL_SAFETENSORS, "mnist_tinygrad_model.safetensors")
        p = run("inspect", path)
        self.assert_exit(p, 0)
        _, rows = table_rows(p.stdout)
        self.assertEqual(rows, [["l1.weight", "F32", "[128, 784]", "100,352", "401,408"],
                                ["l2.weight", "F32", "[10, 128]", "1,280", "5,120"]])
        self.assertIn("2 tensors, 101.6K parameters, 397.0 KiB", p.stdout)

    def test_torch_checkpoints(self):
        with open(os.path.join(REAL_TORCH, "expected.json")) as f:
            expected = json.load(f)
        torch_dtypes = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64",
                        "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}
        for name, tensors in expected.items():
            path = os.path.join(REAL_TORCH, name)
            p = run("inspect", "--json", path)
            self.assert_exit(p, 0)
            data = json.loads(p.stdout)
            self.assertEqual(data["format"], "pytorch")
            got = {t["name"]: (t["dtype"], t["shape"]) for t in data["tensors"]}
            want = {k: (torch_dtypes[v["dtype"]], v["shape"]) for k, v in tensors.items()}
            self.assertEqual(got, want, name)
            text = run("inspect", path).stdout
            self.assertIn("pytorch checkpoint", text)
            _, rows = table_rows(text)
            self.assertEqual(sorted(r[0] for r in rows), sorted(want))


class InspectErrors(CliTestCase):
    def test_torch_failures_map_to_exit_codes(self):
        evil = b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
        with zipfile.ZipFile(self.path("evil.pt"), "w", zipfile.ZIP_STORED) as z:
            z.writestr("archive/data.pkl", evil)
            z.writestr("archive/version", "3\n")
        with zipfile.ZipFile(self.path("script.pt"), "w", zipfile.ZIP_STORED) as z:
            z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
            z.writestr("archive/constants.pkl", b"\x80\x02).")
            z.writestr("archive/code/__torch__.py", "x")
            z.writestr("archive/version", "3\n")
        with open(os.path.join(REAL_TORCH, "mlp_mnist_statedict_zip_archive_prefix.pt"), "rb") as f:
            head = f.read(3000)
        with open(self.path("cut.pt"), "wb") as f:
            f.write(head)
        for name, code in [("evil.pt", 4), ("script.pt", 5), ("cut.pt", 1)]:
            with self.subTest(name):
                p = run("inspect", self.path(name))
                self.assert_exit(p, code)
                self.assertEqual(len(p.stderr.splitlines()), 1)
                self.assertTrue(p.stderr.startswith("error: " + self.path(name)), p.stderr)
                self.assertEqual(p.stdout, "")

    def test_missing_file_exit_3(self):
        missing = self.path("nope.safetensors")
        p = run("inspect", missing)
        self.assert_exit(p, 3)
        self.assertEqual(len(p.stderr.splitlines()), 1)
        self.assertTrue(p.stderr.startswith("error: "))
        self.assertIn(missing, p.stderr)
        self.assertEqual(p.stdout, "")

    def test_corrupt_offsets_exit_1_names_file_and_tensor(self):
        path = write_raw(self.path("bad.safetensors"),
                         '{"good":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},'
                         '"broken":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}}', b"\0" * 5)
        p = run("inspect", path)
        self.assert_exit(p, 1)
        self.assertEqual(len(p.stderr.splitlines()), 1)
        self.assertIn(path, p.stderr)
        self.assertIn("broken", p.stderr)

    def test_truncated_exit_1(self):
        path = write_safetensors(self.path("t.safetensors"), [tensor("a", "F32", [4])])
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) - 1)
        p = run("inspect", path)
        self.assert_exit(p, 1)
        self.assertIn(path, p.stderr)

    def test_too_small_exit_1(self):
        path = self.path("small.safetensors")
        with open(path, "wb") as f:
            f.write(b"\x01\x02")
        self.assert_exit(run("inspect", path), 1)

    def test_bad_arguments_exit_2(self):
        path = write_safetensors(self.path("ok.safetensors"), [tensor("a", "F32", [1])])
        self.assert_exit(run("inspect"), 2)
        self.assert_exit(run("inspect", "--sort", "size", path), 2)
        self.assert_exit(run("inspect", "--bogus", path), 2)

    def test_help_exit_0(self):
        p = run("inspect", "--help")
        self.assert_exit(p, 0)
        self.assertIn("--filter", p.stdout)


if __name__ == "__main__":
    main()
