"""The Python pipeline users run today: torch.load(weights_only=True), then a plain Python
safetensors writer (sorted header, 8-byte padding, tensor bytes, fsync). Usage: IN OUT"""
import json
import os
import struct
import sys

import torch

src, dst = sys.argv[1], sys.argv[2]
sd = torch.load(src, map_location="cpu", weights_only=True)
names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
for name in sorted(sd):
    t = sd[name].contiguous()
    b = t.numpy().tobytes()
    header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
    offset += len(b)
    blobs.append(b)
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-(8 + len(h)) % 8)
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    for b in blobs:
        f.write(b)
    f.flush()
    os.fsync(f.fileno())
