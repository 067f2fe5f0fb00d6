// libFuzzer: the zip central-directory reader and the whole container loader (zip or legacy).
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_limits.hpp"
#include "torch/container.hpp"
#include "torch/zip_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace safetensors::torch;
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  (void)detail::read_zip_directory(bytes, "fuzz");
  detail::unpickle_options o = fuzz::fuzz_options();
  auto r = detail::load_container(bytes, o);
  if (r) {
    for (std::size_t i = 0; i < r->storage_bytes.size(); ++i) {
      // every storage span lies inside the input
      auto s = r->storage_bytes[i];
      if (!s.empty() &&
          (s.data() < bytes.data() || s.data() + s.size() > bytes.data() + bytes.size()))
        __builtin_trap();
    }
  }
  return 0;
}
