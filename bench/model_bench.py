"""DistilBERT engine benchmark: ours vs PyTorch 1.13 eager vs ONNX Runtime, same run, same ids.

    scripts/python bench/model_bench.py --build build [--seconds 3] [--threads 1,2]
                                        [--precisions fp32,bf16,int8]

Builds (once, in BUILD/bench-model/) a DistilBERT-base folder with random F32 weights
(768/12/6/3072, vocab 30522, the real uncased tokenizer files from tests/support/testdata.py), pytorch_model.bin and
model.onnx (torch.onnx.export of the same forward). Then, for each thread count, runs
  - ours:  BUILD/bench/model_forward_bench (the library's classifier::logits),
  - torch: this script with --torch-peer (eager functional forward, OpenBLAS with
           OPENBLAS_CORETYPE=SkylakeX, torch.set_num_threads = ours),
  - ORT:   bench/model_ort_bench.js with onnxruntime-node from BUILD/ort (installed with
           `npm install --ignore-scripts onnxruntime-node@1.20.1` when missing),
at batch 1 x {16, 128, 512} and batch 8 x 128, alternating the engines for --rounds rounds
(the table keeps each engine's best median per shape); then load time (folder to first result, warm
page cache) and peak RSS of each, and prints a Markdown table for docs/PERFORMANCE.md, after the
CPU model and the kernels each engine used. Ours runs once per --precisions mode ("ours fp32",
"ours bf16", "ours int8"; docs/MODEL.md "Precision"); with int8 among them, torch also runs
torch.quantization.quantize_dynamic(model, {nn.Linear}, torch.qint8) ("torch int8", fbgemm).
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHAPES = "1x16,1x128,1x512,8x128"
ORT_VERSION = "1.20.1"  # npm onnxruntime-node, installed into BUILD/ort
CFG = {"dim": 768, "n_heads": 12, "n_layers": 6, "hidden_dim": 3072, "vocab_size": 30522,
       "max_position_embeddings": 512, "id2label": {"0": "NEGATIVE", "1": "POSITIVE"}}


def sorted_rows(table):
    return sorted(table.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1]))


def print_rows(table, engines):
    """Markdown rows of {(batch, len, threads): {engine: ms}}, one column per engine."""
    for (b, l, t), v in sorted_rows(table):
        cells = [f"{v[e]:.1f}" if v.get(e) else "-" for e in engines]
        print(f"| {b} x {l} | {t} | " + " | ".join(cells) + " |")


def print_ratios(table, modes):
    """Speed-ups of each mode over our fp32, ORT fp32 over each mode, torch int8 over ours int8."""
    ratio = lambda a, b: f"{a / b:.2f}x" if a and b else "-"  # noqa: E731
    for (b, l, t), v in sorted_rows(table):
        cells = [ratio(v.get("ours fp32"), v.get(f"ours {m}")) for m in modes if m != "fp32"]
        cells += [ratio(v.get("ort"), v.get(f"ours {m}")) for m in modes]
        if "int8" in modes:
            cells.append(ratio(v.get("torch int8"), v.get("ours int8")))
        print(f"| {b} x {l} | {t} | " + " | ".join(cells) + " |")


def cpu_model():
    """The CPU this runs on, as every benchmark prints it (scripts/cpu_model)."""
    return subprocess.run([os.path.join(ROOT, "scripts", "cpu_model")], capture_output=True, text=True,
                          check=True).stdout.strip()


def torch_kernels():
    """ATen's vector ISA and the OpenBLAS build and core type the torch peer runs on."""
    import ctypes
    import torch
    aten = [line.split(":", 1)[1].strip() for line in torch.__config__.show().splitlines()
            if "CPU capability usage" in line]
    blas = "OpenBLAS not found"
    with open("/proc/self/maps") as maps:
        libs = sorted({line.split()[-1] for line in maps if "libopenblas" in line})
    if libs:
        lib = ctypes.CDLL(libs[0])
        lib.openblas_get_config.restype = ctypes.c_char_p  # names the core type it dispatched to
        blas = lib.openblas_get_config().decode()
    return f"torch {torch.__version__}, ATen {aten[0] if aten else 'unknown'}, {blas}"


