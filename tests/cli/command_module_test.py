"""safetensors-cli is one static executable (SAFETENSORS_CLI_STATIC, the default; otherwise it links
the core and torch layers statically) and hands the model/server commands (classify, tokenize,
serve), hash, the command list and URL inputs to safetensors-cli-full, which loads the module
safetensors-cli-model.so only when they are asked for: the executable itself links neither oneDNN,
OpenMP, the HTTP/TLS stack nor our shared libraries, the core commands never map them, the output
and exit codes are the full CLI's, and without safetensors-cli-full or its module the commands it
provides fail with one clear line while the rest keeps working."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from st_testlib import CLI, REAL_SAFETENSORS, CliTestCase, main  # noqa: E402

HEAVY = ("libdnnl", "libgomp", "libssl", "libcrypto", "libcpp-httplib", "libsafetensors_model",
         "libsafetensors_server")
SAMPLE = os.path.join(REAL_SAFETENSORS, "zig_ml_test.safetensors")
FULL_CLI = os.path.join(os.path.dirname(CLI), "safetensors-cli-full")


def static_build():
    """SAFETENSORS_CLI_STATIC of the build under test (its CMake cache)."""
    with open(os.path.join(os.environ["SAFETENSORS_BINARY_DIR"], "CMakeCache.txt")) as f:
        return "SAFETENSORS_CLI_STATIC:BOOL=ON\n" in f.read()


def loaded_libraries(cli, *args):
    """The shared objects the process had mapped when it exited (LD_DEBUG=files lists each load)."""
    p = subprocess.run([cli, *args], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, LD_DEBUG="files"))
    return p, [line for line in p.stderr.splitlines() if "calling init:" in line]


class CommandModule(CliTestCase):
    def test_executable_links_no_heavy_library(self):
        if static_build():  # no program interpreter, no shared object at all
            segments = subprocess.run(["readelf", "-lW", CLI], capture_output=True, text=True, check=True).stdout
            self.assertNotIn("INTERP", segments)
            dynamic = subprocess.run(["readelf", "-dW", CLI], capture_output=True, text=True, check=True).stdout
            self.assertNotIn("NEEDED", dynamic)
            return
        out = subprocess.run(["ldd", CLI], capture_output=True, text=True, check=True).stdout
        for lib in HEAVY:
            self.assertNotIn(lib, out, f"safetensors-cli links {lib}")
        self.assertNotIn("libsafetensors", out, "safetensors-cli links the layers statically")

    def test_core_commands_do_not_load_the_module(self):
        for args in (["inspect", SAMPLE], ["validate", SAMPLE], ["--version"], ["inspect", "--help"]):
            p, inits = loaded_libraries(CLI, *args)
            self.assertEqual(p.returncode, 0, (args, p.stderr[-2000:]))
            for lib in HEAVY + ("safetensors-cli-model", "libsafetensors.so"):
                self.assertFalse([i for i in inits if lib in i], f"{args} loaded {lib}")

    def test_dispatch_does_not_change_the_output(self):
        missing = self.path("missing.safetensors")
        for args in (["--help"], ["inspect", "--help"], ["classify", "--help"], ["inspect", SAMPLE],
                     ["no-such-command"], [], ["--version"], ["inspect"], ["inspect", missing],
                     ["validate", SAMPLE, "--no-such-option"], ["hash", SAMPLE], ["hash", "--help"],
                     ["completion", "bash"]):
            lean = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60)
            full = subprocess.run([FULL_CLI, *args], capture_output=True, text=True, timeout=60)
            self.assertEqual(lean.returncode, full.returncode, args)
            self.assertEqual(lean.stdout.replace(CLI, "CLI"), full.stdout.replace(FULL_CLI, "CLI"), args)
            self.assertEqual(lean.stderr.replace(CLI, "CLI"), full.stderr.replace(FULL_CLI, "CLI"), args)

    def test_model_commands_and_help_load_it(self):
        p, inits = loaded_libraries(CLI, "tokenize", "--help")
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertTrue([i for i in inits if "safetensors-cli-model" in i])
        self.assertIn("--max-length", p.stdout)
        top = subprocess.run([CLI, "--help"], capture_output=True, text=True, timeout=60)
        self.assertEqual(top.returncode, 0)
        for name in ("classify", "convert", "inspect", "scan", "serve", "tokenize", "validate"):
            self.assertRegex(top.stdout, rf"\n  {name} ")

    def assert_only_core_commands(self, cli, missing):
        """classify fails with one line naming what is missing; inspect and the help still work."""
        p = subprocess.run([cli, "classify", "--model", self.tmp, "text"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 5, p.stderr)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertRegex(lines[0], r"^error: classify: the model commands are not available: " + missing)
        ok = subprocess.run([cli, "inspect", SAMPLE], capture_output=True, text=True, timeout=60)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        top = subprocess.run([cli, "--help"], capture_output=True, text=True, timeout=60)
        self.assertEqual(top.returncode, 0)
        self.assertIn("inspect", top.stdout)
        self.assertNotIn("classify", top.stdout)

    def test_without_the_full_cli(self):
        alone = self.path("bin")
        os.mkdir(alone)
        cli = shutil.copy(CLI, alone)
        self.assert_only_core_commands(cli, r"safetensors-cli-full not found")
        url = subprocess.run([cli, "inspect", "http://127.0.0.1:9/x.safetensors"], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(url.returncode, 5, url.stderr)
        self.assertRegex(url.stderr.strip(), r"^error: .*remote access is not available: "
                                             r"safetensors-cli-full not found[^\n]*$")
        digest = subprocess.run([cli, "hash", SAMPLE], capture_output=True, text=True, timeout=60)
        self.assertEqual(digest.returncode, 5, digest.stderr)
        self.assertRegex(digest.stderr.strip(), r"^error: hash: not available: "
                                                r"safetensors-cli-full not found[^\n]*$")

    def test_without_the_module(self):
        alone = self.path("bin")
        os.mkdir(alone)
        cli = shutil.copy(CLI, alone)
        shutil.copy(FULL_CLI, alone)  # the build tree's RPATH still finds the core libraries
        self.assert_only_core_commands(cli, r"safetensors-cli-model\.so not found")

    def test_a_broken_full_cli_or_module_is_reported(self):
        alone = self.path("bin2")
        os.mkdir(alone)
        cli = shutil.copy(CLI, alone)
        broken = os.path.join(alone, "safetensors-cli-full")
        with open(broken, "wb") as f:
            f.write(b"not an ELF file")
        os.chmod(broken, 0o755)
        p = subprocess.run([cli, "serve", "--help"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertIn("safetensors-cli-full", p.stderr)
        shutil.copy(FULL_CLI, alone)
        with open(os.path.join(alone, "safetensors-cli-model.so"), "wb") as f:
            f.write(b"not an ELF file")
        p = subprocess.run([cli, "serve", "--help"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertIn("safetensors-cli-model.so", p.stderr)


if __name__ == "__main__":
    main()
