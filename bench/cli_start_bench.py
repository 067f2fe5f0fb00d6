"""Whole-process cost of safetensors-cli commands, against `cat` of the same file in the same run:
start cost on a small file (issue: every command used to load oneDNN, OpenMP and the HTTP/TLS
stack), and the cold path of a 100,000-tensor file (9.4 MB header, generated in a temp folder):
`validate` and `inspect --json` as whole processes, the header parsed once. Wall time per process (median and best of N, spawned from Python, so each row includes the
same spawn overhead as `cat`'s) and peak RSS (GNU time's %M: a child's own rusage would count
the Python parent it was spawned from; `scripts/setup --bench` installs `time`).

Usage: scripts/python bench/cli_start_bench.py [--build build] [--runs 50] [--big-runs 10]
"""
import argparse
import os
import statistics
import json
import struct
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


GNU_TIME = "/usr/bin/time"


def peak_rss_mib(cmd):
    if not os.path.exists(GNU_TIME):
        return float("nan")
    p = subprocess.run([GNU_TIME, "-f", "%M", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True, check=True)
    return int(p.stderr.strip().splitlines()[-1]) / 1024


def measure(cmd, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}")
    return statistics.median(times) * 1e3, min(times) * 1e3, peak_rss_mib(cmd)


def write_big_file(path, tensors=100_000):
    """A 100,000-tensor F32 file laid out like a large model's (names grouped in layers)."""
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for i in range(tensors):
        n = 4 * (i % 7 + 1)
        header[f"model.layers.{i // 100}.block.{i % 100}.weight"] = {
            "dtype": "F32", "shape": [i % 7 + 1], "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + bytes(offset))
    return len(text)


def print_table(results):
    base = results[0][1]
    print("| command | median ms | best ms | peak RSS MiB | median vs cat |")
    print("|---|---:|---:|---:|---:|")
    for name, med, best, rss in results:
        print(f"| `{name}` | {med:.2f} | {best:.2f} | {rss:.1f} | {med / base:.2f}x |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--big-runs", type=int, default=10)
    args = ap.parse_args()
    cli = os.path.join(args.build, "tools", "cli", "safetensors-cli")
    small = os.path.join(ROOT, "tests", "data", "real-safetensors", "mnist_tinygrad_model.safetensors")
    torch_file = os.path.join(ROOT, "tests", "data", "real-torch", "mlp_mnist_statedict_zip_archive_prefix.pt")
    cpu = subprocess.run([os.path.join(ROOT, "scripts", "cpu_model")], capture_output=True, text=True).stdout.strip()
    print(f"cpu: {cpu}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}; {args.runs} runs per row")
    rows = [
        ("cat FILE", ["/bin/cat", small]),
        ("inspect FILE", [cli, "inspect", small]),
        ("validate FILE", [cli, "validate", small]),
        ("scan TORCH.pt", [cli, "scan", torch_file]),
        ("tokenize --help (loads the model module)", [cli, "tokenize", "--help"]),
    ]
    print_table([(name, *measure(cmd, args.runs)) for name, cmd in rows])
    with tempfile.TemporaryDirectory() as tmp:
        big = os.path.join(tmp, "big.safetensors")
        size = write_big_file(big)
        print(f"\n100,000 tensors, {size / 1e6:.1f} MB header; {args.big_runs} runs per row")
        rows = [
            ("cat BIG", ["/bin/cat", big]),
            ("validate BIG", [cli, "validate", big]),
            ("inspect --json BIG", [cli, "inspect", "--json", big]),
        ]
        print_table([(name, *measure(cmd, args.big_runs)) for name, cmd in rows])


if __name__ == "__main__":
    main()
