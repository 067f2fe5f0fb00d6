"""Cross-check of our writer and reader against an independent stdlib + numpy implementation.

Files written by our writer (through st_roundtrip_tool) are read back by the reader below and
must equal, byte for byte, what the stdlib writer of tests/support/st_testlib.py produces for the
same tensors; files written by that writer are read by our reader. Run by ctest with SAFETENSORS_PYTHON
(cmake/python.cmake);
ST_ROUNDTRIP_TOOL names the helper executable.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from st_testlib import BITS, SOURCE_DIR, nbytes, numel, raw_file, serialize  # noqa: E402

TOOL = os.environ.get("ST_ROUNDTRIP_TOOL", "")
# name -> bits, in the reference enum order (the writer sorts by this order, descending).
DTYPES = list(BITS.items())
NUMPY = {"BOOL": "?", "U8": "u1", "I8": "i1", "I16": "<i2", "U16": "<u2", "F16": "<f2", "I32": "<i4",
         "U32": "<u4", "F32": "<f4", "C64": "<c8", "F64": "<f8", "I64": "<i8", "U64": "<u8"}


# ---- independent reader -------------------------------------------------------------------
def reject_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def py_deserialize(blob):
    """-> (metadata or None, {name: (dtype, shape, bytes)}, header_size). Raises ValueError."""
    if len(blob) < 8:
        raise ValueError("header too small")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise ValueError("invalid header length")
    header = json.loads(blob[8:8 + n].decode("utf-8"), object_pairs_hook=reject_duplicates)
    metadata = header.pop("__metadata__", None)
    data = blob[8 + n:]
    entries = sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"]))
    position = 0
    tensors = {}
    for name, info in entries:
        begin, end = info["data_offsets"]
        if begin != position or end < begin:
            raise ValueError("invalid offset for " + name)
        if end - begin != nbytes(info["dtype"], info["shape"]):
            raise ValueError("invalid info for " + name)
        tensors[name] = (info["dtype"], list(info["shape"]), bytes(data[begin:end]))
        position = end
    if position != len(data):
        raise ValueError("incomplete buffer")
    return metadata, tensors, n


# ---- random inputs --------------------------------------------------------------------------
NAME_PIECES = ["a", "Z", ".", "_", '"', "\\", "\n", "\x01", "\x1f", "é", "\u2028", "😀", "\x7f", "/", "中"]


def random_tensors(rng, count):
    tensors = []
    names = set()
    while len(tensors) < count:
        dtype = DTYPES[int(rng.integers(len(DTYPES)))][0]
        rank = int(rng.integers(0, 5))
        shape = [int(rng.integers(0, 4)) for _ in range(rank)]
        if numel(shape) * BITS[dtype] % 8:
            continue
        name = "".join(NAME_PIECES[int(i)] for i in rng.integers(0, len(NAME_PIECES), int(rng.integers(0, 6))))
        if name in names or name == "__metadata__":
            continue
        names.add(name)
        data = rng.integers(0, 256, nbytes(dtype, shape), dtype=np.uint8).tobytes()
        tensors.append((name, dtype, shape, data))
    return tensors


def run_tool(*args):
    return subprocess.run([TOOL, *args], capture_output=True, check=False)


class CrossCheck(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not TOOL or not os.path.exists(TOOL):
            raise RuntimeError(f"ST_ROUNDTRIP_TOOL={TOOL!r} does not exist (run through ctest after building)")

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def ours_write(self, tensors, metadata=None, alignment=8):
        spec = {"metadata": metadata, "alignment": alignment,
                "tensors": [{"name": n, "dtype": d, "shape": s, "hex": b.hex()} for n, d, s, b in tensors]}
        spec_path = os.path.join(self.dir, "spec.json")
        out = os.path.join(self.dir, "ours.safetensors")
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump(spec, f)
        r = run_tool("write", spec_path, out)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        with open(out, "rb") as f:
            return f.read()

    def ours_read(self, blob, backend=None):
        path = os.path.join(self.dir, "theirs.safetensors")
        with open(path, "wb") as f:
            f.write(blob)
        r = run_tool("dump", path, *([backend] if backend else []))
        return r.returncode, (json.loads(r.stdout) if r.returncode == 0 else r.stderr.decode())

    def test_our_writer_matches_the_python_writer(self):
        rng = np.random.default_rng(1234)
        for round_ in range(6):
            tensors = random_tensors(rng, 40)
            metadata = None if round_ % 3 == 0 else {"format": "pt", "é": "\u2028", "": "\x00\n", "B": "x"}
            alignment = [8, 64, 4096][round_ % 3]
            ours = self.ours_write(tensors, metadata, alignment)
            self.assertEqual(ours, serialize(tensors, metadata, align=alignment), f"round {round_}")
            meta, read, n = py_deserialize(ours)
            self.assertEqual((8 + n) % alignment, 0)
            self.assertEqual(meta, metadata)
            self.assertEqual(read, {t[0]: (t[1], t[2], t[3]) for t in tensors})

    def test_numeric_values_survive(self):
        rng = np.random.default_rng(7)
        arrays = {"f32": rng.standard_normal((3, 4)).astype("<f4"), "f64": rng.standard_normal(5),
                  "i64": rng.integers(-2**62, 2**62, (2, 2)), "f16": rng.standard_normal(7).astype("<f2"),
                  "c64": (rng.standard_normal(3) + 1j * rng.standard_normal(3)).astype("<c8"),
                  "b": rng.integers(0, 2, 6).astype("?"), "u16": rng.integers(0, 2**16, 4).astype("<u2")}
        code = {"f32": "F32", "f64": "F64", "i64": "I64", "f16": "F16", "c64": "C64", "b": "BOOL", "u16": "U16"}
        tensors = [(k, code[k], list(a.shape), a.astype(NUMPY[code[k]]).tobytes()) for k, a in arrays.items()]
        _, read, _ = py_deserialize(self.ours_write(tensors, {"format": "np"}))
        for k, a in arrays.items():
            dtype, shape, data = read[k]
            np.testing.assert_array_equal(np.frombuffer(data, NUMPY[dtype]).reshape(shape), a)

    def test_python_files_are_read_by_us(self):
        rng = np.random.default_rng(99)
        for round_ in range(4):
            tensors = random_tensors(rng, 30)
            metadata = None if round_ == 0 else {"k": "v", "\u00e9": "\\"}
            blob = serialize(tensors, metadata, align=8 if round_ < 2 else 64)
            for backend in (None, "--pread"):
                code, dump = self.ours_read(blob, backend)
                self.assertEqual(code, 0, dump)
                self.assertEqual(dump["metadata"], metadata)
                got = {t["name"]: (t["dtype"], t["shape"], bytes.fromhex(t["hex"])) for t in dump["tensors"]}
                self.assertEqual(got, {t[0]: (t[1], t[2], t[3]) for t in tensors})
                offsets = [t["offsets"] for t in dump["tensors"]]
                self.assertEqual(offsets, sorted(offsets))

    def test_real_files_agree(self):
        folder = os.path.join(SOURCE_DIR, "tests", "data", "real-safetensors")
        files = sorted(os.listdir(folder))
        self.assertEqual(len(files), 3)
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                blob = f.read()
            meta, theirs, n = py_deserialize(blob)
            code, dump = self.ours_read(blob)
            self.assertEqual(code, 0, dump)
            self.assertEqual(dump["header_size"], n)
            self.assertEqual(dump["metadata"], meta)
            self.assertEqual({t["name"]: (t["dtype"], t["shape"], bytes.fromhex(t["hex"])) for t in dump["tensors"]},
                             theirs)
            # Both writers reproduce the file (all three are in canonical order).
            tensors = [(k, d, s, b) for k, (d, s, b) in theirs.items()]
            self.assertEqual(serialize(tensors, meta), blob, name)
            self.assertEqual(self.ours_write(tensors, meta), blob, name)

    def test_malformed_python_files_are_rejected_with_their_kind(self):
        def raw(header, data=b""):
            return raw_file(json.dumps(header, separators=(",", ":")), data)

        entry = lambda b, e: {"dtype": "U8", "shape": [e - b], "data_offsets": [b, e]}  # noqa: E731
        cases = {
            "invalid_offset": raw({"a": entry(0, 2), "b": entry(0, 2)}, b"xx"),
            "incomplete_buffer": raw({"a": entry(0, 2)}, b"xxx"),
            "invalid_header_length": raw_file(b"{}", length=1000),
            "header_too_small": b"\x01\x02",
            "duplicate_key": raw_file("{" + ",".join(
                ['"a":' + json.dumps(entry(0, 2), separators=(",", ":"))] * 2) + "}", b"xx"),
        }
        for kind, blob in cases.items():
            code, message = self.ours_read(blob)
            self.assertEqual(code, 1, kind)
            self.assertTrue(message.startswith("error " + kind + ":"), f"{kind}: {message}")
            if kind != "duplicate_key":
                with self.assertRaises(ValueError):
                    py_deserialize(blob)


if __name__ == "__main__":
    unittest.main(verbosity=2)
