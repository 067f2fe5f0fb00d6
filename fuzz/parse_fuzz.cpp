// libFuzzer target: parse + validate any bytes as a safetensors file, then slice and convert
// every tensor of the valid ones with indexers derived from the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "safetensors/header.hpp"
#include "safetensors/tensor.hpp"

namespace st = safetensors;

namespace {

// A small deterministic stream of choices taken from the input bytes.
class choices {
 public:
  explicit choices(std::span<const std::byte> b) : b_(b) {}
  std::uint8_t next() {
    return b_.empty() ? 0 : std::to_integer<std::uint8_t>(b_[i_++ % b_.size()]);
  }
  std::int64_t small() { return static_cast<std::int8_t>(next()); }

 private:
  std::span<const std::byte> b_;
  std::size_t i_ = 0;
};

std::vector<st::slice_spec> indexers(choices& c, std::size_t rank) {
  std::vector<st::slice_spec> out;
  const std::size_t n = c.next() % (rank + 2);  // sometimes one too many
  for (std::size_t k = 0; k < n; ++k) {
    switch (c.next() % 4) {
      case 0:
        out.push_back(st::slice_spec::all());
        break;
      case 1:
        out.push_back(st::slice_spec::index(c.small()));
        break;
      case 2:
        out.push_back(st::slice_spec::range(c.small(), c.small(), 1 + c.next() % 4));
        break;
      default:
        out.push_back(st::slice_spec::range({}, c.small(), c.small()));
        break;
    }
  }
  return out;
}

void check(bool ok) {
  if (!ok) std::abort();
}

void exercise(const st::tensor_view& v, choices& c) {
  auto s = v.slice(indexers(c, v.shape().size()));
  if (s) {
    auto want = st::dtype_byte_size(s->type(), s->view().numel());
    check(want && *want == s->bytes().size());
  } else {
    check(!s.error().message.empty());
  }
  if (v.numel() <= 4096 && v.type() != st::dtype::C64) {
    const st::dtype targets[] = {st::dtype::F32, st::dtype::BF16, st::dtype::F8_E4M3,
                                 st::dtype::I8};
    auto r = v.to(targets[c.next() % 4]);
    check(r || !r.error().message.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span<const std::uint8_t>(data, size));
  auto h = st::parse_buffer(bytes);
  if (!h) {
    check(!h.error().message.empty());
    return 0;
  }
  const auto section = bytes.subspan(8 + h->header_size);
  check(section.size() == h->data_size);
  choices c(bytes.subspan(8, h->header_size));
  for (const auto& t : h->tensors) {
    check(h->find(t.name) == &t);
    check(t.end <= section.size());
    auto v = st::tensor_view::make(t.type, t.shape, section.subspan(t.begin, t.nbytes()));
    check(v.has_value());
    exercise(*v, c);
  }
  auto p =
      st::parse_slices(std::string_view(reinterpret_cast<const char*>(data) + 8, h->header_size));
  check(p || !p.error().message.empty());
  return 0;
}
