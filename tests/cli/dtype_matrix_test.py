"""Every dtype through every command: the 22 dtypes x shapes ([], [0], [2, 0], [1, 8], odd element
counts) x convert (st -> st, --no-verify, --align 4096, --max-shard-size, --dtype), validate
--check-values and inspect --json. Outputs are compared with the bytes the reference writer
produces (tests/support/st_testlib.py's stdlib writer) and cast values with an independent decoder/encoder below.
Sub-byte dtypes need a whole number of bytes: their odd element counts are misaligned_slice
errors, as in the reference. Runs the built CLI ($SAFETENSORS_CLI)."""
import json
import math
import os
import struct
import sys
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from st_testlib import (BITS, WRITER_ORDER, CliTestCase, header_bytes, main, numel, read_header,  # noqa: E402
                         run, write_safetensors)

DTYPES = list(reversed(WRITER_ORDER))  # the reference enum order
SHAPES = [[], [0], [2, 0], [1, 8], [3], [3, 5]]
CAST_TARGETS = ["F16", "BF16", "F32", "F64", "F8_E5M2"]  # IEEE targets: values checked exactly
OTHER_FLOAT_TARGETS = ["F8_E4M3", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F8_E8M0"]  # checked by layout
META = {"format": "pt"}

# (exponent bits, mantissa bits, bias, specials): ieee = inf and NaN in the top exponent;
# fn = no inf, NaN is S.1111.111; fnuz = no inf, no -0, NaN is 0x80; finite = no inf or NaN.
FORMATS = {"F4": (2, 1, 1, "finite"), "F6_E2M3": (2, 3, 1, "finite"), "F6_E3M2": (3, 2, 3, "finite"),
           "F8_E5M2": (5, 2, 15, "ieee"), "F8_E4M3": (4, 3, 7, "fn"), "F8_E4M3FNUZ": (4, 3, 8, "fnuz"),
           "F8_E5M2FNUZ": (5, 2, 16, "fnuz"), "F16": (5, 10, 15, "ieee"), "BF16": (8, 7, 127, "ieee"),
           "F32": (8, 23, 127, "ieee"), "F64": (11, 52, 1023, "ieee")}
FLOATS = set(FORMATS) | {"F8_E8M0"}


def whole_bytes(dtype, shape):
    return numel(shape) * BITS[dtype] % 8 == 0


def group(dtype):
    """(bytes, elements) of the smallest run of whole elements that is whole bytes."""
    bits = BITS[dtype]
    elems = 8 // math.gcd(bits, 8)
    return elems * bits // 8, elems


def codes(dtype, data):
    """Element codes of packed little-end-first data."""
    gb, ge = group(dtype)
    bits, mask = BITS[dtype], (1 << BITS[dtype]) - 1
    out = []
    for at in range(0, len(data), gb):
        word = int.from_bytes(data[at:at + gb], "little")
        out.extend((word >> (k * bits)) & mask for k in range(ge))
    return out


def decode(dtype, code):
    """Exact value of a floating code (a Python float holds every one of them)."""
    if dtype == "F8_E8M0":
        return math.nan if code == 0xff else math.ldexp(1.0, code - 127)
    e, m, bias, kind = FORMATS[dtype]
    sign, exp, man = code >> (e + m), (code >> m) & ((1 << e) - 1), code & ((1 << m) - 1)
    top = exp == (1 << e) - 1
    if (kind == "fnuz" and code == 1 << (e + m)) or (kind == "ieee" and top and man) or \
            (kind == "fn" and top and man == (1 << m) - 1):
        return math.nan
    if kind == "ieee" and top:
        return -math.inf if sign else math.inf
    v = math.ldexp(man, 1 - bias - m) if exp == 0 else math.ldexp(man | (1 << m), exp - bias - m)
    return -v if sign else v


def encode(dtype, v):
    """Round-to-nearest-even code of `v` in an ieee format (inf on overflow); None for NaN."""
    e, m, bias, _ = FORMATS[dtype]
    if math.isnan(v):
        return None
    sign = (1 << (e + m)) if math.copysign(1.0, v) < 0 else 0
    a = abs(v)
    inf = ((1 << e) - 1) << m
    if a == math.inf:
        return sign | inf
    if a == 0:
        return sign
    unbiased = math.frexp(a)[1] - 1
    if unbiased + bias >= 1:  # normal: r in [2^m, 2^(m+1)], a carry moves into the exponent
        code = ((unbiased + bias - 1) << m) + round(Fraction(a) / Fraction(2) ** (unbiased - m))
    else:  # subnormal: r in [0, 2^m]
        code = round(Fraction(a) / Fraction(2) ** (1 - bias - m))
    return sign | min(code, inf)


def is_nan_code(dtype, code):
    return math.isnan(decode(dtype, code))


def fill(dtype, shape):
    """Deterministic bytes that start with the dtype's special values (inf, NaN, max, -0, values
    that overflow or underflow a cast) followed by a byte pattern."""
    n = numel(shape) * BITS[dtype] // 8
    specials = {8: bytes([0x7f, 0xff, 0x7c, 0x80, 0xfe, 0x01, 0x7e, 0x00]),
                16: bytes.fromhex("007c017e00fcff7b00800100"),
                32: bytes.fromhex("0000807f0000c07fffff7f7f000000800100000000008033"),
                64: struct.pack("<6d", math.inf, math.nan, 1e300, 1e-300, -0.1, 65520.0)}.get(BITS[dtype], b"")
    pattern = bytes((i * 37 + 11) % 256 for i in range(n))
    return (specials + pattern)[:n]


def tensor_name(dtype, shape):
    return "%s.%s" % (dtype, "x".join(map(str, shape)) or "scalar")


def cast_data(dtype, data, target):
    """Expected codes of `data` cast to `target` (None where NaN), or the bytes when kept."""
    if dtype not in FLOATS:
        return None
    return [encode(target, decode(dtype, c)) for c in codes(dtype, data)]


def value_warnings(path, name, dtype, shape, data):
    """The (tensor, message) warnings of validate --check-values."""
    if dtype == "BOOL":
        bad = sum(1 for b in data if b > 1)
        return [(name, "%s: tensor '%s': %d BOOL bytes are neither 0 nor 1" % (path, name, bad))] if bad else []
    if dtype == "C64":
        values = [decode("F32", c) for c in codes("F32", data)]
    elif dtype in FLOATS:
        values = [decode(dtype, c) for c in codes(dtype, data)]
    else:
        return []
    nan = sum(1 for v in values if math.isnan(v))
    inf = sum(1 for v in values if math.isinf(v))
    if not nan and not inf:
        return []
    return [(name, "%s: tensor '%s': %d NaN and %d Inf values (of %d)" % (path, name, nan, inf, numel(shape)))]


class DtypeMatrix(CliTestCase):
    """One file with a tensor for every (dtype, shape) pair the format allows, through every
    command; every output checked tensor by tensor against the expected bytes."""

    def setUp(self):
        super().setUp()
        self.tensors = [(tensor_name(d, s), d, s, fill(d, s)) for d in DTYPES for s in SHAPES if whole_bytes(d, s)]
        self.src = write_safetensors(self.path("all.safetensors"), self.tensors, metadata=META)

    def reference_bytes(self, tensors, align=8):
        header, data = header_bytes(tensors, META, align=align)
        return struct.pack("<Q", len(header)) + header + data

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def assert_same_file(self, path, tensors, align=8):
        got, want = self.read(path), self.reference_bytes(tensors, align)
        if got != want:  # name the first tensor that differs
            _, header = read_header(path)
            for name, dtype, shape, _ in tensors:
                self.assertEqual(header.get(name, {}).get("dtype"), dtype, name)
                self.assertEqual(header[name]["shape"], shape, name)
        self.assertEqual(got, want)

    def test_every_tensor_is_counted(self):
        self.assertEqual(len(self.tensors), 19 * len(SHAPES) + 3 * 3)

    def test_convert_reproduces_the_input_bytes(self):
        for flags in ([], ["--no-verify"]):
            with self.subTest(flags=flags):
                out = self.path("out%d.safetensors" % len(flags))
                self.assert_exit(run("convert", *flags, self.src, out), 0)
                self.assertEqual(self.read(out), self.read(self.src))

    def test_convert_align_4096(self):
        for flags in ([], ["--no-verify"]):
            with self.subTest(flags=flags):
                out = self.path("a%d.safetensors" % len(flags))
                self.assert_exit(run("convert", "--align", "4096", *flags, self.src, out), 0)
                self.assertEqual((8 + read_header(out)[0]) % 4096, 0)
                self.assert_same_file(out, self.tensors, align=4096)

    def test_convert_max_shard_size(self):
        out = self.path("shards")
        self.assert_exit(run("convert", "--max-shard-size", "200B", self.src, out), 0)
        with open(os.path.join(out, "all.safetensors.index.json")) as f:
            index = json.load(f)
        self.assertEqual(index["metadata"]["total_size"], sum(len(t[3]) for t in self.tensors))
        self.assertEqual(set(index["weight_map"]), {t[0] for t in self.tensors})
        shards = sorted(set(index["weight_map"].values()))
        self.assertGreater(len(shards), 3)
        self.assertEqual(sorted(os.listdir(out)), sorted(shards + ["all.safetensors.index.json"]))
        by_name = {t[0]: t for t in self.tensors}
        for shard in shards:
            mine = [by_name[n] for n, s in index["weight_map"].items() if s == shard]
            self.assert_same_file(os.path.join(out, shard), mine)

    def check_cast(self, path, target):
        _, header = read_header(path)
        with open(path, "rb") as f:
            f.seek(8 + read_header(path)[0])
            data = f.read()
        expected_tensors = []
        for name, dtype, shape, src in self.tensors:
            want = cast_data(dtype, src, target)
            info = header[name]
            got = data[info["data_offsets"][0]:info["data_offsets"][1]]
            with self.subTest(tensor=name, target=target):
                self.assertEqual(info["dtype"], target if want is not None else dtype)
                self.assertEqual(info["shape"], shape)
                if want is None:
                    self.assertEqual(got, src)
                else:
                    mine = codes(target, got)
                    self.assertEqual(len(mine), len(want))
                    for i, (g, w) in enumerate(zip(mine, want)):
                        if w is None:
                            self.assertTrue(is_nan_code(target, g), (i, hex(g)))
                        else:
                            self.assertEqual(g, w, (i, hex(g), hex(w), decode(dtype, codes(dtype, src)[i])))
            expected_tensors.append((name, info["dtype"], shape, got))
        self.assert_same_file(path, expected_tensors)  # header and layout as the reference writes them

    def test_convert_dtype_casts_every_floating_tensor(self):
        outs = {t: self.path("cast_%s.safetensors" % t) for t in CAST_TARGETS}
        with ThreadPoolExecutor(3) as pool:
            procs = dict(zip(outs, pool.map(lambda t: run("convert", "--dtype", t.lower(), self.src, outs[t]), outs)))
        for target, path in outs.items():
            self.assert_exit(procs[target], 0)
            self.check_cast(path, target)

    def test_convert_dtype_to_other_floats(self):
        """Saturating/NaN-only F8 targets: every floating tensor takes the target dtype with the
        byte size of its element count, the rest keep their bytes."""
        for target in OTHER_FLOAT_TARGETS:
            out = self.path("cast_%s.safetensors" % target)
            self.assert_exit(run("convert", "--dtype", target.lower(), self.src, out), 0)
            _, header = read_header(out)
            for name, dtype, shape, src in self.tensors:
                with self.subTest(tensor=name, target=target):
                    info = header[name]
                    self.assertEqual(info["dtype"], target if dtype in FLOATS else dtype)
                    size = info["data_offsets"][1] - info["data_offsets"][0]
                    self.assertEqual(size, numel(shape) if dtype in FLOATS else len(src))

    def test_convert_dtype_to_sub_byte_needs_whole_bytes(self):
        """F4/F6 targets: a tensor whose element count does not fill whole bytes, or a NaN (these
        formats have none), is an error naming the tensor (no output); the sub-byte tensors (no
        NaN) are cast among themselves, integers kept (selected with --filter)."""
        for target in ("F4", "F6_E2M3", "F6_E3M2"):
            out = self.path("sub_%s.safetensors" % target)
            p = run("convert", "--dtype", target, self.src, out)
            with self.subTest(target=target):
                self.assert_exit(p, 2)
                self.assertRegex(p.stderr, r"^error: .*tensor '[A-Z0-9_]+\.(3|3x5)': \d+ elements cannot be "
                                 r"written as %s" % target)
                self.assertFalse(os.path.exists(out))
                p = run("convert", "--dtype", target, "--filter", "F32.1x8", self.src, out)
                self.assert_exit(p, 2)
                self.assertRegex(p.stderr, r"^error: .*tensor 'F32\.1x8': element \d+ \(nan\) cannot be "
                                 r"represented in %s" % target)
                self.assertFalse(os.path.exists(out))
                picked = ["F4.*", "F6_*", "U8.*"]
                self.assert_exit(run("convert", "--dtype", target, *[a for g in picked for a in ("--filter", g)],
                                     self.src, out), 0)
                _, header = read_header(out)
                want = [t for t in self.tensors if t[1] in ("F4", "F6_E2M3", "F6_E3M2", "U8")]
                self.assertEqual(set(header) - {"__metadata__"}, {t[0] for t in want})
                for name, dtype, shape, src in want:
                    info = header[name]
                    self.assertEqual(info["dtype"], "U8" if dtype == "U8" else target, name)
                    self.assertEqual(info["data_offsets"][1] - info["data_offsets"][0],
                                     len(src) if dtype == "U8" else numel(shape) * BITS[target] // 8, name)

    def test_convert_dtype_without_a_cast_is_a_usage_error(self):
        targets = [d for d in DTYPES if d not in FLOATS]
        with ThreadPoolExecutor(4) as pool:
            procs = list(pool.map(lambda t: run("convert", "--dtype", t, self.src, self.path(t + ".safetensors")),
                                  targets))
        for target, p in zip(targets, procs):
            with self.subTest(target=target):
                self.assert_exit(p, 2)
                self.assertEqual(p.stderr, "error: --dtype '%s': use a floating dtype (f16, bf16, f32, f64, "
                                 "f8_e4m3, f8_e5m2, ...)\n" % target)
                self.assertFalse(os.path.exists(self.path(target + ".safetensors")))

    def test_validate_check_values(self):
        p = run("validate", "--check-values", "--json", self.src)
        self.assert_exit(p, 0)
        [report] = json.loads(p.stdout)
        self.assertTrue(report["valid"])
        self.assertEqual(report["tensors"], len(self.tensors))
        want = []
        for name, dtype, shape, data in self.tensors:
            want += value_warnings(self.src, name, dtype, shape, data)
        self.assertGreater(len(want), 10)
        self.assertEqual(sorted((w["tensor"], w["message"]) for w in report["warnings"]), sorted(want))
        self.assertTrue(all(w["kind"] == "values" for w in report["warnings"]))

    def test_inspect_json(self):
        p = run("inspect", "--json", self.src)
        self.assert_exit(p, 0)
        got = json.loads(p.stdout)
        header, _ = header_bytes(self.tensors, META)
        [f] = got["files"]
        self.assertEqual((f["header_size"], f["data_start"], f["file_size"]),
                         (len(header), 8 + len(header), os.path.getsize(self.src)))
        rows = {r["name"]: r for r in got["tensors"]}
        _, on_disk = read_header(self.src)
        for name, dtype, shape, data in self.tensors:
            with self.subTest(tensor=name):
                r = rows[name]
                self.assertEqual((r["dtype"], r["shape"], r["parameters"], r["bytes"], r["data_offsets"]),
                                 (dtype, shape, numel(shape), len(data), on_disk[name]["data_offsets"]))


class OneTensorFiles(CliTestCase):
    """The reported crash: a file holding only one tensor of each dtype ([1, 8], or no element at
    all, so that the data section is empty), converted as it is and cast to F32 (the other flags
    go through DtypeMatrix)."""

    def test_each_dtype_alone(self):
        cases = []
        for dtype in DTYPES:
            for shape in ([1, 8], [2, 0]):
                t = (tensor_name(dtype, shape), dtype, shape, fill(dtype, shape))
                src = write_safetensors(self.path(t[0] + ".safetensors"), [t], metadata=META)
                for flags in ([], ["--dtype", "f32"]):
                    cases.append((t, src, flags, self.path("%s.%d.out" % (t[0], len(cases)))))
        with ThreadPoolExecutor(4) as pool:
            procs = list(pool.map(lambda c: run("convert", *c[2], c[1], c[3]), cases))
        for (t, src, flags, out), p in zip(cases, procs):
            with self.subTest(tensor=t[0], flags=flags):
                self.assert_exit(p, 0)
                name, dtype, shape, data = t
                if "--dtype" in flags and dtype in FLOATS:
                    n, header = read_header(out)
                    self.assertEqual((header[name]["dtype"], header[name]["shape"]), ("F32", shape))
                    with open(out, "rb") as f:
                        got = [None if is_nan_code("F32", c) else c for c in codes("F32", f.read()[8 + n:])]
                    self.assertEqual(got, [encode("F32", decode(dtype, c)) for c in codes(dtype, data)])
                    continue
                header, body = header_bytes([t], META, align=4096 if "--align" in flags else 8)
                with open(out, "rb") as f:
                    self.assertEqual(f.read(), struct.pack("<Q", len(header)) + header + body)


class SubByteCounts(CliTestCase):
    """F4 and F6 tensors whose bits are not whole bytes: misaligned_slice everywhere (exit 1,
    one line naming the tensor), never a crash."""

    def test_odd_counts_are_refused(self):
        cases = []
        for dtype in ("F4", "F6_E2M3", "F6_E3M2"):
            for shape in SHAPES:
                if whole_bytes(dtype, shape):
                    continue
                size = (numel(shape) * BITS[dtype] + 7) // 8  # rounded up, as a writer might
                t = (tensor_name(dtype, shape), dtype, shape, bytes(range(size)))
                cases.append((t, write_safetensors(self.path(t[0] + ".safetensors"), [t], strict=False)))
        self.assertEqual(len(cases), 9)
        commands = [["validate", "--check-values"], ["inspect", "--json"], ["convert"], ["convert", "--dtype", "f32"]]
        jobs = [(t, path, cmd) for t, path in cases for cmd in commands]
        with ThreadPoolExecutor(4) as pool:
            procs = list(pool.map(lambda j: run(*j[2], j[1], *([j[1] + ".out"] if j[2][0] == "convert" else [])),
                                  jobs))
        for (t, path, cmd), p in zip(jobs, procs):
            with self.subTest(tensor=t[0], command=cmd):
                self.assert_exit(p, 1)
                text = p.stdout + p.stderr
                self.assertIn("tensor '%s'" % t[0], text)
                self.assertIn("not a whole number of bytes", text)
                self.assertEqual(len(p.stderr.splitlines()), 1 if cmd[0] != "validate" else 0, p.stderr)
                self.assertFalse(os.path.exists(path + ".out"))


class LargeSubByteCast(CliTestCase):
    """An F6 tensor larger than the 1 MiB read chunk: 1 MiB is not a multiple of the 3-byte group
    of four F6 values, so a chunk ends inside a group and its tail is carried to the next one."""

    def test_f6_cast_across_chunks(self):
        groups = (1 << 20) // 3 + 7
        data = bytes((i * 97 + 5) % 256 for i in range(groups * 3))
        shape = [groups * 4]
        src = write_safetensors(self.path("big.safetensors"), [("w", "F6_E3M2", shape, data)])
        out = self.path("big16.safetensors")
        self.assert_exit(run("convert", "--dtype", "f16", src, out), 0)
        table = [encode("F16", decode("F6_E3M2", c)) for c in range(64)]
        want = b"".join(struct.pack("<H", table[c]) for c in codes("F6_E3M2", data))
        header, body = header_bytes([("w", "F16", shape, want)])
        with open(out, "rb") as f:
            self.assertEqual(f.read(), struct.pack("<Q", len(header)) + header + body)


class CodecSelfCheck(CliTestCase):
    """The test's own decoder and encoder against known values (so a shared mistake with the
    code under test cannot pass unnoticed)."""

    def test_known_values(self):
        self.assertEqual([decode("F4", c) for c in range(8)], [0, 0.5, 1, 1.5, 2, 3, 4, 6])
        self.assertEqual(decode("F6_E2M3", 0x1f), 7.5)
        self.assertEqual(decode("F6_E3M2", 0x1f), 28.0)
        self.assertEqual(decode("F8_E4M3", 0x7e), 448.0)
        self.assertTrue(math.isnan(decode("F8_E4M3", 0x7f)))
        self.assertEqual(decode("F8_E5M2", 0x7b), 57344.0)
        self.assertEqual(decode("F8_E4M3FNUZ", 0x7f), 240.0)
        self.assertTrue(math.isnan(decode("F8_E5M2FNUZ", 0x80)))
        self.assertEqual(decode("F8_E8M0", 127), 1.0)
        self.assertEqual(encode("F16", 65520.0), 0x7c00)  # rounds up to inf
        self.assertEqual(encode("F16", 65519.0), 0x7bff)
        self.assertEqual(encode("F16", 2.0 ** -25), 0)  # ties to even
        self.assertEqual(encode("F16", 2.0 ** -24), 1)
        self.assertEqual(encode("BF16", 1.0 + 2.0 ** -8), 0x3f80)
        self.assertEqual(encode("BF16", 1.0 + 3 * 2.0 ** -8), 0x3f82)
        self.assertEqual(encode("F32", -0.1), struct.unpack("<I", struct.pack("<f", -0.1))[0])
        self.assertEqual(codes("F6_E2M3", bytes([0b11000001, 0, 0])), [1, 3, 0, 0])


if __name__ == "__main__":
    main()
