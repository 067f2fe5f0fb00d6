"""Helpers for the torch script tests: a small numpy safetensors reader, torch tensor bytes,
hand-built pickles and zips. Paths, f32() and the CLI runner are in tests/support/st_testlib.py."""
import json
import struct
import zipfile

import numpy as np

NP_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
             "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?", "C64": "<c8", "U16": "<u2",
             "U32": "<u4", "U64": "<u8", "F8_E4M3": "u1", "F8_E5M2": "u1"}


def read_safetensors(path):
    """{name: (dtype, shape, numpy array)}, metadata — an independent stdlib+numpy reader."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", None)
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        arr = np.frombuffer(data[b:e], dtype=NP_DTYPES[info["dtype"]]).reshape(info["shape"])
        out[name] = (info["dtype"], list(info["shape"]), arr)
    return out, meta


def torch_dtype_name(t):
    import torch
    return {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
            torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
            torch.uint8: "U8", torch.bool: "BOOL", torch.complex64: "C64"}[t.dtype]


def torch_bytes(t):
    import torch
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


# ---- hand-built pickles ---------------------------------------------------------------------
def s(text):
    """BINUNICODE"""
    b = text.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def k(n):
    """BININT1 / BININT"""
    return b"K" + bytes([n]) if 0 <= n < 256 else b"J" + struct.pack("<i", n)


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def tup(*items):
    return b"(" + b"".join(items) + b"t"


def storage_pid(key, numel, cls="FloatStorage"):
    return tup(s("storage"), glob("torch", cls), s(key), s("cpu"), k(numel)) + b"Q"


def rebuild_v2(pid, offset, size, stride):
    return (glob("torch._utils", "_rebuild_tensor_v2") +
            tup(pid, k(offset), tup(*map(k, size)), tup(*map(k, stride)), b"\x89",
                glob("collections", "OrderedDict") + b")R") + b"R")


def state_dict_pickle(entries):
    """PROTO 2, OrderedDict with SETITEMS of (name, value-pickle) pairs, STOP."""
    body = b"".join(s(name) + value for name, value in entries)
    return b"\x80\x02" + glob("collections", "OrderedDict") + b")R(" + body + b"u."


def torch_zip(path, pkl, records, prefix="archive", extra=None, compress=()):
    """A torch-style zip: prefix/data.pkl, prefix/data/<key>, prefix/version."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{prefix}/data.pkl", pkl, zipfile.ZIP_STORED)
        for key, data in records.items():
            method = zipfile.ZIP_DEFLATED if key in compress else zipfile.ZIP_STORED
            z.writestr(f"{prefix}/data/{key}", data, method)
        for name, data in (extra or {}).items():
            z.writestr(f"{prefix}/{name}", data, zipfile.ZIP_STORED)
        z.writestr(f"{prefix}/version", b"3\n", zipfile.ZIP_STORED)
    return path

