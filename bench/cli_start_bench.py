"""Whole-process cost of safetensors-cli commands, against `/bin/true`, `cat` of the same file and
a model of the reference crate's process (bench/reference_peer), in the same run.
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

The reference peer: Hugging Face's Rust `safetensors` crate cannot be fetched on these machines
(no crates.io, not packaged by Debian 12), so bench/reference_peer is a Rust program that repeats
the crate's open + deserialize on the same serde_json and memmap2 (its header comment lists the
rules it mirrors); its rows are `validate` and `inspect` of both files, and our plain `inspect BIG`
row pairs with its `inspect BIG`. The script builds it with Debian's cargo (`scripts/setup --bench`;
$CARGO overrides /usr/bin/cargo), offline, `--release`, into build/reference_peer of this
checkout, or takes a built binary from --peer. Without cargo it says so and runs without the peer
rows. Before timing it checks that the peer and our CLI accept the small and the big file and
refuse truncated copies of them (a peer failing fast would give a fake ratio), and that the
peer's listing of the big file names every tensor. After the tables: ours / peer per pair of rows.

Usage: scripts/python bench/cli_start_bench.py [--build build] [--compare BUILD] [--runs 50]
       [--big-runs 10] [--peer PATH | --no-peer]
"""
import argparse
import os
import random
import shutil
import statistics
import json
import struct
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


GNU_TIME = "/usr/bin/time"
PEER_DIR = os.path.join(HERE, "reference_peer")
PEER = "reference model: "


