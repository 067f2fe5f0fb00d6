"""safetensors.cpp: what safetensors-cpp adds to the upstream API (docs/PYTHON.md).

convert(input, output=None, ...)  PyTorch checkpoint (file or model folder) -> safetensors,
                                  without torch and without running pickle code
scan(path)                        globals of a pickle checkpoint and the verdict safe /
                                  unsupported / malicious
validate(path)                    full validation of a file, folder or index (errors listed)
inspect(path)                     header information (no data page read)

Each returns plain dicts; a refused input raises SafetensorError (scan and validate report
problems in their result instead). The GIL is released while files are read and written.
"""
from typing import Optional

from . import _safetensors_cpp as _core
from ._open import _path


def convert(input, output=None, *, cast: Optional[str] = None, alignment: int = 8,
            max_shard_size: Optional[int] = None, key: str = "", flatten: bool = False,
            sharing: str = "exact", verify: bool = True, copy_other_files: bool = True,
            force: bool = False) -> dict:
    """Converts a torch .bin/.pt/.pth file or model folder (or a safetensors file, re-written
    canonically) to safetensors, as `safetensors-cli convert` does. output None: beside the input
    (pytorch_model.bin -> model.safetensors). cast: "F16", "BF16" or "F32" for floating tensors.
    sharing: "exact" (aliases stored once, recorded in __metadata__) or "hf_compat" (Hugging
    Face convert.py's rule). Returns {"written", "copied", "tensors", "aliases", "notes", "bytes",
    "verified"}."""
    if cast is not None and not isinstance(cast, str):
        cast = _write_name(cast)
    return _core.convert(_path(input), "" if output is None else _path(output),
                         None if cast is None else cast.upper(), alignment, max_shard_size, key,
                         flatten, sharing, verify, copy_other_files, force)


def _write_name(dtype):
    from ._write import format_name
    return format_name(str(dtype).split(".")[-1])


def scan(path) -> dict:
    """{"path", "format", "verdict": "safe"|"unsupported"|"malicious", "reason",
    "globals": [(name, verdict)], "persistent_ids"}; only an unreadable file raises."""
    return _core.scan(_path(path))


def validate(path) -> dict:
    """{"path", "valid", "errors": [{"kind", "message"}], "tensors"} for a safetensors file,
    model folder or index.json (every tensor's byte range is opened)."""
    return _core.validate(_path(path))


def inspect(path) -> dict:
    """{"path", "sharded", "metadata", "files": [{"path", "header_size", "data_size", "metadata"}],
    "tensors": [{"name", "dtype", "shape", "data_offsets", "file"}], "total_size"} read from the
    header(s) only."""
    return _core.inspect(_path(path))


__all__ = ["convert", "scan", "validate", "inspect"]
