"""safetensors.torch: save_file, load_file, save, load, save_model, load_model for
dict[str, torch.Tensor] / torch.nn.Module, with upstream's (0.4.x) semantics and errors.

Every torch dtype the format names maps to it (bool, uint8, int8, int16, int32, int64, float16,
bfloat16, float32, float64, complex64, and uint16/32/64 and float8 types where this torch has
them); a file dtype this torch lacks raises SafetensorError."""
from collections import defaultdict
from typing import Dict, List, Optional, Set, Tuple

import torch

from . import _write
from ._open import _error, _path
from ._safetensors_cpp import _File

_TYPES = {fmt: getattr(torch, label) for label, fmt in _write.FORMAT_NAMES.items() if hasattr(torch, label)}
_ITEM_SIZES = {dt: torch.empty(0, dtype=dt).element_size() for dt in _TYPES.values()}


def _dtype(format_dtype, name):
    try:
        return _TYPES[format_dtype]
    except KeyError:
        raise _error("dtype_mismatch", f"tensor '{name}' has dtype {format_dtype}, which torch "
                                       f"{torch.__version__} does not have") from None


def _device(device):
    return torch.device(device) if not isinstance(device, int) else torch.device("cuda", device)


def _to_device(t, device):
    return t if device.type == "cpu" else t.to(device)


def _from_flat(flat, format_dtype, shape, name):
    """A flat writable uint8 numpy array -> a tensor sharing its memory."""
    dt = _dtype(format_dtype, name)
    if flat.size == 0:  # numpy gives empty arrays stride 0, which torch cannot view as another dtype
        return torch.empty(shape, dtype=dt)
    return torch.from_numpy(flat).view(dt).reshape(shape)


def _get_tensor(handle, name, device):
    # A copy: torch tensors are always writable, so one over the read-only mapping could be
    # written through (docs/PYTHON.md).
    dtype, shape, nbytes = handle.describe(name)
    dt = _dtype(dtype, name)
    buf = torch.empty(nbytes, dtype=torch.uint8)
    handle.read_into(name, buf.numpy())
    return _to_device(buf.view(dt).reshape(shape), device)


# ---- saving -----------------------------------------------------------------------------------

def _storage(tensor: torch.Tensor):
    # untyped_storage() from torch 2.0; storage() (typed, same data_ptr and nbytes) before.
    return tensor.untyped_storage() if hasattr(tensor, "untyped_storage") else tensor.storage()


def storage_ptr(tensor: torch.Tensor) -> int:
    try:
        return _storage(tensor).data_ptr()
    except NotImplementedError:  # meta tensors
        return 0


def storage_size(tensor: torch.Tensor) -> int:
    try:
        return _storage(tensor).nbytes()
    except NotImplementedError:
        return 0


def _end_ptr(tensor: torch.Tensor) -> int:
    if tensor.nelement():
        return tensor.view(-1)[-1].data_ptr() + tensor.element_size()
    return tensor.data_ptr()


def _filter_shared_not_shared(groups: List[Set[str]], state_dict) -> List[Set[str]]:
    """Splits storage groups into runs of tensors whose byte ranges really overlap."""
    out = []
    for group in groups:
        if len(group) < 2:
            out.append(group)
            continue
        areas = sorted((state_dict[n].data_ptr(), _end_ptr(state_dict[n]), n) for n in group)
        current = {areas[0][2]}
        last_stop = areas[0][1]
        for start, stop, name in areas[1:]:
            if start >= last_stop:
                out.append(current)
                current = set()
            current.add(name)
            last_stop = max(last_stop, stop)
        out.append(current)
    return out


def _find_shared_tensors(state_dict: Dict[str, torch.Tensor]) -> List[Set[str]]:
    """Groups of names whose tensors overlap in one storage (singletons included)."""
    groups = defaultdict(set)
    for k, v in state_dict.items():
        if v.device != torch.device("meta") and storage_ptr(v) != 0 and storage_size(v) != 0:
            groups[(v.device, storage_ptr(v), storage_size(v))].add(k)
    return _filter_shared_not_shared(sorted(groups.values(), key=sorted), state_dict)


