// Helpers shared by the tokenizer loaders: file reading and typed JSON field access with
// invalid_model errors that name the file and the field.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "safetensors/error.hpp"

namespace safetensors::model::detail {

/// Rewrites integers of 20 or more digits (outside strings) as 1e30: transformers writes
/// model_max_length = 1000000000000000019884624838656 ("no limit"), which simdjson refuses.
void tame_big_integers(std::string& json);

/// Reads a whole file (at most 1 GiB): io error naming it when missing or unreadable.
result<std::string> read_text_file(const std::filesystem::path& file);

/// Field access over one parsed file; every error names the file and the field path.
class json_fields {
 public:
  explicit json_fields(std::string file) : file_(std::move(file)) {}
  const std::string& file() const noexcept { return file_; }

  error bad(std::string_view field, std::string_view problem) const;

  /// Parses `text` (held by the caller) into `doc`.
  result<simdjson::dom::element> parse(simdjson::dom::parser& parser, const std::string& text) const;

  /// The member `key` of object `obj`, or nullopt when absent.
  static std::optional<simdjson::dom::element> member(simdjson::dom::object obj, std::string_view key);
  static bool is_null(simdjson::dom::element e) noexcept {
    return e.type() == simdjson::dom::element_type::NULL_VALUE;
  }

  result<simdjson::dom::object> object(simdjson::dom::element e, std::string_view field) const;
  result<simdjson::dom::array> array(simdjson::dom::element e, std::string_view field) const;
  result<std::string_view> string(simdjson::dom::element e, std::string_view field) const;
  result<bool> boolean(simdjson::dom::element e, std::string_view field) const;
  /// A non-negative integer not above `max`.
  result<std::uint64_t> integer(simdjson::dom::element e, std::string_view field, std::uint64_t max) const;

  /// Optional typed members: the default when absent (or null, for the nullable ones).
  result<bool> boolean_or(simdjson::dom::object obj, std::string_view key, std::string_view path, bool fallback) const;
  result<std::string> string_or(simdjson::dom::object obj, std::string_view key, std::string_view path,
                                std::string fallback) const;
  result<std::uint64_t> integer_or(simdjson::dom::object obj, std::string_view key, std::string_view path,
                                   std::uint64_t max, std::uint64_t fallback) const;

 private:
  std::string file_;
};

}  // namespace safetensors::model::detail
