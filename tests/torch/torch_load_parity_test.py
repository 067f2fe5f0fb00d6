"""Issue 16: files that torch 1.13's torch.load reads differently from a naive reader. Each class
is crafted by hand (pickle opcodes, tar headers) in a few variants; `scan` must never answer
safe for them and `convert` must never write bytes torch would not load. Where it shows the
point, the real torch loads the file in a child process: its payloads only touch a marker file
in this test's temp folder, and our commands must never create that marker.
Rules: docs/TORCH.md "Rule table"."""
import collections
import io
import os
import pickle
import pickletools
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
import torch  # noqa: E402
from st_testlib import f32, main, run  # noqa: E402
from torch_testlib import (glob, k, read_safetensors, rebuild_v2, s, state_dict_pickle,  # noqa: E402
                           storage_pid, torch_zip, tup)

TMP = tempfile.TemporaryDirectory(prefix="st-torch-parity-")
MAGIC = pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2)


def path(name):
    return os.path.join(TMP.name, name)


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data)
    return path(name)


def marker(name):
    return path("marker_" + name)


def system(cmd):
    """Protocol-2 pickle body that calls posix.system(cmd) (no PROTO, no STOP)."""
    return glob("posix", "system") + tup(s(cmd)) + b"R"


def legacy_parts(sd):
    """torch.save(sd, legacy): its five pickles and the storage bytes after them."""
    buf = io.BytesIO()
    torch.save(sd, buf, _use_new_zipfile_serialization=False)
    data, parts, at = buf.getvalue(), [], 0
    for _ in range(5):
        f = io.BytesIO(data[at:])
        for _ in pickletools.genops(f):
            pass
        parts.append(data[at:at + f.tell()])
        at += f.tell()
    return parts, data[at:]


def torch_load(*paths):
    """torch.load of each file in one child process: 'ok <repr>' or 'error <first line>' each."""
    code = ("import sys, torch, collections\n"
            "for path in sys.argv[1:]:\n"
            "    try:\n        r = torch.load(path)\n"
            "        print('ok', repr(r).replace('\\n', ' '), 'most' in vars(collections.Counter))\n"
            "    except BaseException as e:\n        print('error', (str(e).splitlines() or [''])[0])\n")
    p = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True, timeout=300,
                       cwd=TMP.name)
    lines = p.stdout.splitlines()
    assert len(lines) == len(paths), p.stdout + p.stderr
    return lines


def tar_header(name, size, tail=b""):
    """A V7 tar header (no ustar magic) whose first bytes are `name`; `tail` goes at 345+."""
    h = bytearray(512)
    h[:len(name)] = name
    h[100:108] = b"0000644\0"
    h[108:116] = h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"00000000000\0"
    h[156:157] = b"0"
    h[345:345 + len(tail)] = tail
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def pad(data):
    return data + bytes(-len(data) % 512)


