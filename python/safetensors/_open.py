"""safe_open and its slices: lazy access to one file through the core reader.

Tensors come from the core as flat byte arrays; the framework module (safetensors.numpy or
safetensors.torch) turns them into arrays or tensors. Which results share the file's mapping and
which are copies is documented in docs/PYTHON.md (zero copy only where it cannot be written
through).
"""
import operator
import os

from ._safetensors_cpp import SafetensorError, _File

_FRAMEWORKS = {"pt": "torch", "torch": "torch", "pytorch": "torch", "np": "numpy", "numpy": "numpy"}
_UNSUPPORTED = {"tf": "TensorFlow", "tensorflow": "TensorFlow", "flax": "Flax", "jax": "JAX",
                "mlx": "MLX", "paddle": "Paddle", "paddlepaddle": "Paddle"}


def _error(kind, message):
    """A SafetensorError raised from Python, with the same `kind` attribute as the core's."""
    e = SafetensorError(message)
    e.kind = kind
    return e


def _framework(name):
    """The module (safetensors.numpy or safetensors.torch) that builds `name`'s tensors."""
    key = name.lower() if isinstance(name, str) else name
    if key in _FRAMEWORKS:
        import importlib
        return importlib.import_module("safetensors." + _FRAMEWORKS[key])
    if key in _UNSUPPORTED:
        raise _error("unsupported", f"framework {name!r} ({_UNSUPPORTED[key]}) is not supported by "
                                    "safetensors-cpp: use framework='pt' or framework='np'")
    raise _error("invalid_argument", f"framework {name!r} is invalid: use 'pt' or 'np'")


def _path(filename):
    try:
        return os.fspath(filename)
    except TypeError:
        raise TypeError(f"filename must be a str or os.PathLike, not {type(filename).__name__}") from None


class safe_open:
    """Opens a safetensors file lazily (header only; tensors are read on request).

    safe_open(filename, framework="pt"|"np"|"numpy", device="cpu"), usable as a context manager;
    keys() (sorted), offset_keys() (data order), metadata() (dict, or None without __metadata__),
    get_tensor(name), get_slice(name). Errors raise SafetensorError with the core's message.
    """

    def __init__(self, filename, framework, device="cpu"):
        self._fw = _framework(framework)
        self._device = self._fw._device(device)
        self._file = _File(_path(filename))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()
        return False

    def keys(self):
        return self._file.keys()

    def offset_keys(self):
        return self._file.offset_keys()

    def metadata(self):
        return self._file.metadata()

    def get_tensor(self, name):
        return self._fw._get_tensor(self._file, name, self._device)

    def get_slice(self, name):
        return safe_slice(self, name)


class safe_slice:
    """A tensor of an open file, read only in the part an index selects.

    get_shape(), get_dtype() (the format's name, e.g. "F32") and [...] with ints (negative count
    from the end), slices with positive steps and `...`, as NumPy indexes; the result is a new
    array or tensor."""

    def __init__(self, owner, name):
        self._owner = owner
        self._name = name
        self._dtype, self._shape, _ = owner._file.describe(name)

    def get_shape(self):
        return list(self._shape)

    def get_dtype(self):
        return self._dtype

    def __getitem__(self, key):
        indexers = _indexers(key, len(self._shape))
        shape, flat = self._owner._file.slice(self._name, indexers)
        fw = self._owner._fw
        return fw._to_device(fw._from_flat(flat, self._dtype, shape, self._name), self._owner._device)


def _indexers(key, rank):
    """NumPy-style index -> the core's indexers: ("index", i) or ("range", start, stop, step)."""
    items = list(key) if isinstance(key, tuple) else [key]
    ellipses = sum(1 for k in items if k is Ellipsis)
    if ellipses > 1:
        raise _error("invalid_slice", "an index can only have a single ellipsis ('...')")
    out = []
    for k in items:
        if k is Ellipsis:
            out.extend([("range", None, None, 1)] * max(0, rank - (len(items) - 1)))
        elif isinstance(k, slice):
            out.append(("range", _int_or_none(k.start), _int_or_none(k.stop),
                        1 if k.step is None else _int(k.step)))
        else:
            out.append(("index", _int(k)))
    return out


def _int(value):
    try:
        return operator.index(value)
    except TypeError:
        raise _error("invalid_slice", f"unsupported index {value!r}: use ints, slices and '...'") from None


def _int_or_none(value):
    return None if value is None else _int(value)
