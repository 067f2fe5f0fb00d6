"""Large random F16/BF16 .safetensors files, streamed 2^24 values at a time: the inputs of
bench/write_verify_bench.sh and bench/stats_hash_bench.sh. Each NAME:DTYPE is a 1-D tensor of
VALUES standard-normal values (numpy, seed 0: one stream through the tensors in the order given),
drawn as F32 and narrowed (F16: rounded by numpy; BF16: the high 16 bits). The header is
st_testlib's in the given order, with json.dumps's default separators (the benchmarks' files,
and so the sizes quoted in docs/PERFORMANCE.md, are unchanged by the move here).

    scripts/python tests/support/random_safetensors.py OUT.safetensors VALUES NAME:DTYPE...
"""
import argparse
import struct

import numpy as np

from st_testlib import layout_header

STEP = 1 << 24


def write_random(path, values, tensors, seed=0):
    """tensors: (name, dtype) pairs, dtype F16 or BF16; each gets `values` values."""
    entries = [(name, dtype, [values], 2 * values) for name, dtype in tensors]
    header, _ = layout_header(entries, order="given", separators=(", ", ": "))
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        for _, dtype in tensors:
            for at in range(0, values, STEP):
                x = rng.standard_normal(min(STEP, values - at), dtype=np.float32)
                f.write((x.astype(np.float16) if dtype == "F16" else (x.view(np.uint32) >> 16).astype(np.uint16)).tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("values", type=int)
    ap.add_argument("tensors", nargs="+", metavar="NAME:DTYPE")
    a = ap.parse_args()
    tensors = [tuple(t.rsplit(":", 1)) for t in a.tensors]
    for t in tensors:
        if len(t) != 2 or t[1] not in ("F16", "BF16"):
            ap.error(f"{':'.join(t)}: expected NAME:F16 or NAME:BF16")
    write_random(a.out, a.values, tensors)


if __name__ == "__main__":
    main()
