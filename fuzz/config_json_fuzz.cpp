// libFuzzer target: a model's config.json (src/model/config.cpp, parse_config).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "safetensors/model/classifier.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  if (auto cfg = safetensors::model::parse_config(json)) {
    (void)cfg->default_function();
    (void)cfg->num_labels();
  }
  return 0;
}
