"""`inspect --group` (numbered layers collapse into one row per name pattern, dtype and shape,
with counts, layer numbers and totals; --json groups) and `completion bash|zsh|fish` (scripts
that name every command and option; the bash one completes commands and options when run)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from st_testlib import CLI, CliTestCase, main, run, tensor, write_sharded  # noqa: E402


def llama_like(layers):
    ts = [tensor("model.embed_tokens.weight", "F16", [16, 8])]
    for i in range(layers):
        ts += [tensor("model.layers.%d.mlp.down_proj.weight" % i, "F16", [8, 4]),
               tensor("model.layers.%d.input_layernorm.weight" % i, "F16", [8])]
    ts.append(tensor("model.layers.%d.extra.weight" % (layers - 1), "F32", [2]))
    return ts


class Group(CliTestCase):
    def test_group_rows(self):
        ts = llama_like(12)
        index, _ = write_sharded(self.path("m"), [ts[:13], ts[13:]])
        out = run("inspect", index, "--group", check_rc=0).stdout
        lines = {l.split()[0]: l.split() for l in out.splitlines() if l.startswith("model.")}
        self.assertEqual(lines["model.layers.#.mlp.down_proj.weight"][1:4], ["x12", "0-11", "F16"])
        self.assertEqual(lines["model.layers.#.input_layernorm.weight"][1:3], ["x12", "0-11"])
        self.assertEqual(lines["model.layers.#.extra.weight"][1:3], ["11", "F32"])  # one tensor: no count
        self.assertIn("model.embed_tokens.weight", lines)
        self.assertIn("26 tensors in 4 groups", out)
        doc = json.loads(run("inspect", index, "--group", "--json", check_rc=0).stdout)
        g = {x["pattern"]: x for x in doc["groups"]}
        down = g["model.layers.#.mlp.down_proj.weight"]
        self.assertEqual((down["count"], down["numbers"], down["shape"]), (12, list(range(12)), [8, 4]))
        self.assertEqual((down["parameters"], down["bytes"]), (12 * 32, 12 * 64))
        self.assertEqual(len(doc["tensors"]), 26)

    def test_same_pattern_other_shape_splits(self):
        ts = [tensor("h.0.w", "F32", [2]), tensor("h.1.w", "F32", [2]), tensor("h.2.w", "F32", [3])]
        index, _ = write_sharded(self.path("m"), [ts])
        doc = json.loads(run("inspect", index, "--group", "--json", check_rc=0).stdout)
        self.assertEqual([(x["pattern"], x["count"], x["numbers"]) for x in doc["groups"]],
                         [("h.#.w", 2, [0, 1]), ("h.#.w", 1, [2])])


class Completion(CliTestCase):
    COMMANDS = ["convert", "diff", "get", "hash", "inspect", "metadata", "scan", "stats", "validate"]

    def test_scripts_name_commands_and_options(self):
        for shell in ("bash", "zsh", "fish"):
            out = run("completion", shell, check_rc=0).stdout
            for c in self.COMMANDS:
                self.assertIn(c, out, (shell, c))
            for opt in ("structure-only", "tensors", "slice", "group"):
                self.assertIn(opt, out, (shell, opt))
        self.assert_exit(run("completion", "tcsh"), 2)

    def test_bash_completes(self):
        script = self.path("c.bash")
        with open(script, "w") as f:
            f.write(run("completion", "bash", check_rc=0).stdout)

        def complete(*words):
            code = ('complete() { :; }; source %s; COMP_WORDS=(safetensors-cli %s); COMP_CWORD=%d; '
                    '_safetensors_cli; printf "%%s\\n" "${COMPREPLY[@]}"') % (
                        script, " ".join("'%s'" % w for w in words), len(words))
            return subprocess.run(["bash", "-c", code], capture_output=True, text=True, check=True).stdout.split()
        self.assertEqual(complete("st"), ["stats"])
        self.assertIn("--structure-only", complete("diff", "--st"))
        self.assertEqual(complete("hash", "--te"), ["--tensors"])
        self.assertEqual(subprocess.run(["bash", "-n", script]).returncode, 0)


if __name__ == "__main__":
    main()
