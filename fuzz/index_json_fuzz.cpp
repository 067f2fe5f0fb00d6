// libFuzzer target: a sharded checkpoint's model.safetensors.index.json (src/core/sharded.cpp),
// opened with checkpoint::open; the shards it names do not exist, so every index that parses
// and passes the shard-name checks ends in a clean error too.
#include <cstddef>
#include <cstdint>

#include "fuzz_file.hpp"
#include "safetensors/sharded.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto file = fuzz_support::write_input("model.safetensors.index.json", data, size);
  auto ck = safetensors::checkpoint::open(file);
  if (ck) (void)ck->total_size();
  return 0;
}
