// A flat hash index from names to positions, for the tensor lists of a header and of a sharded
// checkpoint (the names themselves stay where they are owned). Public only because those classes
// hold one; it is not meant as an API of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace safetensors {

/// Open addressing with linear probing over a power-of-two table at most half full. A slot holds
/// 32 bits of the name's hash (to skip most string compares) and the position + 1 (0 = empty).
/// The hash is seeded per process from the kernel's AT_RANDOM bytes, so a header cannot be
/// crafted to make every name collide.
class name_index {
 public:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  /// Indexes `count` names, name_at(i) giving the i-th. The first of equal names is kept; returns
  /// false when some name repeats.
  template <class NameAt>
  bool build(std::size_t count, NameAt&& name_at) {
    std::size_t cap = 16;
    while (cap < 2 * count) cap *= 2;
    reset_slots(cap);
    bool unique = true;
    for (std::size_t i = 0; i < count; ++i) {
      const std::string_view name = name_at(i);
      const std::uint64_t h = hash(name);
      const std::uint64_t tag = h >> 32;
      for (std::size_t s = h & (cap - 1);; s = (s + 1) & (cap - 1)) {
        const std::uint64_t slot = slots_[s];
        if (slot == 0) {
          slots_[s] = (tag << 32) | (i + 1);
          break;
        }
        if ((slot >> 32) == tag && name_at((slot & 0xffffffffu) - 1) == name) {
          unique = false;
          break;
        }
      }
    }
    return unique;
  }

  /// The position of `name`, or npos; name_at as given to build().
  template <class NameAt>
  std::size_t find(std::string_view name, NameAt&& name_at) const noexcept {
    if (slots_.empty()) return npos;
    const std::size_t mask = slots_.size() - 1;
    const std::uint64_t h = hash(name);
    const std::uint64_t tag = h >> 32;
    for (std::size_t s = h & mask;; s = (s + 1) & mask) {
      const std::uint64_t slot = slots_[s];
      if (slot == 0) return npos;
      const std::size_t pos = (slot & 0xffffffffu) - 1;
      if ((slot >> 32) == tag && name_at(pos) == name) return pos;
    }
  }

  void clear() noexcept { slots_.clear(); }

  static std::uint64_t hash(std::string_view name) noexcept;

 private:
  /// `cap` zeroed slots; a large table is prefaulted in one system call, not a fault per page.
  void reset_slots(std::size_t cap);
  std::vector<std::uint64_t> slots_;
};

}  // namespace safetensors