def onednn_primitives(ours_bin, folder, mode):
    """The oneDNN implementations ours creates for a 1 x 16 forward (ONEDNN_VERBOSE=1 exec lines)."""
    r = subprocess.run([ours_bin, "--model", folder, "--threads", "1", "--shapes", "1x16", "--seconds", "0",
                        "--precision", mode],
                       capture_output=True, text=True, env=dict(os.environ, ONEDNN_VERBOSE="1"))
    found = sorted({" ".join(line.split(",")[3:5]) for line in r.stdout.splitlines()
                    if line.startswith("onednn_verbose,exec,")})
    return ", ".join(found) or "none reported"


def torch_env(threads):
    env = dict(os.environ, OPENBLAS_CORETYPE="SkylakeX", OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads))
    return env


# ---------------------------------------------------------------------------------------------
# The model folder

def make_model(folder):
    import torch  # noqa: WPS433
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "model"))
    from logits_parity_test import make_state_dict, write_safetensors, write_tokenizer  # noqa: WPS433
    os.makedirs(folder, exist_ok=True)
    cfg = dict(CFG, id2label=["NEGATIVE", "POSITIVE"])
    sd = make_state_dict(cfg, 7, std=0.03)
    write_safetensors(os.path.join(folder, "model.safetensors"), sd)
    torch.save(sd, os.path.join(folder, "pytorch_model.bin"))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({"architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert",
                   "activation": "gelu", **CFG, "label2id": {"NEGATIVE": 0, "POSITIVE": 1}}, f, indent=2)
    write_tokenizer(folder, CFG["vocab_size"])
    export_onnx(sd, os.path.join(folder, "..", "model.onnx"))


def build_module(sd):
    import torch
    import torch.nn.functional as F

    d, nh, hd = 768, 12, 64

    class DistilBert(torch.nn.Module):
        """DistilBertForSequenceClassification's eval forward over a state dict (eager ops)."""

        def __init__(self):
            super().__init__()
            self.w = {k: v.float().contiguous() for k, v in sd.items()}
            # nn.Linear modules (what quantize_dynamic replaces), keyed by prefix with "/" for ".".
            self.linears = torch.nn.ModuleDict()
            for name, w in self.w.items():
                if name.endswith(".weight") and w.dim() == 2 and "embeddings" not in name:
                    m = torch.nn.Linear(w.shape[1], w.shape[0])
                    m.weight.data.copy_(w)
                    m.bias.data.copy_(self.w[name[:-len("weight")] + "bias"])
                    self.linears[name[:-len(".weight")].replace(".", "/")] = m

        def lin(self, x, p):
            return self.linears[p.replace(".", "/")](x)

        def ln(self, x, p):
            return F.layer_norm(x, (d,), self.w[p + ".weight"], self.w[p + ".bias"], eps=1e-12)

        def forward(self, input_ids, attention_mask):
            B, L = input_ids.shape
            pos = torch.arange(L, device=input_ids.device)
            h = self.w["distilbert.embeddings.word_embeddings.weight"][input_ids] + \
                self.w["distilbert.embeddings.position_embeddings.weight"][pos]
            h = self.ln(h, "distilbert.embeddings.LayerNorm")
            masked = (attention_mask == 0).view(B, 1, 1, L)
            for i in range(6):
                p = f"distilbert.transformer.layer.{i}."
                q = self.lin(h, p + "attention.q_lin").view(B, L, nh, hd).transpose(1, 2) / 8.0
                k = self.lin(h, p + "attention.k_lin").view(B, L, nh, hd).transpose(1, 2)
                v = self.lin(h, p + "attention.v_lin").view(B, L, nh, hd).transpose(1, 2)
                s = (q @ k.transpose(2, 3)).masked_fill(masked, torch.finfo(torch.float32).min)
                ctx = (F.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, L, d)
                h1 = self.ln(self.lin(ctx, p + "attention.out_lin") + h, p + "sa_layer_norm")
                f = self.lin(F.gelu(self.lin(h1, p + "ffn.lin1")), p + "ffn.lin2")
                h = self.ln(f + h1, p + "output_layer_norm")
            z = F.relu(self.lin(h[:, 0], "pre_classifier"))
            return self.lin(z, "classifier")

    return DistilBert().eval()


