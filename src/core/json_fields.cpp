#include "core/json_fields.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/text_util.hpp"
#include "core/try.hpp"

namespace safetensors::detail {
namespace {

using simdjson::dom::element;

error field_error(const json_source* source, std::string_view path, std::string_view what) {
  return error{source->kind, fmt::format("{}: field '{}': {}", source->name, path, what)};
}

bool is_identifier(std::string_view key) noexcept {
  if (key.empty() || (key[0] >= '0' && key[0] <= '9')) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string index_path(std::string_view path, std::size_t i) {
  return fmt::format("{}[{}]", path, i);
}

// `prefix` followed by a path relative to it (`b.c`, `["x"]`, `[2]`, or nothing).
std::string join_relative(std::string prefix, std::string_view rest) {
  if (rest.empty()) return prefix;
  if (rest.front() != '[' && !prefix.empty()) prefix += '.';
  prefix += rest;
  return prefix;
}

// A key repeated inside one object. Small objects compare pairwise; large ones (a vocabulary,
// a weight_map) sort their keys once.
std::optional<std::string_view> repeated_key(simdjson::dom::object obj) {
  constexpr std::size_t pairwise_limit = 16;
  std::vector<std::string_view> keys;
  keys.reserve(std::min<std::size_t>(obj.size(), 1u << 20));
  for (auto field : obj) {
    if (keys.size() < pairwise_limit &&
        std::find(keys.begin(), keys.end(), field.key) != keys.end()) {
      return field.key;
    }
    keys.push_back(field.key);
  }
  if (keys.size() <= pairwise_limit) return std::nullopt;
  std::sort(keys.begin(), keys.end());
  if (auto dup = std::adjacent_find(keys.begin(), keys.end()); dup != keys.end()) return *dup;
  return std::nullopt;
}

// The path (relative to `e`) of the first repeated key in `e` or below it. simdjson's depth
// limit bounds the recursion.
std::optional<std::string> first_repeated_key(element e) {
  if (e.is_object()) {
    const auto obj = e.get_object().value_unsafe();
    if (auto dup = repeated_key(obj)) return json_key_path("", *dup);
    for (auto field : obj) {
      if (!field.value.is_object() && !field.value.is_array()) continue;
      if (auto inner = first_repeated_key(field.value)) {
        return join_relative(json_key_path("", field.key), *inner);
      }
    }
  } else if (e.is_array()) {
    const simdjson::dom::array arr = e.get_array().value_unsafe();
    std::size_t i = 0;
    for (element item : arr) {
      if ((item.is_object() || item.is_array())) {
        if (auto inner = first_repeated_key(item)) return join_relative(index_path("", i), *inner);
      }
      ++i;
    }
  }
  return std::nullopt;
}

}  // namespace

std::string json_key_path(std::string_view path, std::string_view key) {
  if (is_identifier(key)) return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
  return fmt::format("{}[\"{}\"]", path, ascii_escaped(key));
}

// ---- json_value ----------------------------------------------------------------------------

error json_place::bad(std::string_view what) const { return field_error(source_, path_, what); }

result<json_object> json_value::object() const {
  simdjson::dom::object o;
  if (e_.get_object().get(o)) return tl::unexpected(bad("must be an object"));
  return json_object(o, source_, path_);
}

result<json_array> json_value::array() const {
  simdjson::dom::array a;
  if (e_.get_array().get(a)) return tl::unexpected(bad("must be an array"));
  return json_array(a, source_, path_);
}

result<std::string_view> json_value::string() const {
  std::string_view s;
  if (e_.get_string().get(s)) return tl::unexpected(bad("must be a string"));
  return s;
}

result<bool> json_value::boolean() const {
  bool b = false;
  if (e_.get_bool().get(b)) return tl::unexpected(bad("must be true or false"));
  return b;
}

result<std::uint64_t> json_value::u64(std::uint64_t max) const {
  std::uint64_t v = 0;
  if (e_.get_uint64().get(v)) return tl::unexpected(bad("must be a non-negative integer"));
  if (v > max) return tl::unexpected(bad(fmt::format("{} is above the limit {}", v, max)));
  return v;
}

result<double> json_value::number() const {
  double v = 0;
  if (e_.get_double().get(v)) return tl::unexpected(bad("must be a number"));
  return v;
}

// ---- json_object ---------------------------------------------------------------------------

error json_object::bad_member(std::string_view key, std::string_view what) const {
  return field_error(source_, json_key_path(path_, key), what);
}

json_value json_object::child(std::string_view key, element e) const {
  return json_value(e, source_, json_key_path(path_, key));
}

std::optional<json_value> json_object::find(std::string_view key) const {
  element e;
  if (o_.at_key(key).get(e)) return std::nullopt;
  return child(key, e);
}

std::optional<json_value> json_object::optional(std::string_view key) const {
  auto v = find(key);
  if (v && v->is_null()) return std::nullopt;
  return v;
}

result<json_value> json_object::required(std::string_view key) const {
  auto v = find(key);
  if (!v) return tl::unexpected(bad_member(key, "is missing"));
  return std::move(*v);
}

result<std::string> json_object::string_or(std::string_view key, std::string fallback) const {
  const auto v = optional(key);
  if (!v) return fallback;
  return std::string(ST_TRY(v->string()));
}

result<bool> json_object::bool_or(std::string_view key, bool fallback) const {
  const auto v = optional(key);
  return v ? v->boolean() : fallback;
}

result<std::uint64_t> json_object::u64_or(std::string_view key, std::uint64_t max,
                                          std::uint64_t fallback) const {
  const auto v = optional(key);
  return v ? v->u64(max) : fallback;
}

result<void> json_object::only(std::initializer_list<std::string_view> known) const {
  for (auto field : o_) {
    if (std::find(known.begin(), known.end(), field.key) == known.end()) {
      return tl::unexpected(bad_member(field.key, "unknown field"));
    }
  }
  return {};
}

std::vector<std::pair<std::string_view, json_value>> json_object::members() const {
  std::vector<std::pair<std::string_view, json_value>> out;
  out.reserve(o_.size());
  for (auto field : o_) out.emplace_back(field.key, child(field.key, field.value));
  return out;
}

// ---- json_array ----------------------------------------------------------------------------

json_value json_array::at(std::size_t i) const {
  return json_value(a_.at(i).value_unsafe(), source_, index_path(path_, i));
}

std::vector<json_value> json_array::items() const {
  std::vector<json_value> out;
  out.reserve(a_.size());
  std::size_t i = 0;
  for (element e : a_) out.emplace_back(e, source_, index_path(path_, i++));
  return out;
}

// ---- json_document -------------------------------------------------------------------------

error json_document::bad(std::string_view what) const {
  return error{source_->kind, fmt::format("{}: {}", source_->name, what)};
}

result<json_document> json_document::parse(std::string_view text, std::string source, errc kind) {
  json_document doc;
  doc.parser_ = std::make_unique<simdjson::dom::parser>();
  doc.source_ = std::make_unique<json_source>(json_source{std::move(source), kind});
  element root;
  if (auto err = doc.parser_->parse(text.data(), text.size()).get(root)) {
    return tl::unexpected(doc.bad(fmt::format("invalid JSON: {}", simdjson::error_message(err))));
  }
  if (root.get_object().get(doc.root_)) return tl::unexpected(doc.bad("not a JSON object"));
  if (auto dup = first_repeated_key(root)) {
    return tl::unexpected(field_error(doc.source_.get(), *dup, "duplicate key"));
  }
  return doc;
}

json_object json_document::root() const { return json_object(root_, source_.get(), ""); }

}  // namespace safetensors::detail
