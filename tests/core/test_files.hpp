// Helpers to craft safetensors files in tests (bytes, temp files).
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

namespace safetensors::test {

using bytes = std::vector<std::byte>;

/// 8-byte little-endian length + header text + data bytes.
inline bytes make_file(std::string_view header, std::string_view data = {}) {
  bytes out(8);
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
  for (char c : header) out.push_back(static_cast<std::byte>(c));
  for (char c : data) out.push_back(static_cast<std::byte>(c));
  return out;
}
/// Same with `data_len` zero bytes of data.
inline bytes make_file(std::string_view header, std::size_t data_len) {
  return make_file(header, std::string(data_len, '\0'));
}
/// Length prefix only (any value), followed by `rest`.
inline bytes with_length(std::uint64_t n, std::string_view rest) {
  bytes out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
  for (char c : rest) out.push_back(static_cast<std::byte>(c));
  return out;
}
inline bytes from_string(std::string_view s) {
  bytes out;
  for (char c : s) out.push_back(static_cast<std::byte>(c));
  return out;
}
inline std::string to_string(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

/// A temporary directory removed at scope exit.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "st_test_XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path write(const std::string& name, std::span<const std::byte> content) const {
    auto p = path_ / name;
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(content.data()), static_cast<std::streamsize>(content.size()));
    return p;
  }

 private:
  std::filesystem::path path_;
};

inline std::filesystem::path source_dir() {
  return std::filesystem::path(SAFETENSORS_SOURCE_DIR);
}

}  // namespace safetensors::test
