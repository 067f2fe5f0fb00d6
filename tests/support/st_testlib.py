"""Helpers shared by the Python script tests: the source paths, a stdlib safetensors writer
(canonical or given order, any alignment, raw files with any length prefix), a sharded-folder
writer, and running the built CLI ($SAFETENSORS_CLI).

The tests run with cwd = the build folder; each adds this folder to sys.path from its own
location:  sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
"""
import json
import os
import struct
import subprocess
import tempfile
import unittest

CLI = os.environ.get("SAFETENSORS_CLI", "")
SOURCE_DIR = os.environ.get("SAFETENSORS_SOURCE_DIR",
                            os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
REAL_SAFETENSORS = os.path.join(SOURCE_DIR, "tests", "data", "real-safetensors")
REAL_TORCH = os.path.join(SOURCE_DIR, "tests", "data", "real-torch")

# The reference writer's order: dtype descending in the reference enum order, then name.
WRITER_ORDER = ["U64", "I64", "F64", "C64", "F32", "U32", "I32", "BF16", "F16", "U16", "I16",
                "F8_E5M2FNUZ", "F8_E4M3FNUZ", "F8_E8M0", "F8_E4M3", "F8_E5M2", "I8", "U8",
                "F6_E3M2", "F6_E2M3", "F4", "BOOL"]
BITS = {"BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8,
        "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16,
        "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64,
        "U64": 64}


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def nbytes(dtype, shape):
    bits = numel(shape) * BITS[dtype]
    assert bits % 8 == 0, (dtype, shape)
    return bits // 8


def layout_header(entries, metadata=None, order="canonical", align=8, separators=(",", ":")):
    """Header JSON (padded with spaces so 8 + N is a multiple of `align`) for `entries`, a list
    of (name, dtype, shape, data_size, ...), and the entries in data order (anything after
    data_size is carried along). order: "canonical" (the writer's: dtype descending, then name
    byte-wise; metadata keys sorted byte-wise) or "given"; separators as json.dumps's (default:
    compact)."""
    items = list(entries)
    if order == "canonical":
        items.sort(key=lambda t: (WRITER_ORDER.index(t[1]), t[0].encode()))
        if metadata is not None:
            metadata = dict(sorted(metadata.items(), key=lambda kv: kv[0].encode()))
    obj = {}
    if metadata is not None:
        obj["__metadata__"] = metadata
    offset = 0
    for name, dtype, shape, size, *_ in items:
        obj[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(obj, separators=separators, ensure_ascii=False).encode()
    pad = (-(8 + len(text))) % align
    return text + b" " * pad, items


def header_bytes(tensors, metadata=None, order="canonical", align=8, strict=True):
    """Header (layout_header) and data section for `tensors`, a list of (name, dtype, shape,
    data)."""
    items = list(tensors)
    for name, dtype, shape, data in items:  # strict=False: a deliberately wrong size (error tests)
        assert not strict or len(data) == nbytes(dtype, shape), (name, len(data), dtype, shape)
    header, ordered = layout_header([(n, d, s, len(b), b) for n, d, s, b in items], metadata, order, align)
    return header, b"".join(t[4] for t in ordered)


def serialize(tensors, metadata=None, order="canonical", align=8, strict=True):
    """A whole safetensors file as bytes (see header_bytes)."""
    return raw_file(*header_bytes(tensors, metadata, order, align, strict))


def write_safetensors(path, tensors, metadata=None, order="canonical", align=8, strict=True):
    with open(path, "wb") as f:
        f.write(serialize(tensors, metadata, order, align, strict))
    return path


def raw_file(header, data=b"", length=None):
    """File bytes from raw header bytes (str or bytes) and data; `length` overrides N."""
    if isinstance(header, str):
        header = header.encode()
    n = len(header) if length is None else length
    return struct.pack("<Q", n) + header + data


def write_raw(path, header, data=b"", length=None):
    with open(path, "wb") as f:
        f.write(raw_file(header, data, length))
    return path


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return n, json.loads(f.read(n))


def f32(*values):
    return struct.pack("<%df" % len(values), *values)


def tensor(name, dtype, shape, fill=None):
    """(name, dtype, shape, data) with deterministic bytes."""
    size = nbytes(dtype, shape)
    data = bytes((i * 7 + len(name)) % 251 for i in range(size)) if fill is None else fill
    assert len(data) == size, (name, len(data), size)
    return (name, dtype, list(shape), data)


def run(*args, input=None, env=None, check_rc=None, timeout=120):
    """Runs the CLI with `args` (str()-ed) and text `input` on stdin (else /dev/null); returns
    the CompletedProcess (text stdout/stderr). check_rc: raise unless it exits with that code."""
    p = subprocess.run([CLI, *map(str, args)], input=input, stdin=None if input is not None else subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout, env=env)
    if check_rc is not None and p.returncode != check_rc:
        raise AssertionError(f"{args}: exit {p.returncode} (expected {check_rc})\n{p.stdout}\n{p.stderr}")
    return p


def write_sharded(folder, shards, metadata=None):
    """shards: list of tensor lists; writes model-0000i-of-0000n.safetensors and the index."""
    os.makedirs(folder, exist_ok=True)
    weight_map, total = {}, 0
    names = []
    for i, ts in enumerate(shards):
        name = "model-%05d-of-%05d.safetensors" % (i + 1, len(shards))
        write_safetensors(os.path.join(folder, name), ts, metadata)
        names.append(name)
        for t in ts:
            weight_map[t[0]] = name
            total += len(t[3])
    index = os.path.join(folder, "model.safetensors.index.json")
    with open(index, "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f)
    return index, names


class CliTestCase(unittest.TestCase):
    """Base class: a fresh temp dir per test and assertion helpers."""

    @classmethod
    def setUpClass(cls):
        if not CLI or not os.path.exists(CLI):
            raise RuntimeError("SAFETENSORS_CLI must name the built safetensors-cli (got %r)" % CLI)

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="st-cli-")
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp, name)

    def assert_exit(self, proc, code):
        self.assertEqual(proc.returncode, code,
                         "exit %d, expected %d\nstdout:\n%s\nstderr:\n%s"
                         % (proc.returncode, code, proc.stdout, proc.stderr))


def main():
    """unittest.main that exits non-zero on failure (also when no test ran)."""
    import sys
    result = unittest.main(exit=False, verbosity=2).result
    ok = result.wasSuccessful() and result.testsRun > 0
    sys.exit(0 if ok else 1)
