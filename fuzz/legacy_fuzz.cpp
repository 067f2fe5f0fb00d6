// libFuzzer: the legacy container as torch.load meets it: the tar rule on the first block, the
// tar-or-pickle ambiguity, then the five pickles of the stream with their framing (a FRAME that
// runs past STOP), in strict mode (convert) and collect mode (scan), and the storages after them.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_limits.hpp"
#include "torch/container.hpp"
#include "torch/tar_header.hpp"
#include "torch/unpickler.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace safetensors::torch;
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  detail::unpickle_options o = fuzz::fuzz_options();
  if (detail::is_tar_header(bytes) && size < 512) __builtin_trap();
  if (detail::detect_format(bytes) == detail::file_format::tar)
    (void)detail::check_tar_not_pickle(bytes, o);
  auto r = detail::load_container(bytes, o);
  if (r)
    for (auto s : r->storage_bytes)  // every storage span lies inside the input
      if (!s.empty() &&
          (s.data() < bytes.data() || s.data() + s.size() > bytes.data() + bytes.size()))
        __builtin_trap();
  // scan's reading: each pickle starts where the previous one (and its frame) ended
  o.mode = detail::unpickle_mode::collect;
  std::size_t at = 0;
  for (int i = 0; i < 5 && at < size; ++i) {
    o.pid_arity = i == 3 ? 6 : 0;
    detail::pickle_trace trace;
    auto g = detail::unpickle(bytes, at, o, &trace);
    if (!g) break;
    if (g->end <= at || g->end > size) __builtin_trap();
    at = g->end;
  }
  return 0;
}
