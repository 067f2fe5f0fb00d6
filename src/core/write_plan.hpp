// Writer internals shared by writer.cpp and sharded.cpp.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "safetensors/writer.hpp"

namespace safetensors::detail {

/// Byte size of every source, in input order. Checks each source on its own (UTF-8 name, the
/// reserved name `__metadata__`, shape overflow, sub-byte alignment, data size) and that no
/// name appears twice.
result<std::vector<std::uint64_t>> source_sizes(std::span<const tensor_source> tensors);

/// Indices of `tensors` in the reference writer's order: dtype descending, then name byte-wise.
std::vector<std::size_t> writer_order(std::span<const tensor_source> tensors);

/// Pushes one tensor's bytes into `out` (borrowed data, or the producer with its byte count
/// checked against `expected`).
result<void> stream_tensor(const tensor_source& t, std::uint64_t expected, const byte_sink& out);

}  // namespace safetensors::detail
