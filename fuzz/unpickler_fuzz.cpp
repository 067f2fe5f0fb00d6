// libFuzzer: the restricted unpickler in strict and collect modes, then the graph selection.
// Any input must end in a value or a clean error (ASan/UBSan watch the rest).
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_limits.hpp"
#include "torch/select.hpp"
#include "torch/unpickler.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace safetensors::torch;
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  detail::unpickle_options o = fuzz::fuzz_options();
  for (auto mode : {detail::unpickle_mode::strict, detail::unpickle_mode::collect}) {
    o.mode = mode;
    detail::pickle_trace trace;
    auto g = detail::unpickle(bytes, 0, o, &trace);
    if (!g) continue;
    for (bool flatten : {false, true}) {
      select_options s;
      s.flatten = flatten;
      (void)detail::select_tensors(*g, s, o.limits, "fuzz");
    }
  }
  return 0;
}
