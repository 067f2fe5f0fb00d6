"""The Python package against its peers, in one run (docs/PERFORMANCE.md, "Python package"):
- load_file (torch and numpy) of the 268 MB DistilBERT-shaped F32 file of the I/O benchmark,
  against torch.load of the same tensors saved as a .bin and against `cat` of the file;
- safe_open + one get_tensor (numpy: zero copy; torch: a copy of that tensor) on that file and on
  sparse files of 268 MB, 2.7 GB and 27 GB holding the same small tensor and one big one (the
  time must not grow with the file);
- save_file against our C++ writer (safetensors-cli convert --no-verify of the same file);
- load_file of a 10,000-tensor file (16x16 F32 each: the per-tensor cost) against torch.load;
- the first load_file / torch.load in a fresh process (memory the process never touched: on a
  VM that returns freed pages to its host every such page costs a host fault too), and the peak
  RSS of that process above its RSS before the call, against the tensors' size.
Warm page cache (each row has a warm-up run); median of --reps runs.

Usage: PYTHONPATH=build/python scripts/python bench/python_bench.py [--build build] [--reps 5]
       [--dir DIR]   (needs ~1 GB free in DIR, default $TMPDIR; the big files are sparse)
"""
import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def distilbert_state_dict():
    """distilbert-base-uncased + a 2-class head: 66,955,010 F32 parameters (267.8 MB)."""
    import torch
    g = torch.Generator().manual_seed(0)
    d, ffn = 768, 3072
    shapes = {"distilbert.embeddings.word_embeddings.weight": (30522, d),
              "distilbert.embeddings.position_embeddings.weight": (512, d),
              "distilbert.embeddings.LayerNorm.weight": (d,), "distilbert.embeddings.LayerNorm.bias": (d,)}
    for i in range(6):
        p = f"distilbert.transformer.layer.{i}."
        for m in ("q_lin", "k_lin", "v_lin", "out_lin"):
            shapes[p + f"attention.{m}.weight"], shapes[p + f"attention.{m}.bias"] = (d, d), (d,)
        for m in ("sa_layer_norm", "output_layer_norm"):
            shapes[p + m + ".weight"], shapes[p + m + ".bias"] = (d,), (d,)
        shapes[p + "ffn.lin1.weight"], shapes[p + "ffn.lin1.bias"] = (ffn, d), (ffn,)
        shapes[p + "ffn.lin2.weight"], shapes[p + "ffn.lin2.bias"] = (d, ffn), (d,)
    shapes.update({"pre_classifier.weight": (d, d), "pre_classifier.bias": (d,), "classifier.weight": (2, d),
                   "classifier.bias": (2,)})
    return {k: torch.randn(s, generator=g) for k, s in shapes.items()}


