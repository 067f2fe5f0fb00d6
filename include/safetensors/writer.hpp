// Streaming writer, byte-identical to the reference implementation for the same input.
//
// Example (compiled by tests/core/header_examples_test.cpp):
//
//   safetensors::result<void> save(const std::filesystem::path& path) {
//     static const float weights[] = {1, 2, 3, 4, 5, 6};
//     safetensors::tensor_source t;
//     t.name = "linear.weight";
//     t.type = safetensors::dtype::F32;
//     t.shape = {2, 3};
//     t.data = std::as_bytes(std::span(weights));  // borrowed: no copy
//     const safetensors::metadata_map metadata{true, {{"format", "pt"}}};
//     return safetensors::write_file(path, {&t, 1}, metadata);  // temp file, fsync, rename
//   }
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "safetensors/header.hpp"
#include "safetensors/json_writer.hpp"
#include "safetensors/tensor.hpp"

namespace safetensors {

/// Receives the next chunk of a tensor's bytes (chunks of one tensor arrive in order).
using byte_sink = std::function<result<void>(std::span<const std::byte>)>;

/// Copies bytes [offset, offset + out.size()) of a tensor into `out`.
using byte_reader = std::function<result<void>(std::uint64_t offset, std::span<std::byte> out)>;

/// One tensor to write, its dtype_byte_size(type, numel) bytes given one of three ways:
/// borrowed (`data`); pushed by `produce` into the sink, in order; or pulled with `read`, which
/// the writer calls for consecutive ranges straight into its output buffer (a file-backed
/// source then preads into that buffer: no intermediate copy). At most one may be set.
struct tensor_source {
  std::string name;
  dtype type = dtype::F32;
  std::vector<std::uint64_t> shape;
  std::span<const std::byte> data;
  std::function<result<void>(const byte_sink&)> produce;
  byte_reader read;
};

/// Checks a complete file that is not yet in place (its path is a temp file beside the target).
using file_check = std::function<result<void>(const std::filesystem::path& written)>;

/// Told, on the writer's thread, each time more of a file being written reached the kernel: the
/// temp file's path and how many bytes from its start are in it. Lets a check read the file back
/// while it grows, from the page cache; must return quickly.
using write_progress = std::function<void(const std::filesystem::path& temp, std::uint64_t bytes)>;

struct write_options {
  /// Alignment of the data section start in the file: 8 (reference), 64 or 4096, reached by
  /// padding the header with spaces.
  std::uint64_t alignment = 8;
  bool fsync = true;
  std::uint64_t max_header_size = default_max_header_size;
  /// write_file: runs on the finished temp file before it replaces the target, concurrently
  /// with its fsync (so a read-back costs little extra time); an error abandons the write and
  /// the target stays untouched. write_sharded runs it on each shard.
  file_check check;
  /// Called as each file grows (see write_progress), before `check` runs on it.
  write_progress on_written;
};

/// The header exactly as the writer would emit it (padding included) and the offset order.
struct planned_header {
  std::string json;                  ///< N bytes, padded
  std::vector<std::size_t> order;    ///< indices into the input, in data order
  std::vector<tensor_info> tensors;  ///< in data order, with offsets
};
/// Sorts (dtype descending, then name byte-wise), assigns offsets and serializes compact JSON
/// like serde_json, `__metadata__` first with keys sorted. Errors: duplicate_key,
/// invalid_tensor_view (data size mismatch), misaligned_slice, header_too_large.
result<planned_header> plan_header(std::span<const tensor_source> tensors,
                                   const metadata_map& metadata, const write_options& opts = {});

/// Whole file in memory (tests, small files).
result<std::vector<std::byte>> serialize(std::span<const tensor_source> tensors,
                                         const metadata_map& metadata,
                                         const write_options& opts = {});

/// Streams to `path` atomically: temp file in the same folder, fsync, rename. The target (even
/// when it is an input still mapped) is untouched on failure.
result<void> write_file(const std::filesystem::path& path, std::span<const tensor_source> tensors,
                        const metadata_map& metadata, const write_options& opts = {});

}  // namespace safetensors
