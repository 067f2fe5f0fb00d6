// Test support shared by every C++ test: temp folders, file bytes, and safetensors files built
// by hand (raw header text) or through the writer (tensor_source / metadata_map shorthands).
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "safetensors/writer.hpp"

namespace safetensors::test {

using bytes = std::vector<std::byte>;

// ------------------------------------------------------------------------------------ bytes

inline bytes to_bytes(std::string_view s) {
  bytes out(s.size());
  if (!s.empty()) std::memcpy(out.data(), s.data(), s.size());
  return out;
}
inline bytes to_bytes(std::initializer_list<int> values) {
  bytes out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}
inline std::string as_string(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}
/// The little-endian bytes of `values` (this machine is little-endian).
template <class T>
bytes le_bytes(std::initializer_list<T> values) {
  bytes out(values.size() * sizeof(T));
  std::size_t i = 0;
  for (T v : values) std::memcpy(out.data() + sizeof(T) * i++, &v, sizeof(T));
  return out;
}

// ------------------------------------------------------------------ hand-made safetensors files

/// Length prefix only (any value), followed by `rest`.
inline bytes with_length(std::uint64_t n, std::string_view rest) {
  bytes out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
  const bytes tail = to_bytes(rest);
  out.insert(out.end(), tail.begin(), tail.end());
  return out;
}
/// 8-byte little-endian length + header text + data bytes.
inline bytes make_file(std::string_view header, std::string_view data = {}) {
  bytes out = with_length(header.size(), header);
  const bytes tail = to_bytes(data);
  out.insert(out.end(), tail.begin(), tail.end());
  return out;
}
/// Same with `data_len` zero bytes of data.
inline bytes make_file(std::string_view header, std::size_t data_len) {
  return make_file(header, std::string(data_len, '\0'));
}

// ---------------------------------------------------------------------- writer input shorthands

inline tensor_source source(std::string name, dtype t, std::vector<std::uint64_t> shape,
                            std::span<const std::byte> data) {
  tensor_source s;
  s.name = std::move(name);
  s.type = t;
  s.shape = std::move(shape);
  s.data = data;
  return s;
}
inline metadata_map meta(std::vector<std::pair<std::string, std::string>> entries) {
  metadata_map m;
  m.present = true;
  m.entries = std::move(entries);
  return m;
}

// ----------------------------------------------------------------------------- files, folders

inline bytes read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return to_bytes(s);
}
inline void write_all(const std::filesystem::path& p, std::string_view content) {
  std::ofstream out(p, std::ios::binary);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}
inline void write_all(const std::filesystem::path& p, std::span<const std::byte> content) {
  write_all(p, std::string_view(reinterpret_cast<const char*>(content.data()), content.size()));
}

/// A fresh folder under std::filesystem::temp_directory_path() ($TMPDIR), removed with its
/// content on destruction.
class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "st-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }
  /// Writes `content` to the file `name` in the folder; returns its path.
  std::filesystem::path write(std::string_view name, std::span<const std::byte> content) const {
    auto p = path_ / name;
    write_all(p, content);
    return p;
  }
  std::filesystem::path write(std::string_view name, std::string_view content) const {
    auto p = path_ / name;
    write_all(p, content);
    return p;
  }
  /// File names in the folder, sorted.
  std::vector<std::string> list() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path_))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::filesystem::path path_;
};

/// The source tree (for tests/data/...).
inline std::filesystem::path source_dir() { return std::filesystem::path(SAFETENSORS_SOURCE_DIR); }

}  // namespace safetensors::test
