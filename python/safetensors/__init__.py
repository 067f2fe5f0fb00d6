"""safetensors on the safetensors-cpp core: the public API of the upstream Python package (0.4.x)
plus this project's extras in safetensors.cpp. See docs/PYTHON.md.

    from safetensors import safe_open, SafetensorError
    from safetensors.torch import save_file, load_file      # or safetensors.numpy
"""
from ._safetensors_cpp import SafetensorError, __version__  # noqa: F401
from ._open import safe_open  # noqa: F401
from ._write import deserialize, serialize, serialize_file  # noqa: F401

__all__ = ["SafetensorError", "__version__", "safe_open", "serialize", "serialize_file", "deserialize"]
