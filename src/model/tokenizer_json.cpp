#include "model/tokenizer_json.hpp"

#include <fstream>

#include <fmt/format.h>

namespace safetensors::model::detail {

result<std::string> read_text_file(const std::filesystem::path& file) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) return fail(errc::io, fmt::format("[load_tokenizer] {}: cannot read: {}", file.string(), ec.message()));
  if (size > (std::uintmax_t{1} << 30)) {
    return fail(errc::invalid_model, fmt::format("[load_tokenizer] {}: file of {} bytes is larger than 1 GiB",
                                                 file.string(), size));
  }
  std::ifstream in(file, std::ios::binary);
  std::string text(static_cast<std::size_t>(size), '\0');
  if (!in || !in.read(text.data(), static_cast<std::streamsize>(size))) {
    return fail(errc::io, fmt::format("[load_tokenizer] {}: cannot read", file.string()));
  }
  return text;
}

void tame_big_integers(std::string& json) {
  std::string out;
  bool in_string = false;
  for (std::size_t i = 0; i < json.size();) {
    const char c = json[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < json.size()) out.push_back(json[++i]);
      else if (c == '"') in_string = false;
      ++i;
      continue;
    }
    if (c == '"') in_string = true;
    if (c >= '0' && c <= '9') {
      std::size_t end = i;
      while (end < json.size() && json[end] >= '0' && json[end] <= '9') ++end;
      const bool integer = end >= json.size() || (json[end] != '.' && json[end] != 'e' && json[end] != 'E');
      out.append(integer && end - i >= 20 ? std::string_view("1e30") : std::string_view(json).substr(i, end - i));
      i = end;
      continue;
    }
    out.push_back(c);
    ++i;
  }
  json = std::move(out);
}

error json_fields::bad(std::string_view field, std::string_view problem) const {
  return error{errc::invalid_model, fmt::format("[load_tokenizer] {}: field '{}' {}", file_, field, problem)};
}

result<simdjson::dom::element> json_fields::parse(simdjson::dom::parser& parser, const std::string& text) const {
  simdjson::dom::element doc;
  if (const auto err = parser.parse(text).get(doc); err) {
    return fail(errc::invalid_model,
                fmt::format("[load_tokenizer] {}: invalid JSON: {}", file_, simdjson::error_message(err)));
  }
  if (doc.type() != simdjson::dom::element_type::OBJECT) {
    return fail(errc::invalid_model, fmt::format("[load_tokenizer] {}: top level is not a JSON object", file_));
  }
  return doc;
}

std::optional<simdjson::dom::element> json_fields::member(simdjson::dom::object obj, std::string_view key) {
  simdjson::dom::element e;
  if (obj.at_key(key).get(e)) return std::nullopt;
  return e;
}

result<simdjson::dom::object> json_fields::object(simdjson::dom::element e, std::string_view field) const {
  simdjson::dom::object o;
  if (e.get(o)) return tl::unexpected(bad(field, "must be an object"));
  return o;
}

result<simdjson::dom::array> json_fields::array(simdjson::dom::element e, std::string_view field) const {
  simdjson::dom::array a;
  if (e.get(a)) return tl::unexpected(bad(field, "must be an array"));
  return a;
}

result<std::string_view> json_fields::string(simdjson::dom::element e, std::string_view field) const {
  std::string_view s;
  if (e.get(s)) return tl::unexpected(bad(field, "must be a string"));
  return s;
}

result<bool> json_fields::boolean(simdjson::dom::element e, std::string_view field) const {
  bool b = false;
  if (e.get(b)) return tl::unexpected(bad(field, "must be true or false"));
  return b;
}

result<std::uint64_t> json_fields::integer(simdjson::dom::element e, std::string_view field,
                                           std::uint64_t max) const {
  std::uint64_t v = 0;
  if (e.get(v)) return tl::unexpected(bad(field, "must be a non-negative integer"));
  if (v > max) return tl::unexpected(bad(field, fmt::format("value {} is above the limit {}", v, max)));
  return v;
}

result<bool> json_fields::boolean_or(simdjson::dom::object obj, std::string_view key, std::string_view path,
                                     bool fallback) const {
  const auto e = member(obj, key);
  if (!e || is_null(*e)) return fallback;
  return boolean(*e, path);
}

result<std::string> json_fields::string_or(simdjson::dom::object obj, std::string_view key,
                                           std::string_view path, std::string fallback) const {
  const auto e = member(obj, key);
  if (!e || is_null(*e)) return fallback;
  auto s = string(*e, path);
  if (!s) return tl::unexpected(s.error());
  return std::string(*s);
}

result<std::uint64_t> json_fields::integer_or(simdjson::dom::object obj, std::string_view key,
                                              std::string_view path, std::uint64_t max,
                                              std::uint64_t fallback) const {
  const auto e = member(obj, key);
  if (!e || is_null(*e)) return fallback;
  return integer(*e, path, max);
}

}  // namespace safetensors::model::detail
