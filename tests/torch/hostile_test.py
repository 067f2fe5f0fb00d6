"""Hostile and broken checkpoints: each is refused with a clear message and the right exit code
(1 invalid, 4 malicious, 5 unsupported), writes no output, and never runs its payload (the
marker file a payload would create must not exist)."""
import io
import json
import os
import struct
import sys
import tarfile
import tempfile
import unittest
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
import torch  # noqa: E402
from st_testlib import f32, run  # noqa: E402
from torch_testlib import (glob, k, rebuild_v2, s, state_dict_pickle,  # noqa: E402
                           storage_pid, torch_zip, tup)

TMP = tempfile.TemporaryDirectory(prefix="st-torch-hostile-")
MARKER = os.path.join(TMP.name, "PWNED")


def path(name):
    return os.path.join(TMP.name, name)


class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


class EvilEval(dict):
    def __reduce__(self):
        return (eval, (f"__import__('os').system('touch {MARKER}')",))


def tensor_entry(key="0", numel=2, size=(2,), stride=(1,)):
    return rebuild_v2(storage_pid(key, numel), 0, size, stride)


class HostileTest(unittest.TestCase):
    def refused(self, src, rc, needle):
        out = path("out.safetensors")
        p = run("convert", src, out, "--force")
        self.assertEqual(p.returncode, rc, f"{src}: {p.stdout}{p.stderr}")
        self.assertIn(needle, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertFalse(os.path.exists(out), "no output may be written")
        self.assertFalse(os.path.exists(MARKER), "the payload must never run")
        return p

    def scanned(self, src, rc, needle):
        p = run("scan", src)
        self.assertEqual(p.returncode, rc, p.stdout + p.stderr)
        self.assertIn(needle, p.stdout)
        self.assertFalse(os.path.exists(MARKER))

    def test_reduce_to_os_system_zip_legacy_proto4(self):
        obj = {"w": torch.ones(2), "evil": Evil()}
        for name, kw in (("mal_zip.pt", {}), ("mal_legacy.pt", {"_use_new_zipfile_serialization": False}),
                         ("mal_proto4.pt", {"pickle_protocol": 4})):
            torch.save(obj, path(name), **kw)
            self.refused(path(name), 4, "posix.system")
            self.scanned(path(name), 4, "posix.system (malicious)")

    def test_scan_json_lists_globals_and_verdicts(self):
        torch.save({"w": torch.ones(2)}, path("safe.pt"))
        torch.save({"w": torch.ones(2), "evil": Evil()}, path("scan_evil.pt"), _use_new_zipfile_serialization=False)
        p = run("scan", "--json", path("safe.pt"), path("scan_evil.pt"))
        self.assertEqual(p.returncode, 4, p.stderr)
        reports = json.loads(p.stdout)
        self.assertEqual([r["verdict"] for r in reports], ["safe", "malicious"])
        self.assertEqual(reports[0]["format"], "zip")
        self.assertEqual(reports[1]["format"], "legacy")
        self.assertIn({"name": "posix.system", "verdict": "malicious"}, reports[1]["globals"])
        self.assertIn({"name": "torch._utils._rebuild_tensor_v2", "verdict": "safe"}, reports[0]["globals"])
        self.assertEqual(reports[0]["persistent_ids"], ["storage"])
        self.assertEqual(run("scan", path("safe.pt")).returncode, 0)
        self.assertEqual(run("scan", path("does_not_exist.pt")).returncode, 3)
        self.assertFalse(os.path.exists(MARKER))

    def test_eval_and_raw_pickle_and_inst(self):
        torch.save({"w": torch.ones(2), "e": EvilEval()}, path("mal_eval.pt"))
        self.refused(path("mal_eval.pt"), 4, "builtins.eval")
        with open(path("mal_raw.pkl"), "wb") as f:
            f.write(b"\x80\x02" + glob("posix", "system") + tup(s("touch " + MARKER)) + b"R.")
        self.refused(path("mal_raw.pkl"), 4, "posix.system")
        with open(path("mal_inst.pkl"), "wb") as f:
            f.write(b"\x80\x02(" + s("touch " + MARKER) + b"ios\nsystem\n.")
        self.refused(path("mal_inst.pkl"), 4, "os.system")

    def test_stack_global_through_memo(self):
        pkl = (b"\x80\x04" + s("os") + b"\x94" + s("system") + b"\x94" + b"00" + b"h\x00h\x01\x93" +
               tup(s("touch " + MARKER)) + b"R.")
        torch_zip(path("mal_stack_global.pt"), pkl, {})
        self.refused(path("mal_stack_global.pt"), 4, "os.system")
        self.scanned(path("mal_stack_global.pt"), 4, "os.system (malicious)")

    def test_pickled_module_and_torchscript(self):
        m = torch.nn.Sequential(torch.nn.Linear(2, 2))
        torch.save(m, path("module.pt"))
        self.refused(path("module.pt"), 5, "torch.nn.modules.container.Sequential")
        self.scanned(path("module.pt"), 5, "unsupported")
        torch.jit.save(torch.jit.script(m), path("script.pt"))
        self.refused(path("script.pt"), 5, "TorchScript")
        self.scanned(path("script.pt"), 5, "format: torchscript")

    def test_tar_and_garbage(self):
        with tarfile.open(path("old.tar"), "w") as t:
            info = tarfile.TarInfo("sys_info")
            info.size = 3
            t.addfile(info, io.BytesIO(b"abc"))
        self.refused(path("old.tar"), 5, "tar-format")
        with open(path("garbage.bin"), "wb") as f:
            f.write(b"hello world, not a checkpoint")
        self.refused(path("garbage.bin"), 1, "not a torch checkpoint")

    def test_deflated_zip_bomb(self):
        numel = 50_000_000 // 4
        pkl = state_dict_pickle([("w", rebuild_v2(storage_pid("0", numel), 0, (numel,), (1,)))])
        torch_zip(path("bomb.pt"), pkl, {"0": bytes(numel * 4)}, compress=("0",))
        self.assertLess(os.path.getsize(path("bomb.pt")), 200_000)
        self.refused(path("bomb.pt"), 5, "compressed")

    def test_record_shorter_than_storage(self):
        pkl = state_dict_pickle([("w", rebuild_v2(storage_pid("0", 12), 0, (3, 4), (4, 1)))])
        torch_zip(path("short.pt"), pkl, {"0": f32(1, 2)})
        self.refused(path("short.pt"), 1, "holds 8 bytes, its storage needs 48")

    def test_missing_record_and_version(self):
        pkl = state_dict_pickle([("w", tensor_entry())])
        torch_zip(path("missing.pt"), pkl, {})
        self.refused(path("missing.pt"), 1, "has no record archive/data/0")
        with zipfile.ZipFile(path("noversion.pt"), "w") as z:
            z.writestr("archive/data.pkl", pkl)
            z.writestr("archive/data/0", f32(1, 2))
        self.refused(path("noversion.pt"), 1, "no version record")

    def test_view_out_of_bounds(self):
        pkl = state_dict_pickle([("w", rebuild_v2(storage_pid("0", 4), 1, (2, 2), (2, 1)))])
        torch_zip(path("oob.pt"), pkl, {"0": f32(1, 2, 3, 4)})
        self.refused(path("oob.pt"), 1, "reaches past storage '0'")

    def test_setitem_on_tensor(self):
        pkl = (b"\x80\x02}" + s("w") + tensor_entry() + b"q\x09s" + b"h\x09" + k(0) + b"G" + struct.pack(">d", 7.0) +
               b"s0.")
        torch_zip(path("setitem.pt"), pkl, {"0": f32(1, 2)})
        self.refused(path("setitem.pt"), 1, "SETITEM on a tensor")

    def test_memo_expansion_bomb(self):
        body = b"]q\x000"
        for i in range(1, 41):  # list i = [list i-1, list i-1]: 2**40 paths, 41 objects
            body += b"](h" + bytes([i - 1]) + b"h" + bytes([i - 1]) + b"eq" + bytes([i]) + b"0"
        body += b"h" + bytes([40])
        pkl = b"\x80\x02}" + s("w") + tensor_entry() + b"s" + s("bomb") + body + b"s."
        torch_zip(path("memo_bomb.pt"), pkl, {"0": f32(1, 2)})
        self.refused(path("memo_bomb.pt"), 1, "memo-expansion")

    def test_self_referencing_dict(self):
        pkl = b"\x80\x02}q\x00" + s("self") + b"h\x00s" + s("w") + tensor_entry() + b"s."
        torch_zip(path("cycle.pt"), pkl, {"0": f32(1, 2)})
        self.refused(path("cycle.pt"), 1, "cycle")

    def test_huge_string_length(self):
        pkl = b"\x80\x02X" + struct.pack("<I", 0x7fffffff) + b"abc"
        torch_zip(path("huge_string.pt"), pkl, {})
        self.assertLess(os.path.getsize(path("huge_string.pt")), 1000)
        self.refused(path("huge_string.pt"), 1, "exceeds the 3 bytes left")

    def test_truncated_files(self):
        """Every 5th cut through the CLI (every byte is covered in-process by torch_container_test)."""
        sd = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.ones(2)}
        for name, kw in (("trunc_legacy.pt", {"_use_new_zipfile_serialization": False}), ("trunc_zip.pt", {})):
            torch.save(sd, path(name), **kw)
            with open(path(name), "rb") as f:
                data = f.read()
            cut = path("cut.pt")
            for n in range(0, len(data), 5):
                with open(cut, "wb") as f:
                    f.write(data[:n])
                p = run("convert", cut, path("cut.safetensors"), "--force", "--quiet")
                self.assertIn(p.returncode, (1, 5), f"{name} cut at {n}: {p.returncode} {p.stderr}")
                self.assertTrue(p.stderr.startswith("error: "), p.stderr)
                self.assertFalse(os.path.exists(path("cut.safetensors")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
