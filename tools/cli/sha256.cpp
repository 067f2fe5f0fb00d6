// libcrypto is loaded with dlopen() on first use (see CMakeLists.txt): the EVP functions are
// looked up once; their prototypes come from the OpenSSL headers.
#include "sha256.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace safetensors::cli {
namespace {

struct evp_api {
  decltype(&EVP_MD_CTX_new) ctx_new = nullptr;
  decltype(&EVP_MD_CTX_free) ctx_free = nullptr;
  decltype(&EVP_sha256) sha256 = nullptr;
  decltype(&EVP_DigestInit_ex) init = nullptr;
  decltype(&EVP_DigestUpdate) update = nullptr;
  decltype(&EVP_DigestFinal_ex) finish = nullptr;
  std::string error;  // why loading failed
};

template <class F>
bool bind(void* lib, const char* name, F& out) {
  out = reinterpret_cast<F>(::dlsym(lib, name));
  return out != nullptr;
}

const evp_api& api() {
  static const evp_api loaded = [] {
    evp_api a;
    void* lib = ::dlopen(SAFETENSORS_LIBCRYPTO, RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* why = ::dlerror();
      a.error = why != nullptr ? why : SAFETENSORS_LIBCRYPTO ": cannot be loaded";
      return a;
    }
    if (!bind(lib, "EVP_MD_CTX_new", a.ctx_new) || !bind(lib, "EVP_MD_CTX_free", a.ctx_free) ||
        !bind(lib, "EVP_sha256", a.sha256) || !bind(lib, "EVP_DigestInit_ex", a.init) ||
        !bind(lib, "EVP_DigestUpdate", a.update) || !bind(lib, "EVP_DigestFinal_ex", a.finish)) {
      a.error = SAFETENSORS_LIBCRYPTO ": the EVP digest functions are missing";
      a.ctx_new = nullptr;
    }
    return a;
  }();
  return loaded;
}

}  // namespace

result<void> sha256_available() {
  if (api().ctx_new == nullptr)
    return fail(errc::unsupported, fmt::format("SHA-256 is not available: {}", api().error));
  return {};
}

sha256::sha256() : ctx_(nullptr) {
  const auto& a = api();
  if (a.ctx_new == nullptr) throw std::runtime_error("SHA-256 is not available: " + a.error);
  ctx_ = a.ctx_new();
  if (ctx_ == nullptr || a.init(static_cast<EVP_MD_CTX*>(ctx_), a.sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256: EVP_DigestInit_ex failed");
}

sha256::~sha256() {
  if (ctx_ != nullptr) api().ctx_free(static_cast<EVP_MD_CTX*>(ctx_));
}

void sha256::update(std::span<const std::byte> bytes) {
  if (!bytes.empty()) api().update(static_cast<EVP_MD_CTX*>(ctx_), bytes.data(), bytes.size());
}

sha256_digest sha256::finish() {
  sha256_digest d{};
  unsigned n = 0;
  api().finish(static_cast<EVP_MD_CTX*>(ctx_), d.data(), &n);
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
