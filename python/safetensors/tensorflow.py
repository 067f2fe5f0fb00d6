"""safetensors.tensorflow is not provided by safetensors-cpp (TensorFlow is not supported): use
safetensors.torch or safetensors.numpy."""
raise ImportError("safetensors.tensorflow: TensorFlow is not supported by safetensors-cpp; use safetensors.torch or safetensors.numpy")
