#include "sha256.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <new>

namespace safetensors::cli {

sha256::sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr ||
      EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) != 1)
    throw std::bad_alloc();
}

sha256::~sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void sha256::update(std::span<const std::byte> bytes) {
  if (!bytes.empty()) EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), bytes.data(), bytes.size());
}

sha256_digest sha256::finish() {
  sha256_digest d{};
  unsigned n = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), d.data(), &n);
  return d;
}

sha256_digest sha256_of(std::span<const std::byte> bytes) {
  sha256 h;
  h.update(bytes);
  return h.finish();
}

std::string hex(const sha256_digest& d) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(64, '0');
  for (std::size_t i = 0; i < d.size(); ++i) {
    out[2 * i] = digits[d[i] >> 4];
    out[2 * i + 1] = digits[d[i] & 15];
  }
  return out;
}

result<sha256_digest> sha256_file(const std::filesystem::path& path,
                                  const std::function<void(std::uint64_t)>& progress) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(errc::io, fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  constexpr std::size_t block = 1u << 20;
  const auto buf = std::make_unique_for_overwrite<std::byte[]>(block);
  sha256 h;
  for (;;) {
    const ssize_t n = ::read(fd, buf.get(), block);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return fail(errc::io, fmt::format("{}: read: {}", path.string(), std::strerror(err)));
    }
    if (n == 0) break;
    h.update({buf.get(), static_cast<std::size_t>(n)});
    if (progress) progress(static_cast<std::uint64_t>(n));
  }
  ::close(fd);
  return h.finish();
}

}  // namespace safetensors::cli
