"""Whole-process cost of safetensors-cli commands, against `/bin/true` and `cat` of the same file
in the same run (there is no reference-crate process to run: no Rust crate can be fetched here).
Start cost on a small file (issue 11: inspect, validate, convert and scan <= 3 ms wall and
<= 4 MB peak RSS), and the cold path of a 100,000-tensor file (9.4 MB header, generated in a temp
folder): `validate` and `inspect --json` as whole processes, the header parsed once.

`cp` and `dd conv=fsync` of the torch file are the floor under `convert`: the same bytes copied
into a new file, and copied durably (written + fsync, as convert does before its rename).

Per row: wall time per process (median and best of N, spawned from Python, so each row includes
the same spawn overhead as `true`'s and `cat`'s; the rows take turns, one run each per round), CPU time (user + system from the child's
rusage, median), and from one run under GNU time (`scripts/setup --bench` installs `time`; a
child's own rusage would count the Python parent it was forked from) the minor page faults and
peak RSS. --compare BUILD adds the same rows (small file and 100,000 tensors) for another build's CLI
(before/after).

Usage: scripts/python bench/cli_start_bench.py [--build build] [--compare BUILD] [--runs 50]
       [--big-runs 10]
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


def faults_and_peak_rss_mib(cmd):
    if not os.path.exists(GNU_TIME):
        return float("nan"), float("nan")
    p = subprocess.run([GNU_TIME, "-f", "%R %M", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True, check=True)
    faults, rss = p.stderr.strip().splitlines()[-1].split()
    return int(faults), int(rss) / 1024


def measure_rows(rows, runs):
    """Round-robin: each round runs every row once, so a change in the machine's load (other
    processes sharing it) reaches every row alike."""
    times = {name: [] for name, _ in rows}
    cpu = {name: [] for name, _ in rows}
    for _ in range(runs):
        for name, cmd in rows:
            start = time.perf_counter()
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(p.pid, 0)
            times[name].append(time.perf_counter() - start)
            p.returncode = os.waitstatus_to_exitcode(status)
            cpu[name].append(usage.ru_utime + usage.ru_stime)
            if p.returncode != 0:
                raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}")
    return [(name, statistics.median(times[name]) * 1e3, min(times[name]) * 1e3,
             statistics.median(cpu[name]) * 1e3, *faults_and_peak_rss_mib(cmd)) for name, cmd in rows]


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


def print_table(results, peer):
    # Best against best: on a shared machine the medians move with the load, the best less so.
    base = dict((name, best) for name, _, best, *_ in results)[peer]
    print(f"| command | median ms | best ms | CPU ms | page faults | peak RSS MiB | best vs {peer} |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, med, best, cpu, faults, rss in results:
        print(f"| `{name}` | {med:.2f} | {best:.2f} | {cpu:.2f} | {faults} | {rss:.1f} | {best / base:.2f}x |")


def small_file_rows(cli, small, torch_file, out, label=""):
    return [
        (f"{label}inspect FILE", [cli, "inspect", small]),
        (f"{label}validate FILE", [cli, "validate", small]),
        (f"{label}convert TORCH.pt OUT", [cli, "convert", torch_file, out, "--force"]),
        (f"{label}scan TORCH.pt", [cli, "scan", torch_file]),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--compare", help="another build folder whose CLI gets the same small-file rows")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--big-runs", type=int, default=10)
    args = ap.parse_args()
    cli = os.path.join(args.build, "tools", "cli", "safetensors-cli")
    small = os.path.join(ROOT, "tests", "data", "real-safetensors", "mnist_tinygrad_model.safetensors")
    torch_file = os.path.join(ROOT, "tests", "data", "real-torch", "mlp_mnist_statedict_zip_archive_prefix.pt")
    cpu = subprocess.run([os.path.join(ROOT, "scripts", "cpu_model")], capture_output=True, text=True).stdout.strip()
    print(f"cpu: {cpu}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}; {args.runs} runs per row")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.safetensors")
        copy = os.path.join(tmp, "copy.pt")
        # The floor under `convert`: the same process start, and the same bytes copied into a new
        # file (cp), durably (dd ... conv=fsync: written and fsynced, as convert does).
        rows = [("true", ["/bin/true"]), ("cat FILE", ["/bin/cat", small]),
                ("cp TORCH.pt COPY", ["/bin/cp", torch_file, copy]),
                ("dd TORCH.pt COPY conv=fsync", ["/bin/dd", f"if={torch_file}", f"of={copy}", "bs=4M",
                                                 "conv=fsync", "status=none"])]
        rows += small_file_rows(cli, small, torch_file, out)
        rows.append(("tokenize --help (safetensors-cli-full, model module)", [cli, "tokenize", "--help"]))
        if args.compare:
            rows += small_file_rows(os.path.join(args.compare, "tools", "cli", "safetensors-cli"), small,
                                    torch_file, out, label=f"{args.compare}: ")
        results = measure_rows(rows, args.runs)
        print_table(results, "true")
        best = {name: b for name, _, b, *_ in results}
        print(f"\nconvert TORCH.pt (best) vs the durable copy of its bytes (dd conv=fsync): "
              f"{best['convert TORCH.pt OUT'] / best['dd TORCH.pt COPY conv=fsync']:.2f}x; vs cp: "
              f"{best['convert TORCH.pt OUT'] / best['cp TORCH.pt COPY']:.2f}x")
        big = os.path.join(tmp, "big.safetensors")
        size = write_big_file(big)
        print(f"\n100,000 tensors, {size / 1e6:.1f} MB header; {args.big_runs} runs per row")
        rows = [
            ("cat BIG", ["/bin/cat", big]),
            ("validate BIG", [cli, "validate", big]),
            ("inspect --json BIG", [cli, "inspect", "--json", big]),
        ]
        if args.compare:
            other = os.path.join(args.compare, "tools", "cli", "safetensors-cli")
            rows += [(f"{args.compare}: validate BIG", [other, "validate", big]),
                     (f"{args.compare}: inspect --json BIG", [other, "inspect", "--json", big])]
        print_table(measure_rows(rows, args.big_runs), "cat BIG")


if __name__ == "__main__":
    main()