def export_onnx(sd, path):
    import torch
    model = build_module(sd)
    ids = torch.ones(1, 16, dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(model, (ids, torch.ones_like(ids)), path, input_names=["input_ids", "attention_mask"],
                          output_names=["logits"], opset_version=14,
                          dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                                        "logits": {0: "batch"}})


def make_ids(batch, length):
    out = []
    for b in range(batch):
        row = [1000 + (i * 7919 + b * 104729) % 29000 for i in range(length)]
        row[0] = 101
        if length > 1:
            row[-1] = 102
        out.append(row)
    return out


# ---------------------------------------------------------------------------------------------
# The torch peer (run in a subprocess so its thread settings and RSS are its own)

def torch_peer(folder, threads, shapes, seconds, int8=False):
    import torch
    torch.set_num_threads(threads)
    engine = "torch int8" if int8 else "torch"
    t0 = time.perf_counter()
    sd = torch.load(os.path.join(folder, "pytorch_model.bin"))
    model = build_module(sd)
    if int8:
        if "fbgemm" in torch.backends.quantized.supported_engines:  # the peer (x86 default)
            torch.backends.quantized.engine = "fbgemm"
        model = torch.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    with torch.inference_mode():
        model(torch.tensor(make_ids(1, 8)), torch.ones(1, 8, dtype=torch.long))
    print(json.dumps({"engine": engine, "load_ms": (time.perf_counter() - t0) * 1e3, "version": torch.__version__}))
    print("kernels: " + torch_kernels() + (f", quantized engine {torch.backends.quantized.engine}" if int8 else ""))
    a = torch.randn(128, 768)
    b = torch.randn(768, 768)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(50):
        a @ b
    gflops = 2 * 128 * 768 * 768 * 50 / (time.perf_counter() - t) / 1e9
    print(json.dumps({"engine": "torch", "gemm": "128x768x768", "threads": threads, "gflops": round(gflops, 1)}))
    for shape in shapes.split(","):
        batch, length = map(int, shape.split("x"))
        ids = torch.tensor(make_ids(batch, length))
        mask = torch.ones_like(ids)
        ms, cpu = [], []
        with torch.inference_mode():
            model(ids, mask)
            start = time.perf_counter()
            while len(ms) < 3 or (time.perf_counter() - start < seconds and len(ms) < 1000):
                t, c = time.perf_counter(), time.process_time()
                model(ids, mask)
                cpu.append((time.process_time() - c) * 1e3)
                ms.append((time.perf_counter() - t) * 1e3)
        ms.sort()
        cpu.sort()
        print(json.dumps({"engine": engine, "batch": batch, "len": length, "threads": threads,
                          "median_ms": ms[len(ms) // 2], "min_ms": ms[0], "mean_ms": sum(ms) / len(ms), "reps": len(ms),
                          "cpu_ms": cpu[len(cpu) // 2]}))
        sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# Orchestration

def run_json(cmd, engine, env=None):
    """The JSON lines of one peer run, plus its "kernels: ..." line as {"engine", "kernels"}."""
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {r.stderr[-2000:]}")
    return [json.loads(line) if line.startswith("{") else {"engine": engine, "kernels": line[len("kernels: "):]}
            for line in r.stdout.splitlines() if line.startswith(("{", "kernels: "))]


def peak_rss_mb(cmd, env=None, stdin=None):
    """Wall seconds and peak RSS (MiB) of one run, through GNU time."""
    t = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "RSS_KB=%M"] + cmd, capture_output=True, text=True, env=env, input=stdin)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {r.stderr[-2000:]}")
    kb = [int(l.split("=")[1]) for l in r.stderr.splitlines() if l.startswith("RSS_KB=")][-1]
    return wall, kb / 1024


def ensure_ort(build):
    folder = os.path.join(build, "ort")
    if not os.path.isdir(os.path.join(folder, "node_modules", "onnxruntime-node")):
        os.makedirs(folder, exist_ok=True)
        subprocess.run(["npm", "init", "-y"], cwd=folder, check=True, capture_output=True)
        subprocess.run(["npm", "install", "--ignore-scripts", f"onnxruntime-node@{ORT_VERSION}"], cwd=folder, check=True)
    return os.path.join(folder, "node_modules")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=2, help="engines alternate; the best median per shape is kept")
    ap.add_argument("--precisions", default="fp32,bf16,int8", help="our modes (classify --precision)")
    ap.add_argument("--torch-peer", nargs=3, metavar=("FOLDER", "THREADS", "SHAPES"))
    ap.add_argument("--torch-int8", action="store_true", help="with --torch-peer: quantize_dynamic")
    args = ap.parse_args()
    if args.torch_peer:
        torch_peer(args.torch_peer[0], int(args.torch_peer[1]), args.torch_peer[2], args.seconds, args.torch_int8)
        return
    modes = args.precisions.split(",")
    build = os.path.abspath(args.build)
    folder = os.path.join(build, "bench-model", "distilbert-base-random")
    if not os.path.exists(os.path.join(folder, "model.safetensors")):
        make_model(folder)
    onnx = os.path.join(folder, "..", "model.onnx")
    node_path = ensure_ort(build)
    ours_bin = os.path.join(build, "bench", "model_forward_bench")
    cli = os.path.join(build, "tools", "cli", "safetensors-cli")
    results = []
    for threads in map(int, args.threads.split(",")):
        results += run_json([ours_bin, "--gemm", "--threads", str(threads), "--seconds", str(args.seconds)], "ours")
        for _ in range(args.rounds):  # alternate the engines so load changes hit all of them
            for mode in modes:
                results += [dict(r, engine=f"ours {mode}") if r.get("engine") == "ours" else r
                            for r in run_json([ours_bin, "--model", folder, "--threads", str(threads), "--shapes",
                                               SHAPES, "--seconds", str(args.seconds), "--precision", mode], "ours")]
            results += run_json([sys.executable, __file__, "--seconds", str(args.seconds), "--torch-peer", folder,
                                 str(threads), SHAPES], "torch", env=torch_env(threads))
            if "int8" in modes:
                results += run_json([sys.executable, __file__, "--seconds", str(args.seconds), "--torch-peer", folder,
                                     str(threads), SHAPES, "--torch-int8"], "torch int8", env=torch_env(threads))
            results += run_json(["node", os.path.join(HERE, "model_ort_bench.js"), onnx, str(threads), SHAPES,
                                 str(args.seconds)], "ORT", env=dict(os.environ, NODE_PATH=node_path))
    results += [{"engine": f"ours {m}", "kernels": "oneDNN primitives at 1 x 16: " +
                 onednn_primitives(ours_bin, folder, m)} for m in modes]
    results += [{"engine": "ORT", "kernels": f"onnxruntime-node {ORT_VERSION} (MLAS; it does not report its ISA)"}]
    for r in results:
        print(json.dumps(r))
    report(results, modes)
    # Load time (folder to first result, warm cache: best of 5) and peak RSS, 2 threads.
    text = "This movie was a complete waste of time."
    ours = {mode: [peak_rss_mb([cli, "classify", "--model", folder, "--threads", "2", "--precision", mode, text])
                   for _ in range(5)] for mode in modes}
    torch_run = [peak_rss_mb([sys.executable, __file__, "--seconds", "0", "--torch-peer", folder, "2", "1x16"],
                             env=torch_env(2)) for _ in range(2)]
    torch_int8_run = [peak_rss_mb([sys.executable, __file__, "--seconds", "0", "--torch-peer", folder, "2", "1x16",
                                   "--torch-int8"], env=torch_env(2)) for _ in range(2)]
    ort_run = [peak_rss_mb(["node", os.path.join(HERE, "model_ort_bench.js"), onnx, "2", "1x16", "0"],
                           env=dict(os.environ, NODE_PATH=node_path)) for _ in range(2)]
    weights_mb = os.path.getsize(os.path.join(folder, "model.safetensors")) / 2**20
    print(f"\nweights: {weights_mb:.1f} MiB (model.safetensors)")
    loads = [(f"ours {mode} (safetensors-cli classify --precision {mode}, 1 text)", runs)
             for mode, runs in ours.items()]
    loads += [("torch (torch.load + first forward)", torch_run),
              ("torch int8 (torch.load + quantize_dynamic + first forward)", torch_int8_run),
              ("ORT (session create + first run)", ort_run)]
    for name, runs in loads:
        best = min(runs)
        print(f"| {name} | {best[0] * 1e3:.0f} ms wall | peak RSS {best[1]:.0f} MiB ({best[1] / weights_mb:.2f}x weights) |")


def report(results, modes):
    print("\ncpu: " + cpu_model())
    kernels = {}  # engine -> its distinct "kernels" lines, in the order they came
    for r in results:
        if "kernels" in r and r["kernels"] not in kernels.setdefault(r["engine"], []):
            kernels[r["engine"]].append(r["kernels"])
    for engine, lines in kernels.items():
        print(f"kernels ({engine}): " + "; ".join(lines))
    table, cpu_table = {}, {}
    for r in results:
        if "batch" in r:
            cell = table.setdefault((r["batch"], r["len"], r["threads"]), {})
            cell[r["engine"]] = min(cell.get(r["engine"], float("inf")), r["median_ms"])
            cpu = cpu_table.setdefault((r["batch"], r["len"], r["threads"]), {})
            cpu[r["engine"]] = min(cpu.get(r["engine"], float("inf")), r["cpu_ms"])
    engines = [f"ours {m}" for m in modes] + ["torch"] + (["torch int8"] if "int8" in modes else []) + ["ort"]
    label = lambda e: {"ort": "ORT", "torch": "torch fp32"}.get(e, e)  # noqa: E731
    print("\n| batch x len | threads | " + " | ".join(f"{label(e)} ms" for e in engines) + " |")
    print("|---|---|" + "---|" * len(engines))
    print_rows(table, engines)
    print("\nRatios (larger = ours faster): our fp32 time over each mode's; ORT fp32 over each mode; torch int8 over"
          " ours int8")
    ratios = [f"fp32/{m}" for m in modes if m != "fp32"] + [f"ORT/ours {m}" for m in modes]
    if "int8" in modes:
        ratios.append("torch int8/ours int8")
    print("\n| batch x len | threads | " + " | ".join(ratios) + " |")
    print("|---|---|" + "---|" * len(ratios))
    print_ratios(table, modes)
    reduced = [f"{r['batch']}x{r['len']}@{r['threads']}: {r['reduced_thread_calls']}" for r in results
               if r.get("engine", "").startswith("ours") and "reduced_thread_calls" in r and r["threads"] > 1]
    if reduced:  # the engine sizes each call's team to the free cores (src/model/threads.hpp)
        print("\nours: calls that ran with fewer threads than asked (other tasks busy): " + ", ".join(reduced))
    print("\nCPU time per forward (all threads; best median):")
    print("\n| batch x len | threads | " + " | ".join(f"{label(e)} CPU ms" for e in engines) + " |")
    print("|---|---|" + "---|" * len(engines))
    print_rows(cpu_table, engines)


if __name__ == "__main__":
    main()
