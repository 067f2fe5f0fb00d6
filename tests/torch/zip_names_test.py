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
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
import torch  # noqa: E402
from st_testlib import f32, run  # noqa: E402
from torch_testlib import glob, s, tup  # noqa: E402

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


def cases(base):
    """label -> zip entries (data None: the payload) of every crafted layout."""
    pkl, rest = base[0][1], base[1:]
    out = {"upper %s" % n: [(n, None)] + rest for n in ("archive/DATA.PKL", "archive/Data.Pkl", "archive/data.PKL")}
    out.update({
        "benign first": [("archive/data.pkl", pkl), ("archive/DATA.PKL", None)] + rest,
        "payload first": [("archive/DATA.PKL", None), ("archive/data.pkl", pkl)] + rest,
        "both last, benign first": rest + [("archive/data.pkl", pkl), ("archive/DATA.PKL", None)],
        "both last, payload first": rest + [("archive/DATA.PKL", None), ("archive/data.pkl", pkl)],
        "same name twice": [("archive/data.pkl", pkl), ("archive/data.pkl", None)] + rest,
        "folder in another case": [("archive/data.pkl", pkl)] + rest + [("ARCHIVE/data.pkl", None)],
        "records in another case": [(n.replace("data/0", "DATA/0").replace("version", "VERSION"), d) for n, d in base],
        "outside data.PKL": base + [("data.PKL", None)],
        "outside other/data.pkl": base + [("other/data.pkl", None)],
    })
    return out


AMBIGUOUS = ["benign first", "payload first", "both last, benign first", "both last, payload first",
             "same name twice", "folder in another case"]


class ZipNamesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        """Every layout loaded once by the real torch (its own copies and markers)."""
        cls.base = benign_entries()
        cls.cases = cases(cls.base)
        folder = tempfile.mkdtemp(dir=TMP.name)
        crafted = {}
        for i, (label, entries) in enumerate(cls.cases.items()):
            marker = os.path.join(folder, "torch_marker%d" % i)
            crafted[label] = (write_zip(os.path.join(folder, "torch%d.pt" % i),
                                        [(n, payload(marker) if d is None else d) for n, d in entries]), marker)
        results = torch_load(*(path for path, _ in crafted.values()))
        cls.torch = {label: (os.path.exists(marker), result)
                     for (label, (_, marker)), result in zip(crafted.items(), results)}

    def setUp(self):
        self.assertEqual([n for n, _ in self.base], ["archive/data.pkl", "archive/data/0", "archive/version"])
        self.tmp = tempfile.mkdtemp(dir=TMP.name)

    def craft(self, label):
        """Our copy of a layout (a label of `cases`, or entries), with its own marker: (path, marker)."""
        entries = self.cases[label] if isinstance(label, str) else label
        marker = os.path.join(self.tmp, "marker")
        path = os.path.join(self.tmp, "crafted.pt")
        write_zip(path, [(name, payload(marker) if data is None else data) for name, data in entries])
        return path, marker

    def ours(self, label, scan_rc, convert_rc, needle, scan_needle=None):
        """Runs scan and convert on our copy of `label` and checks their exit codes and messages."""
        path, marker = self.craft(label)
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
        return out

    def test_upper_case_pickle_is_the_one_torch_loads(self):
        for label in [c for c in self.cases if c.startswith("upper ")]:
            with self.subTest(label):
                self.ours(label, 4, 4, "posix.system")
                self.assertEqual(self.torch[label], (True, "ok 0"))

    def test_two_spellings_of_data_pkl_are_ambiguous(self):
        for label in AMBIGUOUS:
            with self.subTest(label):
                self.ours(label, 4, 4, "ambiguous zip")
        # torch picks one by its sorted lookup, not by one fixed rule: the order decides
        ran = {label: self.torch[label][0] for label in AMBIGUOUS}
        self.assertTrue(any(ran.values()), ran)
        self.assertFalse(all(ran.values()), ran)

    def test_two_spellings_of_a_storage_record_are_ambiguous(self):
        data, other = f32(1, 2), f32(666, 666)
        for pair in ((("archive/data/0", data), ("archive/DATA/0", other)),
                     (("archive/DATA/0", other), ("archive/data/0", data))):
            with self.subTest(first=pair[0][0]):
                self.ours([("archive/data.pkl", self.base[0][1]), *pair, ("archive/version", b"3\n")], 4, 4, "ambiguous zip")

    def test_records_are_found_in_any_case(self):
        """What torch loads, we convert: data/0 and version are found in any case."""
        self.assertEqual(self.torch["records in another case"], (False, "ok {'w': tensor([1., 2.])}"))
        out = self.ours("records in another case", 0, 0, "")
        listing = run("inspect", "--json", out)
        self.assertEqual(listing.returncode, 0, listing.stderr)
        self.assertIn('"name":"w","dtype":"F32","shape":[2]', listing.stdout)

    def test_pickle_outside_the_archive_folder(self):
        """torch.load refuses an entry outside the first entry's folder (case-sensitive); we refuse
        to convert it too, and scan still judges its pickle."""
        for label in ("outside data.PKL", "outside other/data.pkl"):
            with self.subTest(label):
                self.ours(label, 4, 1, "different folders", "dangerous global 'posix.system'")
                ran, result = self.torch[label]
                self.assertFalse(ran)
                self.assertTrue(result.startswith("error ") and "not in a subdirectory" in result, result)

    def test_unrelated_names_in_two_cases_are_refused_too(self):
        self.ours(self.base + [("archive/extra", b"a"), ("archive/EXTRA", b"b")], 4, 4,
                  "entries 'archive/extra' and 'archive/EXTRA'")

    def test_inspect_refuses_an_ambiguous_zip(self):
        path, marker = self.craft("benign first")
        p = run("inspect", path)
        self.assertEqual(p.returncode, 4, p.stdout + p.stderr)
        self.assertIn("ambiguous zip", p.stderr)
        self.assertFalse(os.path.exists(marker))


if __name__ == "__main__":
    unittest.main()
