"""`safetensors-cli classify` behaviour: inputs (arguments, --file, stdin), output shapes
(table, --json, --top-k, --function, --raw-scores), the truncation note, and exit codes for a
bad folder and bad options. The model is a tiny random DistilBERT written at run time."""
import json
import math
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
import st_testlib  # noqa: E402
from logits_parity_test import make_folder, make_state_dict  # noqa: E402

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)


def run(args, stdin=None):
    r = st_testlib.run("classify", *args, input=stdin, timeout=600)
    return r.returncode, r.stdout, r.stderr


def main():
    root = tempfile.mkdtemp(prefix="st_classify_cli_")
    try:
        cfg = {"dim": 32, "n_heads": 4, "n_layers": 1, "hidden_dim": 64, "vocab_size": 30522,
               "max_position_embeddings": 64, "id2label": ["NEG", "NEU", "POS"]}
        model = make_folder(root, "m", cfg, make_state_dict(cfg, 5), "f32")
        texts = ["a fine film", "a dull film"]

        rc, out, err = run(["--model", model, "--json", "--top-k", "0", "--raw-scores"] + texts)
        check(rc == 0, f"raw scores rc {rc}: {err}")
        raw = [json.loads(l) for l in out.splitlines()]
        check(len(raw) == 2 and all(len(r) == 3 for r in raw), f"raw shape {out}")

        rc, out, _ = run(["--model", model, "--json"] + texts)
        top = [json.loads(l) for l in out.splitlines()]
        for t, r in zip(top, raw):
            logits = [e["score"] for e in r]
            z = sum(math.exp(x - max(logits)) for x in logits)
            check(len(t) == 1 and t[0]["label"] == r[0]["label"], f"default top label {t} vs {r}")
            check(abs(t[0]["score"] - 1 / z) < 1e-6, f"default softmax score {t} vs {r}")

        rc, out, _ = run(["--model", model, "--json", "--top-k", "2", "--function", "sigmoid"] + texts)
        sig = [json.loads(l) for l in out.splitlines()]
        for s, r in zip(sig, raw):
            check(len(s) == 2, f"--top-k 2 gave {s}")
            check(abs(s[0]["score"] - 1 / (1 + math.exp(-r[0]["score"]))) < 1e-6, f"sigmoid {s} vs {r}")

        path = os.path.join(root, "inputs.txt")
        with open(path, "w") as f:
            f.write("\n".join(texts) + "\n")
        rc_file, out_file, _ = run(["--model", model, "--json", "--file", path])
        rc_stdin, out_stdin, _ = run(["--model", model, "--json"], "\n".join(texts) + "\n")
        check(rc_file == 0 and rc_stdin == 0 and out_file == out_stdin == "\n".join(
            json.dumps(t, separators=(",", ":")) for t in top) + "\n", f"file/stdin inputs: {out_file!r} {out_stdin!r}")

        rc, out, _ = run(["--model", model] + texts)
        lines = out.splitlines()
        check(rc == 0 and lines[0].split() == ["#", "text", "label", "score"] and len(lines) == 4,
              f"table output: {out!r}")
        check("a fine film" in lines[2] and top[0][0]["label"] in lines[2], f"table row: {lines[2]!r}")

        long_text = "film " * 200
        rc, out, err = run(["--model", model, "--json", long_text, "short"])
        check(rc == 0 and "1 of 2 inputs were truncated" in err, f"truncation note: rc {rc} {err!r}")
        rc, out, err = run(["--model", model, "--no-truncation", long_text])
        check(rc == 2 and "at most 64" in err, f"--no-truncation: rc {rc} {err!r}")
        rc, out, err = run(["--model", model, "--max-length", "8", "--json", long_text])
        check(rc == 0 and "truncated" in err, f"--max-length: rc {rc} {err!r}")

        rc, out, err = run(["--model", model, "--function", "tanh", "x"])
        check(rc == 2 and "--function tanh" in err, f"bad --function: rc {rc} {err!r}")
        rc, out, err = run(["--model", os.path.join(root, "missing"), "x"])
        check(rc == 3 and "config.json" in err, f"missing folder: rc {rc} {err!r}")
        with open(os.path.join(model, "config.json"), "w") as f:
            f.write('{"model_type": "bert"}')
        rc, out, err = run(["--model", model, "x"])
        check(rc == 1 and "model_type" in err and err.count("\n") == 1, f"bad model_type: rc {rc} {err!r}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print("classify CLI: all checks passed")


if __name__ == "__main__":
    main()
