// libFuzzer target: tokenizer.json, read from memory (tokenizer::from_tokenizer_json_text,
// src/model/tokenizer/load_json.cpp, through the core's strict JSON reader); a tokenizer that
// loads then encodes, pairs, truncates and decodes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "safetensors/model/tokenizer.hpp"

namespace m = safetensors::model;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto tok = m::tokenizer::from_tokenizer_json_text(
      std::string_view(reinterpret_cast<const char*>(data), size), "tokenizer.json");
  if (!tok) return 0;
  m::encode_options opts;
  opts.max_length = 8;
  opts.truncate = true;
  const std::string_view text = "Hello, world! h\xc3\xa9llo [CLS] [MASK] unbelievable \xe4\xb8\xad";
  for (const std::string_view t : {text, std::string_view(), std::string_view("a")}) {
    if (auto enc = tok->encode(t, opts)) (void)tok->decode(enc->ids, size > 0 && data[0] % 2 == 0);
    (void)tok->encode_pair(t, text, opts);
  }
  (void)tok->normalize(text);
  (void)tok->token_to_id("[UNK]");
  (void)tok->id_to_token(0);
  return 0;
}
