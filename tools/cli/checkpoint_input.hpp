// One way for the value commands (hash --tensors, get, stats, diff) to read a checkpoint's
// tensors, whatever it is: a safetensors file, sharded folder or index (mapped), or a PyTorch
// .bin/.pt/.pth (through the safe unpickler; its storages mapped).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "remote.hpp"
#include "safetensors/error.hpp"
#include "safetensors/header.hpp"
#include "safetensors/reader.hpp"
#include "safetensors/tensor.hpp"
#include "safetensors/values.hpp"

namespace safetensors::cli {

struct input_tensor {
  std::string name;
  dtype type = dtype::F32;
  std::vector<std::uint64_t> shape;
  std::uint64_t numel = 0;
  std::uint64_t nbytes = 0;
  std::size_t file = 0;   ///< index into checkpoint_input::files()
  std::size_t index = 0;  ///< position in the underlying checkpoint
};

class checkpoint_input {
 public:
  /// A PyTorch checkpoint when the file looks like one, else a safetensors file, folder or
  /// index.json (every shard validated); a URL gives the headers only (remote.hpp: get() then
  /// fails). Errors name the file.
  /// `io`: how a safetensors input reads its data (pread for commands that stream every value
  /// through value_source(), so nothing stays mapped).
  static result<checkpoint_input> open(const std::string& path, const remote_options& remote = {},
                                       backend io = backend::mmap);
  checkpoint_input(checkpoint_input&&) noexcept;
  checkpoint_input& operator=(checkpoint_input&&) noexcept;
  ~checkpoint_input();

  const std::string& path() const noexcept;
  std::string_view format() const noexcept;  ///< "safetensors" or "pytorch"
  bool is_remote() const noexcept;           ///< headers fetched from a URL: no tensor data
  /// The files that hold the tensors (shards in order; one file for a single file or torch).
  const std::vector<std::filesystem::path>& files() const noexcept;
  /// The index file of a sharded checkpoint (empty otherwise).
  const std::filesystem::path& index_path() const noexcept;
  /// Every tensor, sorted by name (byte-wise).
  const std::vector<input_tensor>& tensors() const noexcept;
  const input_tensor* find(std::string_view name) const noexcept;
  /// `__metadata__` (first shard); absent for torch checkpoints.
  const metadata_map& metadata() const noexcept;
  /// The tensor's row-major bytes: a view of the mapping, or (a strided torch view) a gathered
  /// copy. Errors name the file and the tensor.
  result<tensor> get(const input_tensor& t) const;
  /// The tensor as a source for the core's scan_values: ranges read with pread (a strided torch
  /// view: streamed). unsupported for a URL (headers only), as get().
  result<value_source> value_source_of(const input_tensor& t) const;

 private:
  struct impl;
  explicit checkpoint_input(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// "<path>: tensor '<name>' not found" (tensor_not_found), with up to three similar names.
error tensor_not_found(const checkpoint_input& in, std::string_view name);

}  // namespace safetensors::cli
