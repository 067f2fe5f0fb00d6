#include "model/tokenizer/vocab_map.hpp"

#include <cstring>

namespace safetensors::model::detail {

// 64-bit FNV-1a over 8-byte words then the tail, finished with a murmur3 mixer: short keys
// (word pieces average under 8 bytes) hash in a few cycles.
std::uint64_t hash_bytes(std::string_view s) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL ^ s.size();
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ULL;
    h ^= h >> 29;
  }
  std::uint64_t tail = 0;
  if (i < s.size()) std::memcpy(&tail, s.data() + i, s.size() - i);
  h = (h ^ tail) * 0x100000001b3ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

void vocab_map::grow() {
  std::vector<slot> old = std::move(slots_);
  slots_.assign(old.empty() ? 64 : old.size() * 2, slot{});
  const std::size_t mask = slots_.size() - 1;
  for (const slot& s : old) {
    if (s.id < 0) continue;
    std::size_t i = s.hash & mask;
    while (slots_[i].id >= 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void vocab_map::insert(std::string_view key, std::int32_t id) {
  if ((count_ + 1) * 2 > slots_.size()) grow();
  const std::uint64_t h = hash_bytes(key);
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = h & mask;
  while (slots_[i].id >= 0) {
    if (slots_[i].hash == h && key_of(slots_[i]) == key) {
      slots_[i].id = id;
      return;
    }
    i = (i + 1) & mask;
  }
  slots_[i] = slot{h, static_cast<std::uint32_t>(arena_.size()),
                   static_cast<std::uint32_t>(key.size()), id};
  arena_.append(key);
  ++count_;
  if (key.size() > max_len_) max_len_ = key.size();
}

std::int32_t vocab_map::find(std::string_view key) const noexcept {
  if (slots_.empty()) return -1;
  const std::uint64_t h = hash_bytes(key);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = h & mask;; i = (i + 1) & mask) {
    const slot& s = slots_[i];
    if (s.id < 0) return -1;
    if (s.hash == h && s.length == key.size() &&
        std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0) {
      return s.id;
    }
  }
}

}  // namespace safetensors::model::detail
