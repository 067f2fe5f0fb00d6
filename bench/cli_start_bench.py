"""Whole-process start cost of safetensors-cli commands on a small file (issue: every command
used to load oneDNN, OpenMP and the HTTP/TLS stack), against `cat` of the same file in the same
run. Wall time per process (median and best of N, spawned from Python, so each row includes the
same spawn overhead as `cat`'s) and peak RSS (GNU time's %M: a child's own rusage would count
the Python parent it was spawned from; `scripts/setup --bench` installs `time`).

Usage: scripts/python bench/cli_start_bench.py [--build build] [--runs 50]
"""
import argparse
import os
import statistics
import subprocess
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--runs", type=int, default=50)
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
    results = [(name, *measure(cmd, args.runs)) for name, cmd in rows]
    base = results[0][1]
    print("| command | median ms | best ms | peak RSS MiB | median vs cat |")
    print("|---|---:|---:|---:|---:|")
    for name, med, best, rss in results:
        print(f"| `{name}` | {med:.2f} | {best:.2f} | {rss:.1f} | {med / base:.2f}x |")


if __name__ == "__main__":
    main()