def write_sparse_file(path, total_bytes):
    """A valid file of `total_bytes` of F32 data: one big zero tensor (a hole, no disk blocks) and
    the small tensor the lazy row reads."""
    big = (total_bytes // 4) - 2
    header = {"classifier.bias": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "filler": {"dtype": "F32", "shape": [big], "data_offsets": [8, 8 + big * 4]}}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((-(8 + len(text))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + struct.pack("<2f", 1.0, 2.0))
        f.truncate(8 + len(text) + 8 + big * 4)


def timed(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


CHILD = """
import sys, time
def hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) * 1024
kind, path = sys.argv[1], sys.argv[2]
import torch, numpy
import safetensors.torch, safetensors.numpy
before = hwm()
start = time.perf_counter()
if kind == 'torch':
    t = safetensors.torch.load_file(path)
elif kind == 'numpy':
    t = safetensors.numpy.load_file(path)
else:
    t = torch.load(path)
print(time.perf_counter() - start, hwm() - before)
"""


def fresh_process_loads(jobs, reps):
    """{kind: (median seconds of the call, max peak RSS growth)} over `reps` fresh processes per
    (kind, path) job, the kinds alternating (how fast a process gets fresh memory varies over
    time on a VM)."""
    runs = {kind: [] for kind, _ in jobs}
    for _ in range(reps):
        for kind, path in jobs:
            out = subprocess.run([sys.executable, "-c", CHILD, kind, path], capture_output=True, text=True,
                                 check=True)
            seconds, growth = out.stdout.split()
            runs[kind].append((float(seconds), int(growth)))
    return {k: (statistics.median(r[0] for r in v), max(r[1] for r in v)) for k, v in runs.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    import torch
    import safetensors
    import safetensors.numpy as stnp
    import safetensors.torch as stpt
    from safetensors import safe_open
    cli = os.path.join(args.build, "tools", "cli", "safetensors-cli")
    cpu = subprocess.run(["bash", os.path.join(ROOT, "scripts", "cpu_model")], capture_output=True,
                         text=True).stdout.strip()
    print(f"command: PYTHONPATH={os.path.relpath(args.build)}/python scripts/python bench/python_bench.py "
          f"--reps {args.reps}  ({time.strftime('%Y-%m-%d', time.gmtime())})")
    print(f"cpu: {cpu}; load average {os.getloadavg()[0]:.1f}; torch {torch.__version__}, "
          f"safetensors {safetensors.__version__} (this package)")
    with tempfile.TemporaryDirectory(prefix="st-pybench-", dir=args.dir) as tmp:
        sd = distilbert_state_dict()
        size = sum(t.numel() * t.element_size() for t in sd.values())
        st_path, bin_path = os.path.join(tmp, "model.safetensors"), os.path.join(tmp, "pytorch_model.bin")
        out_py, out_cpp = os.path.join(tmp, "py.safetensors"), os.path.join(tmp, "cpp.safetensors")
        stpt.save_file(sd, st_path)
        torch.save(sd, bin_path)
        rows = []

        def row(name, seconds, peer=None, peer_seconds=None, note=""):
            ratio = f"{seconds / peer_seconds:.2f}x {peer}" if peer else ""
            rows.append((name, f"{seconds * 1e3:.2f} ms", f"{size / seconds / 2**30:.2f} GiB/s" if seconds > 1e-3 else "",
                         ratio, note))

        cat = timed(lambda: subprocess.run(["cat", st_path], stdout=subprocess.DEVNULL, check=True), args.reps)
        tload = timed(lambda: torch.load(bin_path), args.reps)
        lt = timed(lambda: stpt.load_file(st_path), args.reps)
        ln = timed(lambda: stnp.load_file(st_path), args.reps)
        row("cat model.safetensors > /dev/null", cat)
        row("torch.load(pytorch_model.bin)", tload)
        row("safetensors.torch.load_file", lt, "torch.load", tload, f"{lt / cat:.2f}x cat")
        row("safetensors.numpy.load_file", ln, "torch.load", tload, f"{ln / cat:.2f}x cat")

        lazy_files = [("268 MB DistilBERT file", st_path)]
        for label, n in (("268 MB", 268_000_000), ("2.7 GB", 2_700_000_000), ("27 GB", 27_000_000_000)):
            lazy_files.append((f"{label} sparse file", os.path.join(tmp, f"sparse-{n}.safetensors")))
            write_sparse_file(lazy_files[-1][1], n)

        def lazy(path, fw):
            def run():
                with safe_open(path, framework=fw) as f:
                    f.get_tensor("classifier.bias")
            return run
        lazy_rows = [(f"safe_open + get_tensor, {label}, {fw}", timed(lazy(p, fw), max(args.reps, 50)))
                     for label, p in lazy_files for fw in ("np", "pt")]

        spy = timed(lambda: stpt.save_file(sd, out_py), args.reps)
        scpp = timed(lambda: subprocess.run([cli, "convert", st_path, out_cpp, "--no-verify", "--force", "--quiet"],
                                            stdout=subprocess.DEVNULL, check=True), args.reps)
        row("C++ writer (safetensors-cli convert --no-verify)", scpp)
        row("safetensors.torch.save_file", spy, "C++ writer", scpp)
        with open(out_py, "rb") as a, open(out_cpp, "rb") as b:
            identical = a.read() == b.read()

        fresh = fresh_process_loads((("torch", st_path), ("numpy", st_path), ("torch.load", bin_path)), args.reps)

        many = {f"layer.{i}.weight": torch.randn(16, 16, generator=torch.Generator().manual_seed(i)) for i in range(10_000)}
        many_st, many_bin = os.path.join(tmp, "many.safetensors"), os.path.join(tmp, "many.bin")
        stpt.save_file(many, many_st)
        torch.save(many, many_bin)
        many_rows = [("torch.load(many.bin)", timed(lambda: torch.load(many_bin), args.reps)),
                     ("safetensors.torch.load_file", timed(lambda: stpt.load_file(many_st), args.reps)),
                     ("safetensors.numpy.load_file", timed(lambda: stnp.load_file(many_st), args.reps))]

    print(f"\nfile: {size / 1e6:.1f} MB of F32 tensors ({len(sd)} tensors); warm page cache; median of {args.reps}\n")
    print("| operation | time | throughput | ratio | note |\n|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print("\n| lazy access (median of 50) | time |\n|---|---|")
    for name, s in lazy_rows:
        print(f"| {name} | {s * 1e3:.3f} ms |")
    print(f"\nsave_file output byte-identical to the C++ writer's: {identical}\n")
    print(f"| first call in a fresh process (median of {args.reps}) | time | ratio | peak RSS growth MB "
          "| / tensor bytes |\n|---|---|---|---|---|")
    for k, (seconds, growth) in fresh.items():
        print(f"| {k} | {seconds * 1e3:.1f} ms | {seconds / cat:.2f}x cat, {seconds / fresh['torch.load'][0]:.2f}x "
              f"torch.load | {growth / 1e6:.1f} | {growth / size:.2f}x |")
    print(f"\n| 10,000 tensors of 16x16 F32 (median of {args.reps}) | time | per tensor | ratio |\n|---|---|---|---|")
    for name, seconds in many_rows:
        print(f"| {name} | {seconds * 1e3:.1f} ms | {seconds / 10_000 * 1e6:.1f} us | "
              f"{seconds / many_rows[0][1]:.2f}x torch.load |")


if __name__ == "__main__":
    main()
