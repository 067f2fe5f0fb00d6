"""`convert` under faults: a SIGKILL part-way through the output leaves the old target and only
a temp file that names its writer (`.<target>.safetensors-cpp.<pid>.<n>-<random>.tmp`), which the
next run removes; a full disk (a 1 MiB tmpfs, when running as root) is a one-line error naming
the target, exit 3, the old target intact and no temp file left."""
import glob
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from st_testlib import CLI, write_safetensors  # noqa: E402

OLD = b"old target: must survive"


def write_sparse_f32(path, tensors, size):
    """A safetensors file of `tensors` F32 tensors of `size` floats each, all zeros (sparse)."""
    header, offset = {}, 0
    for i in range(tensors):
        header[f"t{i:03d}"] = {"dtype": "F32", "shape": [size], "data_offsets": [offset, offset + 4 * size]}
        offset += 4 * size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((-(8 + len(text))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        f.truncate(8 + len(text) + offset)


def temp_files(folder, target):
    return glob.glob(os.path.join(folder, f".{target}.safetensors-cpp.*.tmp"))


class ConvertFaults(unittest.TestCase):
    def setUp(self):
        self.assertTrue(CLI, "SAFETENSORS_CLI is not set")
        self.dir = tempfile.mkdtemp(prefix="st-convert-faults-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)

    def test_sigkill_leaves_the_old_target_and_the_next_run_cleans_up(self):
        src = os.path.join(self.dir, "big.safetensors")
        out = os.path.join(self.dir, "out.safetensors")
        write_sparse_f32(src, 32, 4 << 20)  # 512 MiB of F32 zeros (sparse) -> 256 MiB of F16
        with open(out, "wb") as f:
            f.write(OLD)
        proc = subprocess.Popen([CLI, "convert", src, out, "--force", "--no-verify", "-q", "--dtype", "f16"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        seen, deadline = [], time.monotonic() + 60
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                temps = temp_files(self.dir, "out.safetensors")
                if len(temps) == 1:
                    try:
                        size = os.path.getsize(temps[0])
                    except FileNotFoundError:
                        continue
                    if size > 0 and (not seen or size > seen[-1]):
                        seen.append(size)
                    if len(seen) >= 2:
                        break  # the temp file appeared and grows: kill the writer now
                time.sleep(0.002)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
        self.assertEqual(proc.returncode, -signal.SIGKILL,
                         f"convert finished before it could be killed (temp sizes seen: {seen[:8]})")
        with open(out, "rb") as f:
            self.assertEqual(f.read(), OLD)
        temps = temp_files(self.dir, "out.safetensors")
        self.assertEqual(len(temps), 1, os.listdir(self.dir))
        name = os.path.basename(temps[0])
        self.assertRegex(name, r"^\.out\.safetensors\.safetensors-cpp\.%d\.\d+-[0-9a-f]+\.tmp$" % proc.pid)
        self.assertGreater(os.path.getsize(temps[0]), 0)
        # A file named like ours for another target, and one of a live writer (this process),
        # stay.
        other = os.path.join(self.dir, f".other.safetensors.safetensors-cpp.{proc.pid}.0-1.tmp")
        live = os.path.join(self.dir, f".out.safetensors.safetensors-cpp.{os.getpid()}.0-1.tmp")
        for path in (other, live):
            with open(path, "wb") as f:
                f.write(b"x")

        small = write_safetensors(os.path.join(self.dir, "small.safetensors"),
                                  [("w", "F32", [2], struct.pack("<2f", 1.5, -2.0))])
        r = subprocess.run([CLI, "convert", small, out, "--force", "-q"], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(temps[0]), "the dead writer's temp file was not removed")
        self.assertTrue(os.path.exists(other) and os.path.exists(live), os.listdir(self.dir))
        with open(out, "rb") as f:
            self.assertEqual(f.read(), open(small, "rb").read())

    def test_full_disk_is_one_line_exit_3_and_keeps_the_old_target(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to mount a 1 MiB tmpfs (full-disk test skipped)")
        disk = os.path.join(self.dir, "disk")
        os.mkdir(disk)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", disk], capture_output=True, text=True)
        if mounted.returncode != 0:
            self.skipTest(f"cannot mount a tmpfs here (full-disk test skipped): {mounted.stderr.strip()}")
        self.addCleanup(subprocess.run, ["umount", disk], capture_output=True)
        src = os.path.join(self.dir, "in.safetensors")
        data = bytes(range(256)) * (4 << 12)  # 4 MiB, larger than the tmpfs
        write_safetensors(src, [("w", "U8", [len(data)], data)])
        out = os.path.join(disk, "model.safetensors")
        with open(out, "wb") as f:
            f.write(OLD)
        r = subprocess.run([CLI, "convert", src, out, "--force", "-q"], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 3, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(out, lines[0])
        self.assertIn("No space left on device", lines[0])
        with open(out, "rb") as f:
            self.assertEqual(f.read(), OLD)
        self.assertEqual(os.listdir(disk), ["model.safetensors"])


if __name__ == "__main__":
    unittest.main()
