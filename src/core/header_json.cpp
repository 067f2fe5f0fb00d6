// Strict header JSON: simdjson's DOM parser (RFC 8259, whole-document validation) plus the
// schema of the reference's serde types, checked in the order serde reports errors.
//
// Deliberately not built on the libraries' field reader (core/json_fields.hpp), which every other
// JSON document goes through: a header's errors must carry the reference's kinds and serde's
// order (invalid_json for a repeated `__metadata__` or entry field, duplicate_key for a repeated
// metadata key or tensor name), and its duplicate checks come free with work done anyway (the
// sorted metadata, the tensor-name index, three flags per entry), where the reader's walk over
// every object plus a path string per value would add to the ~25 ms a 100,000-tensor header
// takes. The two share simdjson, the UTF-8 validator and ascii_escaped().
#include "core/header_json.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cstring>

#include "core/mapped_file.hpp"
#include "core/text_util.hpp"
#include "core/try.hpp"

namespace safetensors::detail {
namespace {

// serde_json refuses nesting deeper than 127 levels (remaining_depth 128); simdjson with
// max_depth 128 accepts exactly 127 levels.
constexpr std::size_t serde_max_depth = 128;

using simdjson::dom::element;
using simdjson::dom::element_type;

tl::unexpected<error> json_error(std::string_view source, std::string_view what) {
  return fail(errc::invalid_json, fmt::format("{}: invalid JSON in header: {}", source, what));
}

// simdjson's DOM keeps no source text, and reads `-0` as the integer 0, which serde rejects as
// a usize. Integer `-0` tokens outside strings are rewritten to `-1` (same validity, same
// rejection for usize fields, still ignored in unknown fields). `fix` = false only detects.
bool negative_zero_tokens(std::string_view text, char* fix) {
  if (text.find('-') == std::string_view::npos) return false;
  bool found = false, in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '-' && i + 1 < text.size() && text[i + 1] == '0') {
      char next = i + 2 < text.size() ? text[i + 2] : ' ';
      bool continues = (next >= '0' && next <= '9') || next == '.' || next == 'e' || next == 'E';
      if (!continues) {
        found = true;
        if (!fix) return true;
        fix[i + 1] = '1';
      }
    }
  }
  return found;
}

std::string_view type_name(element_type t) {
  switch (t) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::INT64:
    case element_type::UINT64:
      return "an integer";
    case element_type::DOUBLE:
      return "a floating-point number";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "a value";
}

struct entry_context {
  std::string_view source;
  std::string_view name;
  tl::unexpected<error> err(std::string_view what) const {
    return json_error(source, fmt::format("tensor '{}': {}", ascii_escaped(name), what));
  }
};

result<std::uint64_t> read_usize(const entry_context& ctx, element v, std::string_view field) {
  std::uint64_t out = 0;
  if (v.type() != element_type::INT64 && v.type() != element_type::UINT64) {
    return ctx.err(
        fmt::format("{} holds {}, expected a non-negative integer", field, type_name(v.type())));
  }
  if (v.get_uint64().get(out) != simdjson::SUCCESS) {
    return ctx.err(fmt::format("{} holds a negative integer", field));
  }
  return out;
}

result<void> read_dtype(const entry_context& ctx, element v, tensor_info& t) {
  std::string_view name;
  if (v.get_string().get(name) != simdjson::SUCCESS) {
    return ctx.err(
        fmt::format("dtype is {}, expected a string such as \"F32\"", type_name(v.type())));
  }
  auto d = dtype_from_name(name);
  if (!d) {
    return fail(errc::unknown_dtype, fmt::format("{}: tensor '{}': unknown dtype '{}'", ctx.source,
                                                 ascii_escaped(ctx.name), ascii_escaped(name)));
  }
  t.type = *d;
  return {};
}

result<void> read_shape(const entry_context& ctx, element v, tensor_info& t) {
  simdjson::dom::array arr;
  if (v.get_array().get(arr) != simdjson::SUCCESS) {
    return ctx.err(fmt::format("shape is {}, expected an array", type_name(v.type())));
  }
  t.shape.reserve(arr.size());
  for (element d : arr) {
    t.shape.push_back(ST_TRY(read_usize(ctx, d, "shape")));
  }
  return {};
}

result<void> read_offsets(const entry_context& ctx, element v, tensor_info& t) {
  simdjson::dom::array arr;
  if (v.get_array().get(arr) != simdjson::SUCCESS) {
    return ctx.err(fmt::format("data_offsets is {}, expected [begin, end]", type_name(v.type())));
  }
  if (arr.size() != 2) {
    return ctx.err(fmt::format("data_offsets has {} elements, expected 2", arr.size()));
  }
  t.begin = ST_TRY(read_usize(ctx, arr.at(0).value_unsafe(), "data_offsets"));
  t.end = ST_TRY(read_usize(ctx, arr.at(1).value_unsafe(), "data_offsets"));
  return {};
}

result<tensor_info> read_tensor(std::string_view source, std::string_view name, element v) {
  entry_context ctx{source, name};
  simdjson::dom::object obj;
  if (v.get_object().get(obj) != simdjson::SUCCESS) {
    return ctx.err(fmt::format("entry is {}, expected an object with dtype, shape and data_offsets",
                               type_name(v.type())));
  }
  tensor_info t;
  t.name = std::string(name);
  bool seen[3] = {false, false, false};
  static constexpr std::string_view fields[3] = {"dtype", "shape", "data_offsets"};
  for (auto [key, value] : obj) {
    auto it = std::find(std::begin(fields), std::end(fields), key);
    if (it == std::end(fields)) continue;  // unknown fields are ignored, like the reference
    auto k = static_cast<std::size_t>(it - std::begin(fields));
    if (seen[k]) return ctx.err(fmt::format("duplicate field '{}'", key));
    seen[k] = true;
    ST_TRY(k == 0   ? read_dtype(ctx, value, t)
           : k == 1 ? read_shape(ctx, value, t)
                    : read_offsets(ctx, value, t));
  }
  for (std::size_t k = 0; k < 3; ++k) {
    if (!seen[k]) return ctx.err(fmt::format("missing field '{}'", fields[k]));
  }
  return t;
}

