"""Accuracy of `classify --precision bf16|int8` against fp32 (docs/MODEL.md "Precision").

For the example model (examples/distilbert-imdb, 48 IMDB reviews from tests/data) and a
DistilBERT-base-shaped random model (768/12/6/3072, vocab cut to 1000; random ids, lengths up
to 512), the max |logit difference| of each mode to our fp32 logits must stay under the mode's
bound (BOUNDS). The int8 peer is torch.quantization.quantize_dynamic({nn.Linear}, qint8) of the
same forward on the same ids: our int8 must be at least as close to fp32 as torch's is. A
folder with BF16 weights must run in bf16 mode with its linear weights and embedding tables
used in place (only the F32-needing vectors converted), and agree with the fp32 run of the same
folder within the bf16 bound. On CPUs without the mode's instructions (simulated with oneDNN's
ONEDNN_MAX_CPU_ISA: AVX2, no BF16/VNNI; AVX512_CORE, no BF16/VNNI) each mode must still run,
within the same bounds, and `--verbose` must name the capped ISA.
"""
import json
import os
import shutil
import sys
import tempfile

os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")  # Debian OpenBLAS misdetects this CPU
import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from logits_parity_test import (make_state_dict, make_folder, random_inputs, reference_all,  # noqa: E402
                                our_logits, run_cli, write_config, write_tokenizer)
import st_testlib  # noqa: E402  (tests/support is on the path through logits_parity_test)
import testdata  # noqa: E402

# Max |logit - fp32 logit| per mode. Measured on AMD EPYC Zen 5 (avx512_core_bf16): example model
# (logits up to 2.7) bf16 0.005, int8 0.013 (torch's quantize_dynamic 0.026); base-shaped model
# (logits up to 2.1) bf16 0.011, int8 0.087 (torch 0.169).
BOUNDS = {"bf16": 0.05, "int8": 0.15}
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)


def max_diff(a, b):
    return float(np.abs(np.array(a, dtype=np.float64) - np.array(b, dtype=np.float64)).max())


def torch_int8_linear(sd):
    """F.linear replacement running torch's dynamically quantized nn.Linear for each prefix."""
    prefixes = sorted({k[:-len(".weight")] for k in sd if k.endswith(".weight") and sd[k].dim() == 2
                       and "embeddings" not in k})
    mods = torch.nn.ModuleDict()
    for p in prefixes:
        w = sd[p + ".weight"].float()
        m = torch.nn.Linear(w.shape[1], w.shape[0])
        m.weight.data.copy_(w)
        m.bias.data.copy_(sd[p + ".bias"].float())
        mods[p.replace(".", "/")] = m
    if "fbgemm" in torch.backends.quantized.supported_engines:  # x86's usual engine
        torch.backends.quantized.engine = "fbgemm"
    q = torch.quantization.quantize_dynamic(mods, {torch.nn.Linear}, dtype=torch.qint8)
    return lambda x, p: q[p.replace(".", "/")](x)


def compare_modes(tag, folder, cfg, sd, inputs, extra=()):
    fp32 = our_logits(folder, cfg, inputs, extra)
    check(max_diff(fp32, reference_all(sd, cfg, inputs, 3)) < 1e-4, f"{tag}: fp32 differs from torch")
    check(float(np.abs(np.array(fp32)).max()) > 0.1, f"{tag}: logits too small to be a meaningful check")
    diffs = {}
    for mode, bound in BOUNDS.items():
        got = our_logits(folder, cfg, inputs, [*extra, "--precision", mode])
        diffs[mode] = max_diff(got, fp32)
        print(f"{tag}: {mode} max |logit diff| to fp32 {diffs[mode]:.4f} (bound {bound}), "
              f"max |logit| {float(np.abs(np.array(fp32)).max()):.3f}")
        check(diffs[mode] < bound, f"{tag}: {mode} max diff {diffs[mode]:.4f} >= {bound}")
        check(diffs[mode] > 0, f"{tag}: {mode} gives exactly the fp32 logits (mode not applied?)")
    torch_q = reference_all(sd, cfg, inputs, 3, torch_int8_linear(sd))
    torch_diff = max_diff(torch_q, reference_all(sd, cfg, inputs, 3))
    print(f"{tag}: torch quantize_dynamic int8 max |logit diff| to fp32 {torch_diff:.4f}")
    check(diffs["int8"] <= torch_diff, f"{tag}: our int8 ({diffs['int8']:.4f}) is further from fp32 than "
                                       f"torch's quantize_dynamic ({torch_diff:.4f})")


