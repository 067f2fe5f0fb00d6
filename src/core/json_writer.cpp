#include "safetensors/json_writer.hpp"

#include <charconv>
#include <cmath>

#include "core/mapped_file.hpp"

namespace safetensors {

namespace {

void append_escape(std::string& out, unsigned char u) {
  static constexpr char hex[] = "0123456789abcdef";
  switch (u) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:  // the other control characters
      out += "\\u00";
      out.push_back(hex[u >> 4]);
      out.push_back(hex[u & 0xf]);
  }
}

}  // namespace

// Runs of characters that need no escape are appended whole.
void json_quote_to(std::string& out, std::string_view s) {
  out.push_back('"');
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x20 && u != '"' && u != '\\') continue;
    out.append(s.data() + run, i - run);
    append_escape(out, u);
    run = i + 1;
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

namespace {

// serde_json prints f64 through ryu: the shortest round-trip digits, laid out as plain decimal
// ("1.0", "0.0001", "1000000000000000.0") when the decimal exponent is in (-5, 16], otherwise
// as "1e16" / "1.5e-7". std::to_chars gives the same shortest digits; only the layout differs.
void append_double(std::string& out, double v) {
  char buf[40];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(r.ptr - buf));
  if (sci.front() == '-') {
    out.push_back('-');
    sci.remove_prefix(1);
  }
  const auto e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c != '.') digits.push_back(c);
  }
  int exp10 = 0;
  std::from_chars(sci.data() + e_pos + (sci[e_pos + 1] == '+' ? 2 : 1), sci.data() + sci.size(),
                  exp10);
  const int length = static_cast<int>(digits.size());
  const int kk = exp10 + 1;  // position of the decimal point relative to the first digit
  if (kk >= length && kk <= 16) {
    out += digits;
    out.append(static_cast<std::size_t>(kk - length), '0');
    out += ".0";
  } else if (kk > 0 && kk <= 16) {
    out.append(digits, 0, static_cast<std::size_t>(kk));
    out.push_back('.');
    out.append(digits, static_cast<std::size_t>(kk));
  } else if (kk > -5 && kk <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-kk), '0');
    out += digits;
  } else {
    out.push_back(digits[0]);
    if (length > 1) {
      out.push_back('.');
      out.append(digits, 1);
    }
    out.push_back('e');
    out += std::to_string(kk - 1);
  }
}

}  // namespace

std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  json_quote_to(out, s);
  return out;
}

void json_writer::reserve(std::size_t bytes) {
  if (bytes <= out_.capacity()) return;
  std::string bigger;
  bigger.reserve(bytes);
  detail::advise_huge_pages(bigger.data(), bytes);
  bigger.append(out_);
  out_ = std::move(bigger);
}

void json_writer::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_.push_back(',');
    first_.back() = false;
  }
}

json_writer& json_writer::begin_object() {
  before_value();
  out_.push_back('{');
  first_.push_back(true);
  return *this;
}
json_writer& json_writer::end_object() {
  out_.push_back('}');
  first_.pop_back();
  return *this;
}
json_writer& json_writer::begin_array() {
  before_value();
  out_.push_back('[');
  first_.push_back(true);
  return *this;
}
json_writer& json_writer::end_array() {
  out_.push_back(']');
  first_.pop_back();
  return *this;
}
json_writer& json_writer::key(std::string_view k) {
  before_value();
  json_quote_to(out_, k);
  out_.push_back(':');
  after_key_ = true;
  return *this;
}
json_writer& json_writer::value(std::string_view s) {
  before_value();
  json_quote_to(out_, s);
  return *this;
}
json_writer& json_writer::value(std::uint64_t v) {
  before_value();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
  return *this;
}
json_writer& json_writer::value(std::int64_t v) {
  before_value();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
  return *this;
}
json_writer& json_writer::value(double v) {
  before_value();
  if (!std::isfinite(v)) {
    out_ += "null";
    return *this;
  }
  append_double(out_, v);
  return *this;
}
json_writer& json_writer::value(bool v) {
  before_value();
  out_ += v ? "true" : "false";
  return *this;
}
json_writer& json_writer::null() {
  before_value();
  out_ += "null";
  return *this;
}
json_writer& json_writer::raw(std::string_view json) {
  before_value();
  out_ += json;
  return *this;
}

}  // namespace safetensors
