// Private: the one strict reader of small JSON documents (index.json, config.json,
// tokenizer.json, tokenizer_config.json, HTTP request bodies), on simdjson's DOM.
//
// Every error names the document and the field in one form:
//   <source>: field '<path>': <what>
// where <path> joins keys with '.' (`model.vocab`), writes a key that is not an identifier in
// brackets (`weight_map["a.weight"]`, `id2label["0"]`) and array elements by index
// (`added_tokens[3].content`). Whole-document problems read `<source>: invalid JSON: ...` and
// `<source>: not a JSON object`.
//
// The safetensors header has its own parser (core/header_json.cpp): see the note there.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "safetensors/error.hpp"

namespace safetensors::detail {

class json_object;
class json_array;

/// What every value of one document shares: its name in messages and the error kind.
struct json_source {
  std::string name;
  errc kind;
};

/// Where a value is (its document and path): the one place that words field errors.
class json_place {
 public:
  const std::string& path() const noexcept { return path_; }
  /// `<source>: field '<path>': <what>`, of the document's kind.
  error bad(std::string_view what) const;

 protected:
  json_place(const json_source* source, std::string path)
      : source_(source), path_(std::move(path)) {}
  const json_source* source_;
  std::string path_;
};

/// One value of a document. Cheap to copy; valid while its json_document lives.
class json_value : public json_place {
 public:
  json_value(simdjson::dom::element e, const json_source* source, std::string path)
      : json_place(source, std::move(path)), e_(e) {}

  simdjson::dom::element raw() const noexcept { return e_; }
  bool is_null() const noexcept { return e_.is_null(); }
  bool is_string() const noexcept { return e_.is_string(); }
  bool is_array() const noexcept { return e_.is_array(); }
  bool is_object() const noexcept { return e_.is_object(); }

  /// Typed reads; a value of another type is "must be an object" etc.
  result<json_object> object() const;
  result<json_array> array() const;
  result<std::string_view> string() const;
  result<bool> boolean() const;
  /// A non-negative integer (no fraction, no exponent) not above `max`.
  result<std::uint64_t> u64(std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) const;
  /// Any JSON number.
  result<double> number() const;

 private:
  simdjson::dom::element e_;
};

class json_object : public json_place {
 public:
  json_object(simdjson::dom::object o, const json_source* source, std::string path)
      : json_place(source, std::move(path)), o_(o) {}

  std::size_t size() const noexcept { return o_.size(); }

  /// The member `key` when present (null included).
  std::optional<json_value> find(std::string_view key) const;
  /// The member `key` when present and not null: absent and null both mean "not given".
  std::optional<json_value> optional(std::string_view key) const;
  /// The member `key`; "is missing" when absent.
  result<json_value> required(std::string_view key) const;

  /// Optional typed members: `fallback` when absent or null.
  result<std::string> string_or(std::string_view key, std::string fallback) const;
  result<bool> bool_or(std::string_view key, bool fallback) const;
  result<std::uint64_t> u64_or(std::string_view key, std::uint64_t max,
                               std::uint64_t fallback) const;

  /// The unknown-field policy "reject": "unknown field" for the first key not in `known`.
  /// (Without this call unknown fields are ignored.)
  result<void> only(std::initializer_list<std::string_view> known) const;

  /// Members in document order (keys are unique: the document was checked).
  std::vector<std::pair<std::string_view, json_value>> members() const;

  /// bad() for the member `key`, present or not (a field that is missing, or wrong only
  /// together with others).
  error bad_member(std::string_view key, std::string_view what) const;

 private:
  json_value child(std::string_view key, simdjson::dom::element e) const;

  simdjson::dom::object o_;
};

class json_array : public json_place {
 public:
  json_array(simdjson::dom::array a, const json_source* source, std::string path)
      : json_place(source, std::move(path)), a_(a) {}

  std::size_t size() const noexcept { return a_.size(); }
  json_value at(std::size_t i) const;  ///< i < size()
  std::vector<json_value> items() const;

 private:
  simdjson::dom::array a_;
};

/// A parsed document. parse() accepts only strict JSON (RFC 8259) whose top level is an object
/// and in which no object names a key twice (simdjson keeps both; a document that says two
/// things is refused, whatever the field). Errors are of `kind` and name `source`.
class json_document {
 public:
  static result<json_document> parse(std::string_view text, std::string source, errc kind);

  json_object root() const;
  const std::string& source() const noexcept { return source_->name; }
  /// `<source>: <what>` of the document's kind (a problem of the whole document).
  error bad(std::string_view what) const;

 private:
  json_document() = default;
  std::unique_ptr<simdjson::dom::parser> parser_;  // owns the DOM the values point into
  std::unique_ptr<json_source> source_;            // a stable address for the values
  simdjson::dom::object root_;
};

/// `path` + one key, in the path notation above.
std::string json_key_path(std::string_view path, std::string_view key);

}  // namespace safetensors::detail