def faults_and_peak_rss_mib(cmd):
    if not os.path.exists(GNU_TIME):
        return float("nan"), float("nan")
    p = subprocess.run([GNU_TIME, "-f", "%R %M", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True, check=True)
    faults, rss = p.stderr.strip().splitlines()[-1].split()
    return int(faults), int(rss) / 1024


def measure_rows(rows, runs):
    """Round-robin: each round runs every row once, so a change in the machine's load (other
    processes sharing it) reaches every row alike; in a new order each round (seeded: the same
    orders every run), because a row that follows a writing one (cp, dd, convert) pays for the
    kernel's writeback of its file: in a fixed order the same rows always did."""
    times = {name: [] for name, _ in rows}
    cpu = {name: [] for name, _ in rows}
    order = random.Random(11)
    for _ in range(runs):
        for name, cmd in order.sample(rows, len(rows)):
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


def fresh_copy(path, folder, name):
    """`path` copied into `folder` as `name`, executable."""
    copy = os.path.join(folder, name)
    shutil.copy2(path, copy)
    return copy


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
    return {name: (med, best, cpu) for name, med, best, cpu, *_ in results}


def build_peer():
    """Builds bench/reference_peer with Debian's cargo (or $CARGO), offline, into build/ of this
    checkout; returns the binary, or None after one line saying why not."""
    cargo = os.environ.get("CARGO", "/usr/bin/cargo")
    if not shutil.which(cargo):
        print(f"reference model: no cargo at {cargo} (scripts/setup --bench installs it); no peer rows")
        return None
    env = dict(os.environ)
    # The rustc beside that cargo, not a rustup one earlier on PATH.
    rustc = os.path.join(os.path.dirname(shutil.which(cargo)), "rustc")
    if "RUSTC" not in env and os.path.exists(rustc):
        env["RUSTC"] = rustc
    target = os.path.join(ROOT, "build", "reference_peer")
    # cwd: cargo reads bench/reference_peer/.cargo/config.toml (crates-io -> Debian's sources).
    p = subprocess.run([cargo, "build", "--release", "--offline", "--quiet", "--target-dir", target],
                       cwd=PEER_DIR, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"reference model: `cargo build` failed ({last}); no peer rows")
        return None
    return os.path.join(target, "release", "reference_peer")


def check_accepts_and_refuses(tools, good, tmp):
    """Every tool (name -> executable) must accept `good` and refuse a truncated copy of it."""
    broken = os.path.join(tmp, "truncated-" + os.path.basename(good))
    with open(good, "rb") as f, open(broken, "wb") as out:
        out.write(f.read()[:-1])
    for name, tool in tools.items():
        for command in ("validate", "inspect"):
            ok = subprocess.run([tool, command, good], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if ok.returncode != 0:
                raise SystemExit(f"{name} {command} {good}: exit {ok.returncode}: {ok.stderr.strip()}")
            if subprocess.run([tool, command, broken], capture_output=True).returncode == 0:
                raise SystemExit(f"{name} {command} accepted a truncated {good}")
    os.unlink(broken)


def check_peer_lists_all(peer, big, tensors):
    listing = subprocess.run([peer, "inspect", big], capture_output=True, text=True, check=True).stdout.splitlines()
    if len(listing) != tensors + 1 or listing[-1] != f"{tensors} tensors":
        raise SystemExit(f"reference model: inspect of the big file listed {len(listing) - 1} of {tensors} tensors")


def print_ratios(table, pairs):
    for ours, peer in pairs:
        if ours in table and peer in table:
            (om, ob, oc), (pm, pb, pc) = table[ours], table[peer]
            print(f"- `{ours}` / `{peer}`: best {ob / pb:.2f}x, median {om / pm:.2f}x, CPU {oc / pc:.2f}x")


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
    ap.add_argument("--peer", help="a built bench/reference_peer binary (default: build it with cargo)")
    ap.add_argument("--no-peer", action="store_true", help="leave out the reference model's rows")
    args = ap.parse_args()
    cli = os.path.join(args.build, "tools", "cli", "safetensors-cli")
    small = os.path.join(ROOT, "tests", "data", "real-safetensors", "mnist_tinygrad_model.safetensors")
    torch_file = os.path.join(ROOT, "tests", "data", "real-torch", "mlp_mnist_statedict_zip_archive_prefix.pt")
    cpu = subprocess.run([os.path.join(ROOT, "scripts", "cpu_model")], capture_output=True, text=True).stdout.strip()
    print(f"cpu: {cpu}")
    peer = None if args.no_peer else (args.peer or build_peer())
    print(f"load average at start: {os.getloadavg()[0]:.2f}; {args.runs} runs per row")
    with tempfile.TemporaryDirectory() as tmp:
        # Every executable timed runs from a copy in this folder, all made the same way: how the
        # kernel caches an executable's file depends on how it was written (a freshly linked one
        # starts ~0.3 ms slower here than a copy of the same bytes), not on the code.
        build_cli = cli
        cli = fresh_copy(cli, tmp, "safetensors-cli")
        compare = fresh_copy(os.path.join(args.compare, "tools", "cli", "safetensors-cli"), tmp,
                             "compare-safetensors-cli") if args.compare else None
        if peer:
            peer = fresh_copy(peer, tmp, "reference_peer")
        tools = {"safetensors-cli": cli, "reference model": peer} if peer else {"safetensors-cli": cli}
        check_accepts_and_refuses(tools, small, tmp)
        out = os.path.join(tmp, "out.safetensors")
        copy = os.path.join(tmp, "copy.pt")
        # The floor under `convert`: the same process start, and the same bytes copied into a new
        # file (cp), durably (dd ... conv=fsync: written and fsynced, as convert does).
        rows = [("true", ["/bin/true"]), ("cat FILE", ["/bin/cat", small]),
                ("cp TORCH.pt COPY", ["/bin/cp", torch_file, copy]),
                ("dd TORCH.pt COPY conv=fsync", ["/bin/dd", f"if={torch_file}", f"of={copy}", "bs=4M",
                                                 "conv=fsync", "status=none"])]
        rows += small_file_rows(cli, small, torch_file, out)
        # From the build folder: safetensors-cli finds safetensors-cli-full beside itself.
        rows.append(("tokenize --help (safetensors-cli-full, model module)",
                     [build_cli, "tokenize", "--help"]))
        if peer:
            rows += [(f"{PEER}validate FILE", [peer, "validate", small]),
                     (f"{PEER}inspect FILE", [peer, "inspect", small])]
        if args.compare:
            rows += small_file_rows(compare, small, torch_file, out, label=f"{args.compare}: ")
        results = measure_rows(rows, args.runs)
        small_table = print_table(results, "true")
        best = {name: b for name, _, b, *_ in results}
        print(f"\nconvert TORCH.pt (best) vs the durable copy of its bytes (dd conv=fsync): "
              f"{best['convert TORCH.pt OUT'] / best['dd TORCH.pt COPY conv=fsync']:.2f}x; vs cp: "
              f"{best['convert TORCH.pt OUT'] / best['cp TORCH.pt COPY']:.2f}x")
        big = os.path.join(tmp, "big.safetensors")
        size = write_big_file(big)
        check_accepts_and_refuses(tools, big, tmp)
        if peer:
            check_peer_lists_all(peer, big, 100_000)
        print(f"\n100,000 tensors, {size / 1e6:.1f} MB header; {args.big_runs} runs per row")
        rows = [
            ("cat BIG", ["/bin/cat", big]),
            ("validate BIG", [cli, "validate", big]),
            ("inspect BIG", [cli, "inspect", big]),
            ("inspect --json BIG", [cli, "inspect", "--json", big]),
        ]
        if peer:
            rows += [(f"{PEER}validate BIG", [peer, "validate", big]),
                     (f"{PEER}inspect BIG", [peer, "inspect", big])]
        if args.compare:
            rows += [(f"{args.compare}: validate BIG", [compare, "validate", big]),
                     (f"{args.compare}: inspect --json BIG", [compare, "inspect", "--json", big])]
        big_table = print_table(measure_rows(rows, args.big_runs), "cat BIG")
        if peer:
            print("\nours / reference model (issue 11: validate BIG <= 0.33x):")
            print_ratios(small_table, [(f"{c} FILE", f"{PEER}{c} FILE") for c in ("validate", "inspect")])
            print_ratios(big_table, [("validate BIG", f"{PEER}validate BIG"), ("inspect BIG", f"{PEER}inspect BIG"),
                                     ("inspect --json BIG", f"{PEER}inspect BIG")])


if __name__ == "__main__":
    main()
