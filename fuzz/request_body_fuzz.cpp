// libFuzzer target: the HTTP request bodies of /predict, /tokenize and /decode
// (src/server/request_parse), then the input rules each accepted request goes through.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/input_rules.hpp"
#include "server/request_parse.hpp"

namespace d = safetensors::server::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  if (auto p = d::parse_predict(body)) {
    (void)d::check_batch(p->inputs.size(), 32, "inputs");
    for (auto& in : p->inputs) {
      (void)d::check_text(in.first, in.second, p->truncate.value_or(true), 512);
      (void)d::count_chars(in.first);
    }
  }
  if (auto t = d::parse_tokenize(body)) {
    (void)d::check_batch(t->inputs.size(), 32, "inputs");
    for (auto& text : t->inputs) {
      std::optional<std::string> none;
      (void)d::check_text(text, none, false, 512);
    }
  }
  if (auto dec = d::parse_decode(body)) {
    for (const auto& ids : dec->ids) (void)d::check_ids(ids);
  }
  return 0;
}