def _is_complete(tensor: torch.Tensor) -> bool:
    return tensor.data_ptr() == storage_ptr(tensor) and tensor.nelement() * tensor.element_size() == storage_size(tensor)


def _remove_duplicate_names(state_dict: Dict[str, torch.Tensor], *, preferred_names: Optional[List[str]] = None,
                            discard_names: Optional[List[str]] = None) -> Dict[str, List[str]]:
    """{kept name: [names to drop]} for every group of shared tensors; the kept one covers the
    whole storage (preferred_names first, then not in discard_names, then the first sorted)."""
    preferred = set(preferred_names or [])
    discard = set(discard_names or [])
    to_remove = defaultdict(list)
    for shared in _find_shared_tensors(state_dict):
        if len(shared) < 2:
            continue
        complete = {n for n in shared if _is_complete(state_dict[n])}
        if not complete:
            raise RuntimeError(
                "Error while trying to find names to remove to save state dict, but found no suitable name to keep"
                f" for saving amongst: {shared}. None is covering the entire storage. Refusing to save/load the model"
                " since you could be storing much more memory than needed. Please refer to"
                " https://huggingface.co/docs/safetensors/torch_shared_tensors for more information. Or open an"
                " issue.")
        keep = sorted(complete)[0]
        if complete - discard:
            keep = sorted(complete - discard)[0]
        if preferred & complete:
            keep = sorted(preferred & complete)[0]
        to_remove[keep].extend(n for n in sorted(shared) if n != keep)
    return to_remove


def _flat_bytes(name: str, tensor: torch.Tensor):
    """The row-major bytes of a dense contiguous tensor as a flat uint8 numpy view (no copy on CPU)."""
    if tensor.layout != torch.strided:
        raise ValueError(f"You are trying to save a sparse tensor: `{name}` which this library does not support."
                         " You can make it a dense tensor before saving with `.to_dense()` but be aware this might"
                         " make a much larger file than needed.")
    if not tensor.is_contiguous():
        raise ValueError(f"You are trying to save a non contiguous tensor: `{name}` which is not allowed. It either"
                         " means you are trying to save tensors which are reference of each other in which case it's"
                         " recommended to save only the full tensors, and reslice at load time, or simply call"
                         " `.contiguous()` on your tensor to pack it before saving.")
    if tensor.device.type != "cpu":
        tensor = tensor.to("cpu")
    return tensor.detach().reshape(-1).view(torch.uint8).numpy()


def _entries(tensors: Dict[str, torch.Tensor]):
    _write.check_names(tensors, "torch.Tensor")
    sparse = []
    for k, v in tensors.items():
        if not isinstance(v, torch.Tensor):
            raise ValueError(f"Key `{k}` is invalid, expected torch.Tensor but received {type(v)}")
        if v.layout != torch.strided:
            sparse.append(k)
    if sparse:
        raise ValueError(f"You are trying to save a sparse tensors: `{sparse}` which this library does not support."
                         " You can make it a dense tensor before saving with `.to_dense()` but be aware this might"
                         " make a much larger file than needed.")
    failing = [names for names in _find_shared_tensors(tensors) if len(names) > 1]
    if failing:
        raise RuntimeError(
            f"\n            Some tensors share memory, this will lead to duplicate memory on disk and potential"
            f" differences when loading them again: {failing}.\n            A potential way to correctly save your"
            " model is to use `save_model`.\n            More information at"
            " https://huggingface.co/docs/safetensors/torch_shared_tensors\n            ")
    return [(k, _write.format_name(str(v.dtype).split(".")[-1]), list(v.shape), _flat_bytes(k, v))
            for k, v in tensors.items()]


def save(tensors: Dict[str, torch.Tensor], metadata: Optional[Dict[str, str]] = None) -> bytes:
    """The safetensors file of `tensors` as bytes (byte-identical to save_file's)."""
    return _write.serialize_entries(_entries(tensors), metadata)