def reduced_isa_modes(folder, cfg, inputs):
    """Each mode on oneDNN capped below the instructions it prefers: correct within its bound."""
    for isa in ("AVX2", "AVX512_CORE"):
        env = dict(os.environ, ONEDNN_MAX_CPU_ISA=isa)
        lines = "\n".join(" ".join(map(str, s)) for s in inputs) + "\n"
        rows = {}
        for mode in ("fp32", "bf16", "int8"):
            r = st_testlib.run("classify", "--model", folder, "--input-ids", "--raw-scores", "--json", "--top-k",
                               "0", "--precision", mode, "--verbose", input=lines, env=env, timeout=600)
            check(r.returncode == 0, f"{isa} {mode}: rc {r.returncode} {r.stderr}")
            if r.returncode != 0:
                return
            named = [l for l in r.stderr.splitlines() if l.startswith(f"precision: {mode}")]
            check(len(named) == 1 and f", isa: {isa.lower()}," in named[0],
                  f"{isa} {mode}: --verbose does not name the capped ISA: {named}")
            # oneDNN 2.6 has no BF16 matmul below AVX-512: bf16 computes in fp32 there, and says so.
            fallback = mode == "bf16" and isa == "AVX2"
            check(len(named) == 1 and ("(computed in fp32" in named[0]) == fallback,
                  f"{isa} {mode}: the fp32 fallback is {'not ' if fallback else ''}reported: {named}")
            rows[mode] = [[{e["label"]: e["score"] for e in json.loads(line)}[l] for l in cfg["id2label"]]
                          for line in r.stdout.strip().split("\n")]
        for mode, bound in BOUNDS.items():
            d = max_diff(rows[mode], rows["fp32"])
            print(f"example model, oneDNN ISA capped at {isa}: {mode} max |logit diff| to fp32 {d:.4f}")
            check(d < bound, f"{isa}: {mode} max diff {d:.4f} >= {bound}")


def imdb_ids(folder, count):
    texts = [r["text"] for r in testdata.imdb_records()[:count]]
    rc, out, err = run_cli(["tokenize", "--model", folder, "--json", *texts])
    check(rc == 0, f"tokenize: rc {rc} {err}")
    return [json.loads(line)["input_ids"] for line in out.strip().split("\n")]


def write_bf16(path, sd):
    """{name: tensor} as BF16 safetensors (bit patterns through int16)."""
    st_testlib.write_safetensors(path, [(name, "BF16", list(t.shape),
                                         t.bfloat16().view(torch.int16).contiguous().numpy().tobytes())
                                        for name, t in sd.items()])


def main():
    rng = np.random.default_rng(3)
    root = tempfile.mkdtemp(prefix="st_precision_")
    try:
        folder = os.path.join(ROOT, "examples", "distilbert-imdb")
        cfg = json.load(open(os.path.join(folder, "config.json")))
        cfg["id2label"] = [cfg["id2label"][str(i)] for i in range(len(cfg["id2label"]))]
        sd = torch.load(os.path.join(folder, "pytorch_model.bin"))
        ids = imdb_ids(folder, 48)
        compare_modes("example model", folder, cfg, sd, ids)
        reduced_isa_modes(folder, cfg, ids[:8])

        base = {"dim": 768, "n_heads": 12, "n_layers": 6, "hidden_dim": 3072, "vocab_size": 1000,
                "max_position_embeddings": 512, "id2label": ["NEGATIVE", "POSITIVE"]}
        sd = make_state_dict(base, 2, std=0.03)
        inputs = random_inputs(rng, base["vocab_size"], [1, 3, 16, 77, 128, 512])
        folder = make_folder(root, "base_f32", base, sd, "f32")
        compare_modes("base-shaped model", folder, base, sd, inputs, ["--threads", "2"])
        shutil.rmtree(folder)

        # A BF16 checkpoint in bf16 mode: weights used in place, not widened.
        folder = os.path.join(root, "base_bf16")
        os.makedirs(folder)
        write_config(folder, base)
        write_tokenizer(folder, base["vocab_size"])
        write_bf16(os.path.join(folder, "model.safetensors"), sd)
        fp32 = our_logits(folder, base, inputs, ["--threads", "2"])
        sd_rounded = {k: v.bfloat16().float() for k, v in sd.items()}
        check(max_diff(fp32, reference_all(sd_rounded, base, inputs, 3)) < 1e-4, "bf16 file: fp32 run vs torch")
        got = our_logits(folder, base, inputs, ["--threads", "2", "--precision", "bf16"])
        print(f"bf16 file: bf16 max |logit diff| to its fp32 run {max_diff(got, fp32):.4f}")
        check(max_diff(got, fp32) < BOUNDS["bf16"], "bf16 file: bf16 run too far from fp32")
        rc, _, err = run_cli(["classify", "--model", folder, "--precision", "bf16", "--verbose", "--input-ids",
                              "101 5 6 102"])
        check(rc == 0, f"bf16 file --verbose: rc {rc} {err}")
        line = [l for l in err.splitlines() if l.startswith("precision: bf16, isa: ")]
        check(len(line) == 1, f"bf16 file --verbose: no precision/isa line in {err!r}")
        if line:
            in_place = int(line[0].split("(")[1].split(" bytes used in place")[0])
            converted = int(line[0].split(", ")[-1].split(" converted")[0])
            matrices = sum(t.numel() * 2 for t in sd.values() if t.dim() == 2)
            vectors = sum(t.numel() * 4 for t in sd.values() if t.dim() == 1)
            print(f"bf16 file: {in_place} bytes in place, {converted} converted")
            check(in_place == matrices, f"bf16 file: {in_place} bytes in place, expected every matrix ({matrices})")
            check(converted == vectors, f"bf16 file: {converted} bytes converted, expected the vectors ({vectors})")
        rc, _, err = run_cli(["classify", "--model", folder, "--precision", "fp16", "x"])
        check(rc != 0 and "--precision" in err, f"--precision fp16: rc {rc} {err}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print("precision parity: all checks passed")


if __name__ == "__main__":
    main()
