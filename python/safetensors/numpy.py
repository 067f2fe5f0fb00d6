"""safetensors.numpy: save_file, load_file, save, load for dict[str, numpy.ndarray], as upstream.

numpy has no BF16, F8 or sub-byte float dtypes: such tensors raise SafetensorError here (read
them with framework="pt", or convert them with the C++ API / CLI)."""
import sys
from typing import Dict, Optional

import numpy as np

from . import _write
from ._open import _error, _path
from ._safetensors_cpp import _File

_TYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "C64": np.complex64,
    "I64": np.int64, "U64": np.uint64, "I32": np.int32, "U32": np.uint32,
    "I16": np.int16, "U16": np.uint16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
}


def _dtype(format_dtype, name):
    try:
        return _TYPES[format_dtype]
    except KeyError:
        raise _error("dtype_mismatch", f"tensor '{name}' has dtype {format_dtype}, which numpy does not "
                                       "have: open the file with framework='pt'") from None


def _device(device):
    if device != "cpu":
        raise _error("invalid_argument", f"device {device!r}: numpy arrays live on the CPU (use device='cpu')")
    return device


def _to_device(array, device):
    return array


def _from_flat(flat, format_dtype, shape, name):
    """A flat uint8 array -> the tensor's array (a view: keeps `flat`'s memory and flags)."""
    return flat.view(_dtype(format_dtype, name)).reshape(shape)


def _get_tensor(handle, name, device):
    # Zero copy: a read-only array over the read-only mapping (docs/PYTHON.md).
    dtype, shape, _ = handle.describe(name)
    _dtype(dtype, name)
    return _from_flat(handle.mapped(name), dtype, shape, name)


def _little_endian_bytes(name, v):
    if not isinstance(v, np.ndarray):
        raise ValueError(f"Key `{name}` is invalid, expected np.ndarray but received {type(v)}")
    order = v.dtype.byteorder
    if order == ">" or (order == "=" and sys.byteorder != "little"):
        raise ValueError("Safetensor format only accepts little endian")
    fmt = _write.format_name(v.dtype.name)
    return (name, fmt, list(v.shape), np.ascontiguousarray(v).reshape(-1).view(np.uint8))


def _entries(tensor_dict):
    _write.check_names(tensor_dict, "np.ndarray")
    return [_little_endian_bytes(k, v) for k, v in tensor_dict.items()]


def save(tensor_dict: Dict[str, np.ndarray], metadata: Optional[Dict[str, str]] = None) -> bytes:
    """The safetensors file of `tensor_dict` as bytes (byte-identical to save_file's)."""
    return _write.serialize_entries(_entries(tensor_dict), metadata)


def save_file(tensor_dict: Dict[str, np.ndarray], filename, metadata: Optional[Dict[str, str]] = None) -> None:
    """Writes `tensor_dict` (and optional str->str metadata) atomically to `filename`."""
    _write.write_entries(_entries(tensor_dict), filename, metadata)


def load(data: bytes) -> Dict[str, np.ndarray]:
    """Tensors of a whole safetensors file given as bytes (new writable arrays)."""
    _, tensors = _write.parse(data)
    view = memoryview(data).cast("B")
    return {name: np.frombuffer(view[b:e], dtype=_dtype(dt, name)).reshape(shape).copy()
            for name, dt, shape, b, e in sorted(tensors)}


def load_file(filename, device="cpu") -> Dict[str, np.ndarray]:
    """Every tensor of `filename` as writable arrays: views of one block of fresh memory the file's
    data was read into with pread (GIL released), freed when the last of them is gone
    (docs/PYTHON.md; an array whose offset is not a multiple of its item size is a copy)."""
    _device(device)
    f = _File(_path(filename), pread=True)
    try:
        layout = f.layout()
        types = [np.dtype(_dtype(dtype, name)) for name, dtype, _, _, _ in layout]  # refused before reading
        block = f.read_block()
    finally:
        f.close()
    out = {}
    for (name, _, shape, begin, nbytes), dt in zip(layout, types):
        if nbytes == 0:
            out[name] = np.empty(shape, dtype=dt)
            continue
        a = np.frombuffer(block, dtype=dt, count=nbytes // dt.itemsize, offset=begin).reshape(shape)
        out[name] = a.copy() if begin % dt.itemsize else a
    return out