class ParityTest(unittest.TestCase):
    def check(self, src, scan_rc, convert_rc, needle, mark=None):
        sc = run("scan", src)
        self.assertEqual(sc.returncode, scan_rc, sc.stdout + sc.stderr)
        out = src + ".safetensors"
        cv = run("convert", src, out, "--force")
        self.assertEqual(cv.returncode, convert_rc, cv.stdout + cv.stderr)
        if convert_rc:
            self.assertIn(needle, cv.stderr)
            self.assertEqual(len(cv.stderr.strip().splitlines()), 1, cv.stderr)
            self.assertFalse(os.path.exists(out))
        if mark:
            self.assertFalse(os.path.exists(mark), "our commands must never run the payload")
        return sc, cv

    # 1 ---------------------------------------------------------------------------------------
    def test_tar_header_that_is_also_a_legacy_pickle(self):
        """The first block is a V7 tar header (checksum only, no 'ustar') and the start of a legacy
        stream: torch reads the tar, whose 'storages' member is the payload."""
        parts, tail = legacy_parts({"w": torch.tensor([1.0, 2.0])})
        m = marker("tar")
        body = parts[0][2:-1]  # the magic number without PROTO and STOP
        # PROTO, a BINUNICODE hiding bytes 7..511 (the header fields), POP, the magic, STOP
        first = b"\x80\x02X" + struct.pack("<I", 505)
        stream_rest = b"0" + body + b"." + b"".join(parts[1:]) + tail
        block = bytearray(first + bytes(505))
        fake = tar_header(bytes(block[:7]), len(stream_rest))
        block[7:] = fake[7:]
        self.assertEqual(block[:7], fake[:7])
        payload = b"\x80\x02" + system("touch " + m) + b"."
        data = bytes(block) + pad(stream_rest) + tar_header(b"storages", len(payload)) + pad(payload) + bytes(1024)
        src = write("tar_pickle.pt", data)
        sc, _ = self.check(src, 4, 4, "ambiguous container", m)
        self.assertIn("tar header", sc.stdout)
        (result,) = torch_load(src)
        self.assertTrue(os.path.exists(m), result)  # torch ran the tar member's pickle

        # variants: a protocol-0 pickle at byte 0, and a plain tar of torch < 0.4
        os.remove(m)
        p0 = b"cposix\nsystem\n(Vtouch " + m.encode() + b"\ntR."
        block = tar_header(p0, 0)
        self.check(write("tar_p0.pt", block + bytes(1024)), 4, 4, "ambiguous container", m)
        self.check(write("tar_plain.pt", tar_header(b"sys_info", 0) + bytes(1024)), 5, 5, "tar-format")

    def test_tar_rule_follows_tarfile(self):
        """Headers tarfile accepts without 'ustar' (octal with spaces, base-256 size, 0o prefix)
        are tar; a wrong checksum or an unparsable number field is not (torch unpickles it)."""
        import tarfile
        ok = tar_header(b"x", 0)
        b256 = bytearray(ok)
        b256[124:136] = b"\x80" + bytes(11)
        b256[148:156] = b" " * 8
        b256[148:156] = b"%06o\0 " % sum(b256)
        spaced = bytearray(ok)
        spaced[100:108] = b"  0o644 "
        spaced[148:156] = b" " * 8
        spaced[148:156] = b"%06o\0 " % sum(spaced)
        bad_sum = bytearray(ok)
        bad_sum[150] ^= 1
        bad_field = bytearray(ok)
        bad_field[100:108] = b"0000998\0"
        bad_field[148:156] = b" " * 8
        bad_field[148:156] = b"%06o\0 " % sum(bad_field)
        for label, block, is_tar in (("v7", ok, True), ("base-256", b256, True), ("0o and spaces", spaced, True),
                                     ("bad checksum", bad_sum, False), ("bad mode", bad_field, False)):
            with self.subTest(label):
                data = bytes(block) + bytes(1024)
                try:
                    tarfile.open(fileobj=io.BytesIO(data), mode="r:").close()
                    python = True
                except tarfile.TarError:
                    python = False
                self.assertEqual(python, is_tar)
                p = run("scan", write("rule.pt", data))
                self.assertEqual("format: tar" in p.stdout, is_tar, p.stdout)

    # 2 ---------------------------------------------------------------------------------------
    def test_frame_past_stop(self):
        """A protocol-4 FRAME over the magic number and a decoy stream: torch's C unpickler reads
        the frame (> 8 KiB) whole, so its next pickle starts after it, not after STOP."""
        benign, benign_tail = legacy_parts({"w": torch.tensor([1.0, 2.0])})
        m = marker("frame")
        evil = dict(w=torch.tensor([5.0, 6.0]))
        real, real_tail = legacy_parts(evil)
        obj = real[3][:2] + system("touch " + m) + b"0" + real[3][2:]
        decoy = b"".join(benign[1:]) + benign_tail
        decoy += bytes(9000)
        inner = MAGIC[2:-1] + b"." + decoy
        first = b"\x80\x04\x95" + struct.pack("<Q", len(inner)) + inner
        data = first + real[1] + real[2] + obj + real[4] + real_tail
        src = write("frame.pt", data)
        self.check(src, 4, 4, "ambiguous pickle framing", m)
        (result,) = torch_load(src)
        self.assertTrue(os.path.exists(m), result)
        # the same on the key list: torch would read the storage bytes after the frame
        keys = real[4]
        framed_keys = b"\x80\x04\x95" + struct.pack("<Q", len(keys) - 2 + 16) + keys[2:] + f32(7, 7, 7, 7)
        data = real[0] + real[1] + real[2] + real[3] + framed_keys + real_tail
        self.check(write("frame_keys.pt", data), 4, 4, "FRAME extends 16 bytes past STOP")
        # a frame that ends at STOP (what pickle writes) is fine
        ok = b"\x80\x04\x95" + struct.pack("<Q", len(MAGIC) - 2) + MAGIC[2:]
        self.check(write("frame_ok.pt", ok + b"".join(real[1:]) + real_tail), 0, 0, "")

    # 3 (zip names) is tests/torch/zip_names_test.py ----------------------------------------------

    # 4 ---------------------------------------------------------------------------------------
    def test_protocol_0_and_1_pickles_are_pickles(self):
        class Evil:
            def __init__(self, cmd):
                self.cmd = cmd

            def __reduce__(self):
                return (os.system, (self.cmd,))

        crafted = {}
        for proto in (0, 1):
            m = marker("p%d" % proto)
            crafted["pickle.dumps protocol %d" % proto] = (pickle.dumps(Evil("touch " + m), protocol=proto), m,
                                                            "posix.system")
        m = marker("inst")
        crafted["INST"] = (b"(" + s("touch " + m) + b"iposix\nsystem\n.", m, "posix.system")
        m = marker("obj")
        crafted["OBJ"] = (b"(cposix\nsystem\nS'touch " + m.encode() + b"'\no.", m, "posix.system")
        m = marker("late")
        # text opcodes before the global: strict convert stops at them (exit 5), scan reads on
        crafted["INT, then the global"] = (b"I01\n0cposix\nsystem\n(Vtouch " + m.encode() + b"\ntR.", m, "INT")
        m = marker("memo")
        crafted["STACK_GLOBAL from a text memo"] = (
            b"S'po\\x73ix'\np1\n0Vsystem\np2\n0g1\ng2\n\x93(Vtouch " + m.encode() + b"\ntR.", m, "STRING")
        srcs = {label: write("p01_%d.pt" % i, data) for i, (label, (data, _, _)) in enumerate(crafted.items())}
        for label, (data, m, needle) in crafted.items():
            with self.subTest(label):
                sc, _ = self.check(srcs[label], 4, 4 if needle == "posix.system" else 5, needle, m)
                self.assertIn("posix.system", sc.stdout)
        results = torch_load(*srcs.values())
        for label, (_, m, _) in crafted.items():
            self.assertTrue(os.path.exists(m), (label, results))
        # protocol 4: a dotted name is an attribute chain, torch.serialization.os.system is os.system
        m = marker("chain")
        chain = b"\x80\x04" + s("torch.serialization") + s("os.system") + b"\x93" + tup(s("touch " + m)) + b"R."
        src = torch_zip(path("chain.pt"), chain, {})
        self.check(src, 4, 4, "dangerous global 'torch.serialization.os.system'", m)
        torch_load(src)
        self.assertTrue(os.path.exists(m))
        # and a protocol-1 pickle of plain data is read, but never called safe
        p = run("scan", write("p1_data.pt", pickle.dumps({"a": [1, 2.5, "x"]}, protocol=1)))
        self.assertEqual(p.returncode, 5, p.stdout)

    # 5 ---------------------------------------------------------------------------------------
    def test_build_on_a_global_is_malicious(self):
        sd = state_dict_pickle([("w", rebuild_v2(storage_pid("0", 2), 0, (2,), (1,)))])
        patches = {
            "Counter slots": glob("collections", "Counter") + b"N}" + s("most") + k(1) + b"s\x86b0",
            "_get_layout dict": glob("torch.serialization", "_get_layout") + b"}" + s("most") + k(1) + b"sb0",
        }
        srcs = {}
        for i, (label, patch) in enumerate(patches.items()):
            srcs[label] = torch_zip(path("build%d.pt" % i), sd[:2] + patch + sd[2:], {"0": f32(1, 2)})
        for label in patches:
            with self.subTest(label):
                sc, _ = self.check(srcs[label], 4, 4, "monkeypatching")
                self.assertIn("BUILD on the global", sc.stdout)
        ran = torch_load(srcs["Counter slots"])[0]
        self.assertTrue(ran.startswith("ok") and ran.endswith("True"), ran)  # Counter was patched

    # 6 ---------------------------------------------------------------------------------------
    def test_tensor_state_that_changes_the_data(self):
        t = rebuild_v2(storage_pid("0", 2), 0, (2,), (1,))
        other = rebuild_v2(storage_pid("1", 2), 0, (2,), (1,))
        hooks = glob("collections", "OrderedDict") + b")R"
        param_type = glob("torch.nn.parameter", "Parameter")
        v2 = glob("torch._utils", "_rebuild_tensor_v2")
        v2_args = tup(storage_pid("0", 2), k(0), tup(k(2)), tup(k(1)), b"\x89", hooks)
        cases = {
            "BUILD 5-tuple (.data)": (t + tup(other, b"N", b"N", b"\x89", b"N") + b"b", "replace its .data"),
            "BUILD 4-tuple (set_)": (t + tup(storage_pid("1", 2), k(0), tup(k(2)), tup(k(1))) + b"b", "set_()"),
            "_rebuild_from_type_v2 state": (glob("torch._tensor", "_rebuild_from_type_v2") +
                                            tup(v2, param_type, v2_args, b"}" + s("data") + other + b"s") + b"R",
                                            "_rebuild_from_type_v2 sets attributes"),
        }
        srcs = {label: torch_zip(path("state%d.pt" % i), state_dict_pickle([("w", v)]),
                                 {"0": f32(1, 2), "1": f32(666, 666)})
                for i, (label, (v, _)) in enumerate(cases.items())}
        for label, (_, needle) in cases.items():
            with self.subTest(label):
                self.check(srcs[label], 5, 5, needle)
        results = dict(zip(cases, torch_load(*srcs.values())))
        self.assertIn("666", results["BUILD 5-tuple (.data)"])
        self.assertIn("666", results["_rebuild_from_type_v2 state"])
        # the state torch.save writes (requires_grad, None, hooks) changes nothing
        harmless = t + tup(b"\x89", b"N", hooks) + b"b"
        src = torch_zip(path("state_ok.pt"), state_dict_pickle([("w", harmless)]), {"0": f32(1, 2)})
        self.check(src, 0, 0, "")
        tensors, _ = read_safetensors(src + ".safetensors")
        self.assertEqual(tensors["w"][2].tolist(), [1.0, 2.0])

    # 7 ---------------------------------------------------------------------------------------
    def test_dict_keys_merge_as_in_python(self):
        def tensor(key):
            return rebuild_v2(storage_pid(key, 1), 0, (1,), (1,))

        long1 = b"\x8a\x09" + b"\x01" + bytes(8)  # 9-byte LONG1 equal to 1
        keys = [k(1), b"\x88", b"G" + struct.pack(">d", 1.0), long1]
        pkl = b"\x80\x02}(" + b"".join(key + tensor(str(i)) for i, key in enumerate(keys)) + s("z") + tensor("9") + b"u."
        records = {str(i): f32(10 + i) for i in range(4)}
        records["9"] = f32(99)
        src = torch_zip(path("keys.pt"), pkl, records)
        self.check(src, 0, 0, "")
        tensors, _ = read_safetensors(src + ".safetensors")
        self.assertEqual(sorted(tensors), ["1", "z"])
        self.assertEqual(tensors["1"][2].tolist(), [13.0])  # one key, the last value
        (result,) = torch_load(src)
        self.assertIn("{1: tensor([13.]), 'z': tensor([99.])}", result)
        # 0 == False == -0.0, and the first key object stays: False is not a name -> skipped
        pkl = b"\x80\x02}(\x89" + tensor("0") + k(0) + tensor("1") + b"G" + struct.pack(">d", -0.0) + tensor("2") + b"u."
        src = torch_zip(path("keys0.pt"), pkl, {str(i): f32(i) for i in range(3)})
        self.check(src, 0, 0, "")
        self.assertEqual(read_safetensors(src + ".safetensors")[0], {})  # the one key is False
        (result,) = torch_load(src)
        self.assertIn("{False: tensor([2.])}", result)

    # 8 ---------------------------------------------------------------------------------------
    def test_counter_is_not_a_state_dict(self):
        t = rebuild_v2(storage_pid("0", 2), 0, (2,), (1,))
        counted = b"\x80\x02" + glob("collections", "Counter") + tup(b"]" + tup(s("w"), t) + b"a") + b"R."
        src = torch_zip(path("counter.pt"), counted, {"0": f32(1, 2)})
        self.check(src, 0, 5, "not a dict of tensors")
        (result,) = torch_load(src)
        self.assertTrue(result.startswith("ok Counter({('w', tensor([1., 2.])): 1})"), result)
        mapping = b"\x80\x02" + glob("collections", "Counter") + tup(b"}" + s("w") + t + b"s") + b"R."
        src = torch_zip(path("counter_map.pt"), mapping, {"0": f32(1, 2)})
        self.check(src, 0, 0, "")
        self.assertEqual(sorted(read_safetensors(src + ".safetensors")[0]), ["w"])

    # 9, 10, 12 ---------------------------------------------------------------------------------
    def test_copies_made_by_calls_count_against_the_item_budget(self):
        """OrderedDict(L) 600 times on one memoized list of a million pairs (2 MB)."""
        t = rebuild_v2(storage_pid("0", 2), 0, (2,), (1,))
        pairs = b"]q\x00" + tup(s("w"), t) + b"q\x010(" + b"h\x01" * 999_000 + b"e0"
        calls = (glob("collections", "OrderedDict") + b"q\x02" + b"0") + (b"h\x02h\x00\x85R0" * 600)
        pkl = b"\x80\x02" + pairs + calls + b"}."
        src = torch_zip(path("copies.pt"), pkl, {"0": f32(1, 2)})
        sc, cv = self.check(src, 5, 1, "more than 100000000 container elements")
        self.assertIn("container elements", sc.stdout)

    def test_flatten_of_a_memo_dag_is_bounded(self):
        """[[[t]*4000]*500]*500 from three memoized lists (~10 KB): 250,000 lists for the graph
        check, 10^9 names with --flatten."""
        t = rebuild_v2(storage_pid("0", 2), 0, (2,), (1,))
        body = b"]q\x00(" + t + b"q\x01" + b"h\x01" * 3999 + b"e0"
        for i in (1, 2):
            body += b"]q" + bytes([i * 2]) + b"(" + (b"h" + bytes([(i - 1) * 2])) * 500 + b"e0"
        pkl = b"\x80\x02}" + s("x") + b"h\x04s."
        src = torch_zip(path("dag.pt"), b"\x80\x02" + body + pkl[2:], {"0": f32(1, 2)})
        p = run("convert", "--flatten", src, path("dag.safetensors"), "--force")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("entries to flatten", p.stderr)

    def test_many_small_values_hit_the_memory_cap(self):
        """7.5 million TUPLE1 values in 7.5 MB: the memory budget (1 GiB) names itself."""
        pkl = b"\x80\x02N" + b"\x85" * 7_500_000 + b"0}."
        src = torch_zip(path("tuples.pt"), pkl, {})
        p = run("convert", src, path("tuples.safetensors"), "--force")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("pickle values take more than 1073741824 bytes of memory", p.stderr)

    # 11 ----------------------------------------------------------------------------------------
    def test_stride_0_views_are_bounded(self):
        huge = rebuild_v2(storage_pid("0", 1), 0, (2 ** 20, 2 ** 20), (0, 0))
        src = torch_zip(path("stride0.pt"), state_dict_pickle([("w", huge)]), {"0": f32(1)})
        size = os.path.getsize(src)
        self.assertLess(size, 1000)
        _, cv = self.check(src, 0, 1, "is a view of 4398046511104 bytes over a storage of 4 bytes")
        self.assertIn("--max-view-expansion", cv.stderr)
        # 80 MiB from 4 bytes: refused by default, written with a raised limit
        big = rebuild_v2(storage_pid("0", 1), 0, (20 * 2 ** 20,), (0,))
        src = torch_zip(path("stride0_big.pt"), state_dict_pickle([("w", big)]), {"0": f32(1.5)})
        self.check(src, 0, 1, "more than 16 times its storage")
        out = path("stride0_big.safetensors")
        p = run("convert", src, out, "--force", "--max-view-expansion", 2 ** 30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(os.path.getsize(out) > 80 * 2 ** 20, True)
        os.remove(out)
        # small expansions are always fine
        small = rebuild_v2(storage_pid("0", 2), 0, (64, 2), (0, 1))
        src = torch_zip(path("stride0_small.pt"), state_dict_pickle([("w", small)]), {"0": f32(1, 2)})
        self.check(src, 0, 0, "")


if __name__ == "__main__":
    main()
