#include "model/tokenizer_json.hpp"

#include "core/mapped_file.hpp"
#include "core/try.hpp"

namespace safetensors::model::detail {

void tame_big_integers(std::string& json) {
  std::string out;
  bool in_string = false;
  for (std::size_t i = 0; i < json.size();) {
    const char c = json[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < json.size())
        out.push_back(json[++i]);
      else if (c == '"')
        in_string = false;
      ++i;
      continue;
    }
    if (c == '"') in_string = true;
    if (c >= '0' && c <= '9') {
      std::size_t end = i;
      while (end < json.size() && json[end] >= '0' && json[end] <= '9') ++end;
      const bool integer =
          end >= json.size() || (json[end] != '.' && json[end] != 'e' && json[end] != 'E');
      out.append(integer && end - i >= 20 ? std::string_view("1e30")
                                          : std::string_view(json).substr(i, end - i));
      i = end;
      continue;
    }
    out.push_back(c);
    ++i;
  }
  json = std::move(out);
}

result<safetensors::detail::json_document> read_json_file(const std::filesystem::path& file,
                                                          bool tame) {
  auto text = ST_TRY(safetensors::detail::read_small_file(file, max_tokenizer_file_bytes));
  if (tame) tame_big_integers(text);
  return safetensors::detail::json_document::parse(text, file.string(), errc::invalid_model);
}

}  // namespace safetensors::model::detail
