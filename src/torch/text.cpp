#include "torch/text.hpp"

#include "core/utf8.hpp"

namespace safetensors::torch::detail {

std::optional<std::string> utf8_to_latin1(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto step = safetensors::detail::decode_utf8_at(s, i);
    if (!step.valid || step.code_point > 0xff) return std::nullopt;
    out.push_back(static_cast<char>(static_cast<unsigned char>(step.code_point)));
    i += step.length;
  }
  return out;
}

}  // namespace safetensors::torch::detail
