"""safetensors.flax is not provided by safetensors-cpp (Flax is not supported): use
safetensors.torch or safetensors.numpy."""
raise ImportError("safetensors.flax: Flax is not supported by safetensors-cpp; use safetensors.torch or safetensors.numpy")