result<void> read_metadata(std::string_view source, element v, metadata_map& out) {
  if (v.is_null()) return {};
  simdjson::dom::object obj;
  if (v.get_object().get(obj) != simdjson::SUCCESS) {
    return json_error(source,
                      fmt::format("__metadata__ is {}, expected an object of strings or null",
                                  type_name(v.type())));
  }
  out.present = true;
  out.entries.reserve(obj.size());
  for (auto [key, value] : obj) {
    std::string_view s;
    if (value.get_string().get(s) != simdjson::SUCCESS) {
      return json_error(source, fmt::format("__metadata__ '{}' is {}, expected a string",
                                            ascii_escaped(key), type_name(value.type())));
    }
    out.entries.emplace_back(std::string(key), std::string(s));
  }
  return {};
}

// Metadata keys sorted byte-wise; a repeated key is our deviation (the reference keeps the last).
result<void> sort_metadata(std::string_view source, metadata_map& m) {
  std::stable_sort(m.entries.begin(), m.entries.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  auto dup = std::adjacent_find(m.entries.begin(), m.entries.end(),
                                [](const auto& a, const auto& b) { return a.first == b.first; });
  if (dup != m.entries.end()) {
    return fail(errc::duplicate_key, fmt::format("{}: __metadata__ key '{}' appears more than once",
                                                 source, ascii_escaped(dup->first)));
  }
  return {};
}

// Headers up to this size reuse one parser per thread (its buffers stay allocated, avoiding
// fresh-page faults on every open); larger ones get a parser that is freed afterwards.
constexpr std::size_t cached_parser_limit = 16u << 20;

simdjson::dom::parser& cached_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

// The padded copy of a header that cannot be parsed in place, reused the same way.
std::string& cached_copy() {
  thread_local std::string copy;
  return copy;
}

result<element> parse_document(simdjson::dom::parser& parser, std::string_view json, bool padded,
                               std::string& copy, std::string_view source) {
  if (parser.capacity() < json.size() || parser.max_depth() != serde_max_depth) {
    if (parser.allocate(std::max<std::size_t>(json.size(), 4096), serde_max_depth) !=
        simdjson::SUCCESS) {
      return fail(errc::invalid_json, fmt::format("{}: cannot allocate the JSON parser", source));
    }
    // A big header's first parse is dominated by first-touch faults on these fresh buffers
    // (sizes as simdjson's document::allocate and dom_parser_implementation compute them). The
    // document's buffers are allocated here, not lazily in parse(), so that they can be advised.
    const std::size_t cap = parser.capacity();
    if (parser.doc.capacity() < cap && parser.doc.allocate(cap) != simdjson::SUCCESS) {
      return fail(errc::invalid_json, fmt::format("{}: cannot allocate the JSON parser", source));
    }
    advise_huge_pages(parser.doc.tape.get(), (cap + 3) * sizeof(std::uint64_t));
    advise_huge_pages(parser.doc.string_buf.get(), 5 * cap / 3);
    advise_huge_pages(parser.implementation->structural_indexes.get(), cap * sizeof(std::uint32_t));
  }
  const char* text = json.data();
  if (!padded || negative_zero_tokens(json, nullptr)) {
    copy.reserve(json.size() + simdjson::SIMDJSON_PADDING);
    copy.assign(json);
    negative_zero_tokens(copy, copy.data());
    text = copy.data();
  }
  element root;
  auto err = parser.parse(text, json.size(), false).get(root);
  if (err != simdjson::SUCCESS) {
    return json_error(source, json.find_first_not_of(" \t\r\n") == std::string_view::npos
                                  ? "EOF while parsing (no JSON value)"
                                  : simdjson::error_message(err));
  }
  if (!root.is_object()) {
    return json_error(source,
                      fmt::format("the header is {}, expected an object", type_name(root.type())));
  }
  return root;
}

}  // namespace

result<parsed_json> parse_header_json(std::string_view json, std::string_view source, bool padded) {
  const bool cached = json.size() <= cached_parser_limit;
  simdjson::dom::parser local_parser;
  std::string local_copy;
  simdjson::dom::parser& parser = cached ? cached_parser() : local_parser;
  std::string& copy = cached ? cached_copy() : local_copy;
  const simdjson::dom::element root = ST_TRY(parse_document(parser, json, padded, copy, source));
  simdjson::dom::object obj = root.get_object().value_unsafe();
  parsed_json out;
  // serde deserializes `__metadata__` while visiting the map and the flattened tensor entries
  // afterwards, so metadata errors win over tensor errors.
  bool have_metadata = false;
  for (auto [key, value] : obj) {
    if (key != "__metadata__") continue;
    if (have_metadata) return json_error(source, "duplicate field '__metadata__'");
    have_metadata = true;
    ST_TRY(read_metadata(source, value, out.metadata));
  }
  out.tensors.reserve(obj.size());
  advise_huge_pages(out.tensors.data(), obj.size() * sizeof(tensor_info));
  for (auto [key, value] : obj) {
    if (key == "__metadata__") continue;
    out.tensors.push_back(ST_TRY(read_tensor(source, key, value)));
  }
  ST_TRY(sort_metadata(source, out.metadata));
  return out;
}

}  // namespace safetensors::detail
