// libFuzzer: the zip central-directory reader (local headers from the bytes and through a reader,
// compared) and the whole container loader (zip or legacy).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "fuzz_limits.hpp"
#include "torch/container.hpp"
#include "torch/zip_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace safetensors::torch;
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  // Local headers read through a reader (as checkpoints and scan do) or from the bytes: the same
  // entries or the same error.
  const auto direct = detail::read_zip_directory(bytes, "fuzz");
  const safetensors::byte_reader reader =
      [&](std::uint64_t at, std::span<std::byte> out) -> safetensors::result<void> {
    if (at > bytes.size() || out.size() > bytes.size() - at) __builtin_trap();  // checked first
    std::memcpy(out.data(), bytes.data() + at, out.size());
    return {};
  };
  const auto read = detail::read_zip_directory(bytes, "fuzz", reader);
  if (direct.has_value() != read.has_value()) __builtin_trap();
  if (direct) {
    if (direct->size() != read->size()) __builtin_trap();
    for (std::size_t i = 0; i < direct->size(); ++i)
      if ((*direct)[i].name != (*read)[i].name ||
          (*direct)[i].data_offset != (*read)[i].data_offset)
        __builtin_trap();
  } else if (direct.error().message != read.error().message) {
    __builtin_trap();
  }
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
