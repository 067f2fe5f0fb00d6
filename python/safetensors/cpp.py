"""safetensors.cpp: what safetensors-cpp adds to the upstream API (docs/PYTHON.md).

convert(input, output=None, ...)  PyTorch checkpoint (file or model folder) -> safetensors,
                                  without torch and without running pickle code
merge(input, output, ...)         any checkpoint (shard set, folder, .bin) -> one .safetensors
split(input, outdir, max_shard_size, ...)    any checkpoint -> Hugging Face shards + index
reshard(input, outdir, max_shard_size, ...)  the same (re-cut a shard set)
scan(path)                        globals of a pickle checkpoint and the verdict safe /
                                  unsupported / malicious
validate(path)                    full validation of a file, folder or index (errors listed)
inspect(path)                     header information (no data page read); a URL fetches the
                                  headers only (Range requests)

Each returns plain dicts; a refused input raises SafetensorError (scan and validate report
problems in their result instead). The GIL is released while files are read and written.
"""
from typing import Optional

from . import _safetensors_cpp as _core
from ._open import _path


def _names(value, what):
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not all(isinstance(v, str) for v in value):
        raise TypeError("%s: expected a string or a list of strings" % what)
    return list(value)


def _renames(rename):
    """"REGEX=REPLACEMENT" strings, (regex, replacement) pairs, or a {regex: replacement} dict."""
    if rename is None:
        return []
    items = rename.items() if isinstance(rename, dict) else [rename] if isinstance(rename, str) else rename
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, tuple) and len(item) == 2 and all(isinstance(x, str) for x in item):
            out.append(item[0].replace("=", "\\=") + "=" + item[1])
        else:
            raise TypeError("rename: expected 'REGEX=REPLACEMENT' strings or (regex, replacement) pairs")
    return out


def _cast_name(cast):
    if cast is None:
        return None
    return (cast if isinstance(cast, str) else _write_name(cast)).upper()


def convert(input, output=None, *, cast=None, filter=None, exclude=None, rename=None,
            alignment: int = 8, max_shard_size: Optional[int] = None, key: str = "",
            flatten: bool = False, sharing: str = "exact", verify: bool = True,
            copy_other_files: bool = True, force: bool = False) -> dict:
    """Converts a torch .bin/.pt/.pth file or model folder (or a safetensors file, re-written
    canonically) to safetensors, as `safetensors-cli convert` does. output None: beside the input
    (pytorch_model.bin -> model.safetensors). cast: a floating dtype ("F16", "BF16", "F32",
    "F8_E4M3", ... or a torch/numpy dtype) for floating tensors. filter / exclude: fnmatch globs
    (a string or a list); rename: "REGEX=REPLACEMENT" strings, (regex, replacement) pairs or a
    dict, applied in order. sharing: "exact" (aliases stored once, recorded in __metadata__) or
    "hf_compat" (Hugging Face convert.py's rule). Returns {"written", "removed", "copied",
    "tensors", "aliases", "notes", "bytes", "verified"}."""
    return _core.convert(_path(input), "" if output is None else _path(output), _cast_name(cast),
                         _names(filter, "filter"), _names(exclude, "exclude"), _renames(rename),
                         alignment, max_shard_size, key, flatten, sharing, verify,
                         copy_other_files, force)


def merge(input, output, *, cast=None, filter=None, exclude=None, rename=None,
          format: Optional[str] = None, alignment: int = 8, verify: bool = True,
          force: bool = False) -> dict:
    """Writes any checkpoint (a .safetensors file, a sharded folder or its index, a PyTorch
    file/folder read without running pickle code) as one .safetensors file, as `safetensors-cli
    merge` does; selection options as convert(). format: "safetensors" or "pytorch" for a folder
    holding both. merge(split(x)) is byte-identical to x. Returns the report dict of convert()."""
    return _core.rewrite(_path(input), _path(output), None, "model", _cast_name(cast),
                         _names(filter, "filter"), _names(exclude, "exclude"), _renames(rename),
                         format, alignment, verify, force, False)


def split(input, outdir, max_shard_size: int, *, prefix: str = "model", cast=None, filter=None,
          exclude=None, rename=None, format: Optional[str] = None, alignment: int = 8,
          verify: bool = True, force: bool = False, copy_other_files: bool = True) -> dict:
    """Writes any checkpoint as Hugging Face shards (PREFIX-0000N-of-0000M.safetensors, cut at
    max_shard_size bytes of tensor data) and PREFIX.safetensors.index.json into outdir, as
    `safetensors-cli split` does (outdir may be the input's folder with force=True: the old set's
    stale shards are removed). A folder's other files are copied unless copy_other_files=False."""
    if isinstance(max_shard_size, bool) or not isinstance(max_shard_size, int) or max_shard_size <= 0:
        raise TypeError("max_shard_size: expected a positive int (bytes)")
    return _core.rewrite(_path(input), _path(outdir), max_shard_size, prefix, _cast_name(cast),
                         _names(filter, "filter"), _names(exclude, "exclude"), _renames(rename),
                         format, alignment, verify, force, copy_other_files)


reshard = split


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


def inspect(path, *, headers: Optional[dict] = None, timeout: float = 30.0) -> dict:
    """{"path", "sharded", "metadata", "files": [{"path", "header_size", "data_size", "metadata"}],
    "tensors": [{"name", "dtype", "shape", "data_offsets", "file"}], "total_size"} read from the
    header(s) only. `path` may be a URL (http://, https://, hf://OWNER/REPO[@REV]/PATH) of a
    .safetensors file or an index.json: only the headers are fetched, with Range requests;
    `headers` (e.g. {"Authorization": "Bearer ..."}) and HF_TOKEN go to the named host only."""
    from ._remote import inspect_url, is_url
    if is_url(path):
        return inspect_url(path, headers, timeout)
    return _core.inspect(_path(path))


__all__ = ["convert", "merge", "split", "reshard", "scan", "validate", "inspect"]
