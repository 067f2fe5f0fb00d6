"""Writing and in-memory parsing shared by safetensors.numpy and safetensors.torch: argument
checks with upstream's errors, framework dtype name -> format name, and the core writer.

serialize / serialize_file take {name: {"dtype": framework dtype name, "shape": [...], "data":
bytes-like}} as upstream's do; deserialize(bytes) gives [(name, {"dtype": format name, "shape", "data"})].
"""
import os

from . import _safetensors_cpp as _core
from ._open import _error, _path

# Framework dtype names (str(torch.dtype) without "torch.", numpy's dtype.name) -> format names.
FORMAT_NAMES = {
    "bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "uint16": "U16", "float16": "F16",
    "bfloat16": "BF16", "int32": "I32", "uint32": "U32", "float32": "F32", "complex64": "C64",
    "float64": "F64", "int64": "I64", "uint64": "U64", "float8_e4m3fn": "F8_E4M3",
    "float8_e5m2": "F8_E5M2", "float8_e4m3fnuz": "F8_E4M3FNUZ", "float8_e5m2fnuz": "F8_E5M2FNUZ",
    "float8_e8m0fnu": "F8_E8M0",
}


def format_name(framework_dtype_name):
    """"float32" -> "F32"; SafetensorError for a dtype the format has no name for."""
    try:
        return FORMAT_NAMES[framework_dtype_name]
    except KeyError:
        raise _error("unknown_dtype", f"dtype {framework_dtype_name} is not covered") from None


def metadata_pairs(metadata):
    """None, or the (key, value) pairs of a dict[str, str] (TypeError otherwise, as upstream)."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise TypeError(f"argument 'metadata': '{type(metadata).__name__}' object cannot be converted to 'PyDict'")
    pairs = []
    for k, v in metadata.items():
        for x in (k, v):
            if not isinstance(x, str):
                raise TypeError(f"argument 'metadata': '{type(x).__name__}' object cannot be converted to 'PyString'")
        pairs.append((k, v))
    return pairs


def check_names(tensors, kind):
    """tensors must be a dict with str keys (ValueError / TypeError as upstream)."""
    if not isinstance(tensors, dict):
        raise ValueError(f"Expected a dict of [str, {kind}] but received {type(tensors)}")
    for k in tensors:
        if not isinstance(k, str):
            raise TypeError(f"argument 'tensor_dict': '{type(k).__name__}' object cannot be converted to 'PyString'")


def write_entries(entries, filename, metadata):
    """entries: [(name, format dtype, shape, flat byte buffer)] -> atomic file (core writer)."""
    _core.write_file(_path(filename), entries, metadata_pairs(metadata))


def serialize_entries(entries, metadata):
    return _core.serialize(entries, metadata_pairs(metadata))


def _entries(tensor_dict):
    out = []
    for name, v in tensor_dict.items():
        out.append((name, format_name(v["dtype"]), [int(d) for d in v["shape"]], memoryview(v["data"]).cast("B")))
    return out


def serialize(tensor_dict, metadata=None):
    """Upstream's low-level serialize: {name: {"dtype", "shape", "data"}} -> bytes."""
    check_names(tensor_dict, "dict")
    return serialize_entries(_entries(tensor_dict), metadata)


def serialize_file(tensor_dict, filename, metadata=None):
    """Upstream's low-level serialize_file: writes {name: {"dtype", "shape", "data"}}."""
    check_names(tensor_dict, "dict")
    write_entries(_entries(tensor_dict), filename, metadata)


def parse(data):
    """(metadata or None, [(name, format dtype, shape, begin, end)]) of a whole file in memory."""
    if isinstance(data, (str, os.PathLike)):
        raise TypeError("expected the bytes of a safetensors file; use load_file for a path")
    return _core.parse(data)


def deserialize(data):
    """Upstream's low-level deserialize: bytes -> [(name, {"dtype", "shape", "data"})]."""
    _, tensors = parse(data)
    view = memoryview(data).cast("B")
    return [(name, {"dtype": dt, "shape": shape, "data": bytes(view[b:e])}) for name, dt, shape, b, e in tensors]
