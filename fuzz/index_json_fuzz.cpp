// libFuzzer target: a sharded checkpoint's model.safetensors.index.json, read from memory by the
// index reader checkpoint::open uses (src/core/shard_index.cpp: strict JSON, weight_map,
// metadata.total_size, the shard-name checks), then the checks each opened shard's tensors go
// through (claim, all_claimed). Nothing touches the file system.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/shard_index.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using safetensors::detail::shard_index;
  auto index = shard_index::parse(std::string_view(reinterpret_cast<const char*>(data), size),
                                  "model.safetensors.index.json");
  if (!index || !index->shard_names()) return 0;
  (void)index->total_size();
  // Every tensor claimed by the shard the weight_map names, but the last one when the input's
  // length is odd (all_claimed then refuses), then a repeat and a tensor the index does not name.
  const auto& map = index->weight_map();
  std::size_t left = map.size() - size % 2;
  for (const auto& [tensor, shard] : map) {
    if (left-- == 0) break;
    if (!index->claim(tensor, shard)) __builtin_trap();
  }
  (void)index->all_claimed();
  const auto& [first, shard] = *map.begin();
  (void)index->claim(first, shard);
  (void)index->claim(std::string_view("\0", 1), shard);
  return 0;
}
