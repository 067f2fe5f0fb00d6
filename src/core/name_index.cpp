// The name index's hash: 8 bytes at a time through a 64x64->128 multiply, every step keyed by a
// per-process seed (so no chosen input can zero the state without knowing it).
#include "safetensors/name_index.hpp"

#include <sys/auxv.h>

#include <cstring>

#include "core/mapped_file.hpp"

namespace safetensors {
namespace {

constexpr std::uint64_t k0 = 0xa0761d6478bd642full;
constexpr std::uint64_t k1 = 0xe7037ed1a0b428dbull;

inline std::uint64_t mix(std::uint64_t a, std::uint64_t b) noexcept {
  __extension__ using u128 = unsigned __int128;  // GCC and Clang on every 64-bit target
  const u128 m = static_cast<u128>(a ^ k0) * (b ^ k1);
  return static_cast<std::uint64_t>(m) ^ static_cast<std::uint64_t>(m >> 64);
}

// 16 random bytes the kernel hands every process (getauxval(AT_RANDOM)): no system call.
std::uint64_t process_seed() noexcept {
  std::uint64_t seed = k1;
  if (const auto* bytes = reinterpret_cast<const unsigned char*>(getauxval(AT_RANDOM))) {
    std::memcpy(&seed, bytes + 8, sizeof seed);
  }
  return seed;
}

const std::uint64_t seed = process_seed();

}  // namespace

void name_index::reset_slots(std::size_t cap) {
  slots_.clear();
  slots_.reserve(cap);
  detail::prefault_write(slots_.data(), cap * sizeof(std::uint64_t));
  slots_.assign(cap, 0);
}

std::uint64_t name_index::hash(std::string_view name) noexcept {
  const char* p = name.data();
  std::size_t n = name.size();
  std::uint64_t h = seed ^ n;
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = mix(w ^ seed, h);
    p += 8;
    n -= 8;
  }
  std::uint64_t tail = 0;
  std::memcpy(&tail, p, n);
  return mix(tail ^ seed ^ (n << 56), h);
}

}  // namespace safetensors
