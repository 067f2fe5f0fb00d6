// SHA-256 for `hash`: OpenSSL's libcrypto, loaded with dlopen() on first use (no other command
// loads it; the core library never sees it). Streaming and one-shot forms, file digests equal
// to sha256sum.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>

#include "safetensors/error.hpp"

namespace safetensors::cli {

using sha256_digest = std::array<std::uint8_t, 32>;

/// Loads libcrypto (once); unsupported, saying why, when it cannot be loaded. Call before the
/// first digest: the constructor throws when it is not available.
result<void> sha256_available();

class sha256 {
 public:
  sha256();
  ~sha256();
  sha256(const sha256&) = delete;
  sha256& operator=(const sha256&) = delete;
  void update(std::span<const std::byte> bytes);
  void update(std::string_view text) { update(std::as_bytes(std::span(text))); }
  sha256_digest finish();

 private:
  void* ctx_;  // EVP_MD_CTX
};

sha256_digest sha256_of(std::span<const std::byte> bytes);

/// Lowercase hex, 64 characters.
std::string hex(const sha256_digest& d);

/// The SHA-256 of a whole file (read sequentially); `progress(bytes)` is called after each
/// block. Errors: io naming the file.
result<sha256_digest> sha256_file(const std::filesystem::path& path,
                                  const std::function<void(std::uint64_t)>& progress = {});

}  // namespace safetensors::cli