def save_file(tensors: Dict[str, torch.Tensor], filename, metadata: Optional[Dict[str, str]] = None) -> None:
    """Writes `tensors` (dense, contiguous, not sharing memory) and optional str->str metadata
    atomically to `filename` with the core writer."""
    _write.write_entries(_entries(tensors), filename, metadata)


# ---- loading ----------------------------------------------------------------------------------

def _block_tensor(block, dt, shape, begin, nbytes):
    """The tensor at bytes [begin, begin + nbytes) of a load_file block: a view with its own
    storage that keeps the block alive (copied when its offset is not a multiple of its element
    size, which only hand-made files have)."""
    if nbytes == 0:
        return torch.empty(shape, dtype=dt)
    size = _ITEM_SIZES[dt]
    t = torch.frombuffer(block, dtype=dt, count=nbytes // size, offset=begin).view(shape)
    return t.clone() if begin % size else t


def load_file(filename, device="cpu") -> Dict[str, torch.Tensor]:
    """Every tensor of `filename` as ordinary writable tensors, moved to `device` when it is not
    the CPU. The file's data is read with pread (GIL released) into one block of fresh memory,
    each tensor a view of its own bytes; the block is freed when the last of them is gone
    (docs/PYTHON.md)."""
    dev = _device(device)
    f = _File(_path(filename), pread=True)
    try:
        layout = f.layout()
        types = [_dtype(dtype, name) for name, dtype, _, _, _ in layout]  # refused before reading
        block = f.read_block()
    finally:
        f.close()
    return {name: _to_device(_block_tensor(block, dt, shape, begin, nbytes), dev)
            for (name, _, shape, begin, nbytes), dt in zip(layout, types)}


def load(data: bytes) -> Dict[str, torch.Tensor]:
    """Tensors of a whole safetensors file given as bytes (new writable tensors)."""
    import numpy as np
    _, tensors = _write.parse(data)
    view = memoryview(data).cast("B")
    return {name: _from_flat(np.frombuffer(view[b:e], dtype=np.uint8).copy(), dt, shape, name)
            for name, dt, shape, b, e in sorted(tensors)}


# ---- models -----------------------------------------------------------------------------------

def save_model(model: torch.nn.Module, filename, metadata: Optional[Dict[str, str]] = None,
               force_contiguous: bool = False):
    """Saves model.state_dict() with tied/shared tensors stored once (the dropped names are
    recorded in the metadata as {dropped: kept} unless the caller's metadata has that key)."""
    state_dict = model.state_dict()
    for kept, dropped in _remove_duplicate_names(state_dict).items():
        for name in dropped:
            metadata = {} if metadata is None else metadata
            metadata.setdefault(name, kept)
            del state_dict[name]
    if force_contiguous:
        state_dict = {k: v.contiguous() for k, v in state_dict.items()}
    try:
        save_file(state_dict, filename, metadata=metadata)
    except ValueError as e:
        raise ValueError(f"{e} Or use save_model(..., force_contiguous=True), read the docs for potential caveats.") from None


def load_model(model: torch.nn.Module, filename, strict: bool = True, device="cpu") -> Tuple[List[str], List[str]]:
    """Loads `filename` into `model`, accounting for the shared tensors save_model dropped.
    Returns (missing, unexpected); with strict, raises RuntimeError when either is non-empty."""
    state_dict = load_file(filename, device=device)
    to_removes = _remove_duplicate_names(model.state_dict(), preferred_names=list(state_dict.keys()))
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    missing = set(missing)
    for group in to_removes.values():
        for name in group:
            if name not in missing:
                unexpected.append(name)
            else:
                missing.remove(name)
    if strict and (missing or unexpected):
        error = f"Error(s) in loading state_dict for {model.__class__.__name__}:"
        if missing:
            error += "\n    Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in sorted(missing))
        if unexpected:
            error += "\n    Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in sorted(unexpected))
        raise RuntimeError(error)
    return missing, unexpected
