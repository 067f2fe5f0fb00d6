// Writer internals shared by writer.cpp and sharded.cpp.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "atomic_file.hpp"
#include "safetensors/writer.hpp"

namespace safetensors::detail {

/// Byte size of every source, in input order. Checks each source on its own (UTF-8 name, the
/// reserved name `__metadata__`, shape overflow, sub-byte alignment, data size) and that no
/// name appears twice.
result<std::vector<std::uint64_t>> source_sizes(std::span<const tensor_source> tensors);

/// Indices of `tensors` in the reference writer's order: dtype descending, then name byte-wise.
std::vector<std::size_t> writer_order(std::span<const tensor_source> tensors);

/// The header JSON for tensors that keep their offsets (in the order given) and `metadata`,
/// serialized like plan_header() and padded to opts.alignment. Errors as plan_header().
result<std::string> header_text(const std::vector<tensor_info>& tensors,
                                const metadata_map& metadata, const write_options& opts);

/// Where the writer puts a file's bytes: pushed chunks, or `n` bytes pulled from a reader.
struct byte_output {
  byte_sink push;
  std::function<result<void>(std::uint64_t n, const byte_reader& read)> pull;
};

/// Puts one tensor's bytes into `out` (borrowed data, the producer with its byte count checked
/// against `expected`, or `expected` bytes pulled from the reader).
result<void> stream_tensor(const tensor_source& t, std::uint64_t expected, const byte_output& out);

/// write_file() up to the rename: the complete file, fsynced and checked, still under its temp
/// name; publish() puts it in place (write_sharded publishes a whole set at once).
result<atomic_file> write_prepared(const std::filesystem::path& path,
                                   std::span<const tensor_source> tensors,
                                   const metadata_map& metadata, const write_options& opts);

}  // namespace safetensors::detail
