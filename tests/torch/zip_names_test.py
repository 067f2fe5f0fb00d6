"""Zip entry names as torch.load finds them (docs/TORCH.md, "How torch finds the records"): its
zip reader ignores ASCII case, so a pickle stored as 'archive/DATA.PKL' is the one torch runs;
`scan` must judge it and `convert` must refuse it (exit 4). Two entries torch would take for one
record (data.pkl and DATA.PKL, data/0 and DATA/0, a name twice) are refused as ambiguous (exit
4), whatever their order. Each crafted file is also loaded by the real torch (in a child
process) to show what it does with it: the payload only touches a marker file in a temp folder,
and our commands must never create that marker."""
import io
import os
import subprocess
import sys
import tempfile
import unittest
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from torch_testlib import f32, glob, run, s, tup  # noqa: E402

TMP = tempfile.TemporaryDirectory(prefix="st-torch-zipnames-")


def benign_entries():
    """(name, bytes) of torch.save({"w": [1., 2.]}) in its own order."""
    buf = io.BytesIO()
    torch.save({"w": torch.tensor([1.0, 2.0])}, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def payload(marker):
    """A pickle that calls posix.system('touch <marker>') when torch.load runs it."""
    return b"\x80\x02" + glob("posix", "system") + tup(s("touch " + marker)) + b"R."


def write_zip(path, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in entries:
            z.writestr(zipfile.ZipInfo(name), data)
    return path


def torch_load(*paths):
    """torch.load of each file, in one child process: 'ok <repr>' or 'error <first line>' each."""
    code = ("import sys, torch\n"
            "for path in sys.argv[1:]:\n"
            "    try:\n        print('ok', repr(torch.load(path)).replace('\\n', ' '))\n"
            "    except Exception as e:\n        print('error', str(e).splitlines()[0])\n")
    p = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True, timeout=300)
    lines = p.stdout.splitlines()
    assert len(lines) == len(paths), p.stdout + p.stderr
    return lines


class ZipNamesTest(unittest.TestCase):
    def setUp(self):
        self.base = benign_entries()
        self.names = [n for n, _ in self.base]
        self.assertEqual(self.names, ["archive/data.pkl", "archive/data/0", "archive/version"])
        self.pkl = self.base[0][1]
        self.tmp = tempfile.mkdtemp(dir=TMP.name)
        self.n = 0

    def craft(self, entries):
        """Writes `entries` (data None = the payload, with its own marker); returns (path, marker)."""
        self.n += 1
        marker = os.path.join(self.tmp, "marker%d" % self.n)
        path = os.path.join(self.tmp, "crafted%d.pt" % self.n)
        write_zip(path, [(name, payload(marker) if data is None else data) for name, data in entries])
        return path, marker

    def ours(self, path, marker, scan_rc, convert_rc, needle, scan_needle=None):
        out = path + ".safetensors"
        sc = run("scan", path)
        self.assertEqual(sc.returncode, scan_rc, sc.stdout + sc.stderr)
        cv = run("convert", path, out)
        self.assertEqual(cv.returncode, convert_rc, cv.stdout + cv.stderr)
        if convert_rc:
            self.assertIn(needle, cv.stderr)
            self.assertEqual(len(cv.stderr.strip().splitlines()), 1, cv.stderr)
            self.assertFalse(os.path.exists(out))
        if scan_rc == 4:
            self.assertIn("malicious - ", sc.stdout.splitlines()[0])
            self.assertIn(scan_needle or needle, sc.stdout.splitlines()[0])
        self.assertFalse(os.path.exists(marker), "our commands must never run the payload")
        return sc, cv

    def torch_runs_payloads(self, crafted):
        """[(payload ran, torch.load result)] for each (path, marker), after our commands ran."""
        results = torch_load(*(path for path, _ in crafted))
        ran = [os.path.exists(marker) for _, marker in crafted]
        for _, marker in crafted:
            if os.path.exists(marker):
                os.remove(marker)
        return list(zip(ran, results))

    def test_upper_case_pickle_is_the_one_torch_loads(self):
        crafted = []
        for name in ("archive/DATA.PKL", "archive/Data.Pkl", "archive/data.PKL"):
            with self.subTest(name=name):
                crafted.append(self.craft([(name, None)] + self.base[1:]))
                self.ours(*crafted[-1], 4, 4, "posix.system")
        self.assertEqual(self.torch_runs_payloads(crafted), [(True, "ok 0")] * 3)

    def test_two_spellings_of_data_pkl_are_ambiguous(self):
        rest = self.base[1:]
        layouts = {
            "benign first": [("archive/data.pkl", self.pkl), ("archive/DATA.PKL", None)] + rest,
            "payload first": [("archive/DATA.PKL", None), ("archive/data.pkl", self.pkl)] + rest,
            "both last, benign first": rest + [("archive/data.pkl", self.pkl), ("archive/DATA.PKL", None)],
            "both last, payload first": rest + [("archive/DATA.PKL", None), ("archive/data.pkl", self.pkl)],
            "same name twice": [("archive/data.pkl", self.pkl), ("archive/data.pkl", None)] + rest,
            "folder in another case": [("archive/data.pkl", self.pkl)] + rest + [("ARCHIVE/data.pkl", None)],
        }
        crafted = []
        for label, entries in layouts.items():
            with self.subTest(layout=label):
                crafted.append(self.craft(entries))
                self.ours(*crafted[-1], 4, 4, "ambiguous zip")
        # torch picks one by its sorted lookup, not by one fixed rule: the order decides
        torch_ran = dict(zip(layouts, (ran for ran, _ in self.torch_runs_payloads(crafted))))
        self.assertTrue(any(torch_ran.values()), torch_ran)
        self.assertFalse(all(torch_ran.values()), torch_ran)

    def test_two_spellings_of_a_storage_record_are_ambiguous(self):
        data, other = f32(1, 2), f32(666, 666)
        for pair in ((("archive/data/0", data), ("archive/DATA/0", other)),
                     (("archive/DATA/0", other), ("archive/data/0", data))):
            with self.subTest(first=pair[0][0]):
                path, marker = self.craft([("archive/data.pkl", self.pkl), *pair, ("archive/version", b"3\n")])
                self.ours(path, marker, 4, 4, "ambiguous zip")

    def test_records_are_found_in_any_case(self):
        """What torch loads, we convert: data/0 and version are found in any case."""
        entries = [(n.replace("data/0", "DATA/0").replace("version", "VERSION"), d) for n, d in self.base]
        path, marker = self.craft(entries)
        self.assertEqual(torch_load(path), ["ok {'w': tensor([1., 2.])}"])
        self.ours(path, marker, 0, 0, "")
        out = path + ".safetensors"
        listing = run("inspect", "--json", out)
        self.assertEqual(listing.returncode, 0, listing.stderr)
        self.assertIn('"name":"w","dtype":"F32","shape":[2]', listing.stdout)

    def test_pickle_outside_the_archive_folder(self):
        """torch.load refuses an entry outside the first entry's folder (case-sensitive); we refuse
        to convert it too, and scan still judges its pickle."""
        crafted = []
        for name in ("data.PKL", "other/data.pkl"):
            with self.subTest(name=name):
                crafted.append(self.craft(self.base + [(name, None)]))
                self.ours(*crafted[-1], 4, 1, "different folders", "dangerous global 'posix.system'")
        for ran, result in self.torch_runs_payloads(crafted):
            self.assertFalse(ran)
            self.assertTrue(result.startswith("error ") and "not in a subdirectory" in result, result)

    def test_unrelated_names_in_two_cases_are_refused_too(self):
        path, marker = self.craft(self.base + [("archive/extra", b"a"), ("archive/EXTRA", b"b")])
        self.ours(path, marker, 4, 4, "entries 'archive/extra' and 'archive/EXTRA'")


if __name__ == "__main__":
    unittest.main()
