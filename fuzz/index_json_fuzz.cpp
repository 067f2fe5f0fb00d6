// libFuzzer target: a sharded checkpoint's model.safetensors.index.json (src/core/sharded.cpp),
// opened with checkpoint::open; the shards it names do not exist, so every index that parses
// and passes the shard-name checks ends in a clean error too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "safetensors/sharded.hpp"
#include "support/test_files.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const safetensors::test::temp_dir dir;  // removed at exit
  const auto file = dir.write("model.safetensors.index.json",
                              std::string_view(reinterpret_cast<const char*>(data), size));
  auto ck = safetensors::checkpoint::open(file);
  if (ck) (void)ck->total_size();
  return 0;
}
