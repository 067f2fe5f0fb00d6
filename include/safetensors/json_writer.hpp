// A small compact JSON writer (serde_json's escaping and number formatting), used for headers,
// index files, --json output and HTTP bodies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace safetensors {

/// serde_json string escaping, quotes included: `"` and `\` backslash-escaped; \b \f \n \r \t
/// short; other bytes below 0x20 as \u00XX (lowercase hex); everything else raw.
std::string json_quote(std::string_view s);
void json_quote_to(std::string& out, std::string_view s);

/// Streaming writer: commas and nesting are handled; the caller emits keys and values in order.
///   json_writer w; w.begin_object(); w.key("a"); w.value(1); w.end_object(); w.str() == {"a":1}
class json_writer {
 public:
  json_writer& begin_object();
  json_writer& end_object();
  json_writer& begin_array();
  json_writer& end_array();
  json_writer& key(std::string_view k);
  json_writer& value(std::string_view s);
  json_writer& value(const char* s) { return value(std::string_view(s)); }
  json_writer& value(const std::string& s) { return value(std::string_view(s)); }
  json_writer& value(std::uint64_t v);
  json_writer& value(std::int64_t v);
  json_writer& value(int v) { return value(static_cast<std::int64_t>(v)); }
  json_writer& value(unsigned v) { return value(static_cast<std::uint64_t>(v)); }
  json_writer& value(double v);  ///< shortest round-trip form; NaN/Inf written as null
  json_writer& value(bool v);
  json_writer& null();
  json_writer& raw(std::string_view json);  ///< an already-serialized value
  const std::string& str() const noexcept { return out_; }
  std::string take() { return std::move(out_); }
  /// Room for output of a known size (large reservations are backed by huge pages).
  void reserve(std::size_t bytes);

 private:
  void before_value();
  std::string out_;
  std::vector<bool> first_;  ///< per open container: no element written yet
  bool after_key_ = false;
};

}  // namespace safetensors
