#include "core/shard_set.hpp"

#include <fmt/format.h>

#include "core/text_util.hpp"
#include "core/try.hpp"
#include "core/utf8.hpp"

namespace safetensors::detail {
namespace fs = std::filesystem;

shard_set::shard_set(fs::path dir, std::string prefix, std::size_t count, bool fsync)
    : dir_(std::move(dir)), prefix_(std::move(prefix)), count_(count), fsync_(fsync) {}

fs::path shard_set::shard_path(std::size_t i) const {
  return dir_ / fmt::format("{}-{:05d}-of-{:05d}.safetensors", prefix_, i + 1, count_);
}

fs::path shard_set::index_path() const { return dir_ / (prefix_ + std::string(index_suffix)); }

result<void> shard_set::add(atomic_file prepared, std::span<const std::string_view> names,
                            std::uint64_t bytes) {
  if (prepared_.size() >= count_) {
    return fail(errc::invalid_argument,
                fmt::format("{}: more than {} shards", index_path().string(), count_));
  }
  const std::string file = shard_path(prepared_.size()).filename().string();
  for (auto name : names) {
    if (auto [it, fresh] = weight_map_.emplace(std::string(name), file); !fresh) {
      return fail(errc::duplicate_key,
                  fmt::format("{}: tensor '{}' is in two shards ('{}' and '{}')",
                              index_path().string(), ascii_escaped(name), it->second, file));
    }
  }
  prepared_.push_back(std::move(prepared));
  total_ += bytes;
  return {};
}

namespace {

/// A JSON string as Python's json.dumps writes it (ensure_ascii: every non-ASCII code point as
/// lowercase \uXXXX, surrogate pairs above U+FFFF). Names are valid UTF-8 (the writer checks).
std::string python_json_string(std::string_view s) {
  std::string out = "\"";
  const auto u = [&out](unsigned v) { out += fmt::format("\\u{:04x}", v); };
  for (std::size_t i = 0; i < s.size();) {
    const auto step = decode_utf8_at(s, i);
    i += step.length;
    const char32_t c = step.valid ? step.code_point : U'\uFFFD';
    switch (c) {
      case U'"':
        out += "\\\"";
        continue;
      case U'\\':
        out += "\\\\";
        continue;
      case U'\n':
        out += "\\n";
        continue;
      case U'\r':
        out += "\\r";
        continue;
      case U'\t':
        out += "\\t";
        continue;
      case U'\b':
        out += "\\b";
        continue;
      case U'\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    if (c < 0x20) {
      u(static_cast<unsigned>(c));
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c <= 0xFFFF) {
      u(static_cast<unsigned>(c));
    } else {
      const unsigned v = static_cast<unsigned>(c) - 0x10000;
      u(0xD800 + (v >> 10));
      u(0xDC00 + (v & 0x3FF));
    }
  }
  return out + '"';
}

}  // namespace

std::string shard_set::index_json() const {
  // As Hugging Face writes it: json.dumps(index, indent=2, sort_keys=True) + "\n" (weight_map_
  // is sorted byte-wise, which for UTF-8 is Python's code point order).
  std::string out = fmt::format("{{\n  \"metadata\": {{\n    \"total_size\": {}\n  }},\n", total_);
  out += "  \"weight_map\": {";
  bool first = true;
  for (const auto& [tensor, shard] : weight_map_) {
    out += first ? "\n    " : ",\n    ";
    first = false;
    out += python_json_string(tensor) + ": " + python_json_string(shard);
  }
  out += first ? "}\n}\n" : "\n  }\n}\n";
  return out;
}

result<std::vector<fs::path>> shard_set::publish() {
  if (prepared_.size() != count_) {
    return fail(errc::invalid_argument,
                fmt::format("{}: {} of {} shards written", index_path().string(), prepared_.size(),
                            count_));
  }
  auto index = ST_TRY(atomic_file::prepared_text(index_path(), index_json(), fsync_));
  std::vector<fs::path> written;
  for (std::size_t i = 0; i < count_; ++i) {
    ST_TRY(prepared_[i].publish());
    written.push_back(shard_path(i));
  }
  ST_TRY(index.publish());
  written.push_back(index_path());
  prepared_.clear();
  return written;
}

}  // namespace safetensors::detail
