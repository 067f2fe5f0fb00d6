// NaN/Inf/BOOL checks. Each dtype's special values are a bit pattern under a mask, so a chunk is
// first tested with one OR-reduction over its raw integers (the compiler vectorizes it; the
// target_clones attribute builds it for x86-64-v3 (AVX2) and -v4 (AVX-512) too and the loader picks
// the one the CPU runs); only blocks that hold a special value are counted element by element.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>

#include "core/parallel.hpp"
#include "core/try.hpp"
#include "core/vector_clones.hpp"
#include "safetensors/values.hpp"

namespace safetensors {
namespace {

/// Whether any element of `p` has (x & mask) == value. Loads through memcpy: any alignment.
#define ST_ANY_MASKED(NAME, T)                                                              \
  ST_VECTOR_CLONES bool NAME(const std::byte* p, std::size_t n, T mask, T value) noexcept { \
    T hit = 0;                                                                              \
    for (std::size_t i = 0; i < n; ++i) {                                                   \
      T x;                                                                                  \
      std::memcpy(&x, p + i * sizeof(T), sizeof(T));                                        \
      hit |= static_cast<T>((x & mask) == value);                                           \
    }                                                                                       \
    return hit != 0;                                                                        \
  }
ST_ANY_MASKED(any_masked8, std::uint8_t)
ST_ANY_MASKED(any_masked16, std::uint16_t)
ST_ANY_MASKED(any_masked32, std::uint32_t)
ST_ANY_MASKED(any_masked64, std::uint64_t)
#undef ST_ANY_MASKED

/// BOOL: any byte other than 0 and 1.
ST_VECTOR_CLONES bool any_not_bool(const std::byte* p, std::size_t n) noexcept {
  std::uint8_t hit = 0;
  for (std::size_t i = 0; i < n; ++i) hit |= static_cast<std::uint8_t>(p[i]) & 0xfe;
  return hit != 0;
}

/// The special codes of a dtype: `special` under `mask` marks NaN or Inf; among those, Inf is
/// the code whose bits under `abs_mask` equal `inf` (has_inf). Widths 1, 2, 4 or 8 bytes.
struct special_codes {
  unsigned width;
  std::uint64_t mask, special, abs_mask, inf;
  bool has_inf;
};

std::optional<special_codes> specials_of(dtype t) noexcept {
  switch (t) {
    case dtype::F64:
      return special_codes{
          8,   0x7ff0000000000000u, 0x7ff0000000000000u, 0x7fffffffffffffffu, 0x7ff0000000000000u,
          true};
    case dtype::F32:
    case dtype::C64:
      return special_codes{4, 0x7f800000u, 0x7f800000u, 0x7fffffffu, 0x7f800000u, true};
    case dtype::F16:
      return special_codes{2, 0x7c00, 0x7c00, 0x7fff, 0x7c00, true};
    case dtype::BF16:
      return special_codes{2, 0x7f80, 0x7f80, 0x7fff, 0x7f80, true};
    case dtype::F8_E5M2:
      return special_codes{1, 0x7c, 0x7c, 0x7f, 0x7c, true};
    case dtype::F8_E4M3:
      return special_codes{1, 0x7f, 0x7f, 0, 0, false};
    case dtype::F8_E4M3FNUZ:
    case dtype::F8_E5M2FNUZ:
      return special_codes{1, 0xff, 0x80, 0, 0, false};
    case dtype::F8_E8M0:
      return special_codes{1, 0xff, 0xff, 0, 0, false};
    default:
      return std::nullopt;  // F4, F6: no NaN or Inf; integers: not checked
  }
}

bool any_special(const special_codes& s, const std::byte* p, std::size_t n) noexcept {
  switch (s.width) {
    case 1:
      return any_masked8(p, n, static_cast<std::uint8_t>(s.mask),
                         static_cast<std::uint8_t>(s.special));
    case 2:
      return any_masked16(p, n, static_cast<std::uint16_t>(s.mask),
                          static_cast<std::uint16_t>(s.special));
    case 4:
      return any_masked32(p, n, static_cast<std::uint32_t>(s.mask),
                          static_cast<std::uint32_t>(s.special));
    default:
      return any_masked64(p, n, s.mask, s.special);
  }
}

/// Element by element, for a block known to hold a special value.
void count_specials(const special_codes& s, const std::byte* p, std::size_t n,
                    value_counts& c) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t x = 0;
    std::memcpy(&x, p + i * s.width, s.width);  // little-endian
    if ((x & s.mask) != s.special) continue;
    if (s.has_inf && (x & s.abs_mask) == s.inf)
      ++c.inf;
    else
      ++c.nan;
  }
}

constexpr std::size_t block_bytes = 16u << 10;  // stays in L1 between the test and the count

}  // namespace

bool value_checked(dtype t) noexcept {
  return dtype_is_float(t) || t == dtype::C64 || t == dtype::BOOL;
}

result<void> count_values(dtype type, std::span<const std::byte> bytes, value_counts& counts) {
  if (type == dtype::BOOL) {
    for (std::size_t at = 0; at < bytes.size(); at += block_bytes) {
      const std::size_t n = std::min(block_bytes, bytes.size() - at);
      if (!any_not_bool(bytes.data() + at, n)) continue;
      for (std::size_t i = 0; i < n; ++i)
        counts.bad_bool += static_cast<std::uint8_t>(bytes[at + i]) > 1 ? 1 : 0;
    }
    return {};
  }
  const auto s = specials_of(type);
  if (!s) return {};
  if (bytes.size() % s->width != 0)
    return fail(errc::invalid_argument,
                fmt::format("count values: {} bytes are not whole {} elements", bytes.size(),
                            dtype_name(type)));
  for (std::size_t at = 0; at < bytes.size(); at += block_bytes) {
    const std::size_t n = std::min(block_bytes, bytes.size() - at) / s->width;
    if (any_special(*s, bytes.data() + at, n)) count_specials(*s, bytes.data() + at, n, counts);
  }
  return {};
}

namespace {

struct work_item {
  std::size_t source;
  std::uint64_t offset, length;
};

}  // namespace

std::vector<value_result> scan_values(std::span<const value_source> sources,
                                      const value_scan_options& opts) {
  // Whole elements of every width and whole F6 groups (3 bytes) in every chunk.
  const std::size_t chunk = std::max<std::size_t>(24, opts.chunk_bytes / 24 * 24);
  std::vector<work_item> items;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    const auto& s = sources[i];
    if ((!opts.stats && !value_checked(s.type)) || s.nbytes == 0) continue;
    if (!s.read) {
      items.push_back({i, 0, s.nbytes});  // streamed whole by one thread
      continue;
    }
    for (std::uint64_t at = 0; at < s.nbytes; at += chunk)
      items.push_back({i, at, std::min<std::uint64_t>(chunk, s.nbytes - at)});
  }
  std::vector<value_result> results(sources.size());
  // Statistics merge in chunk order once every thread is done: the same figures on every run.
  std::vector<value_stats> item_stats(opts.stats ? items.size() : 0);
  std::mutex lock;  // results, progress
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    const auto buffer = std::make_unique_for_overwrite<std::byte[]>(chunk);
    for (std::size_t k; (k = next.fetch_add(1)) < items.size();) {
      const auto& item = items[k];
      const auto& s = sources[item.source];
      {
        std::lock_guard g(lock);
        if (results[item.source].failure) continue;
      }
      value_counts c;
      value_stats st;
      result<void> r;
      auto consume = [&](std::span<const std::byte> bytes) {
        return opts.stats ? add_stats(s.type, bytes, st) : count_values(s.type, bytes, c);
      };
      // A stream (non-contiguous torch view) arrives in pieces of any size: take whole
      // elements (F4/F6: whole value groups) and carry a partial one over.
      std::byte carry[8];
      std::size_t carried = 0;
      const auto layout = value_layout_of(s.type, 0);
      const std::size_t width =
          std::max<std::size_t>(1, dtype_bits(layout.type) * layout.group / 8);
      auto count = [&](std::span<const std::byte> bytes) -> result<void> {
        const std::size_t arrived = bytes.size();
        if (carried > 0) {
          const std::size_t take = std::min(width - carried, bytes.size());
          std::memcpy(carry + carried, bytes.data(), take);
          carried += take;
          bytes = bytes.subspan(take);
          if (carried < width) return {};
          ST_TRY(consume({carry, width}));
          carried = 0;
        }
        const std::size_t whole = bytes.size() / width * width;
        ST_TRY(consume(bytes.first(whole)));
        carried = bytes.size() - whole;
        std::memcpy(carry, bytes.data() + whole, carried);
        if (opts.progress) {
          std::lock_guard g(lock);
          opts.progress(arrived);
        }
        return {};
      };
      if (s.read) {
        const std::span<std::byte> piece(buffer.get(), static_cast<std::size_t>(item.length));
        r = s.read(item.offset, piece);
        if (r) r = count(piece);
      } else {
        r = s.stream(count);
      }
      std::lock_guard g(lock);
      if (!r)
        results[item.source].failure = r.error();
      else if (opts.stats)
        item_stats[k] = st;
      else
        results[item.source].counts += c;
    }
  };
  const unsigned wanted = opts.threads ? opts.threads : detail::usable_cpus();
  detail::run_on_threads(static_cast<unsigned>(std::min<std::size_t>(wanted, items.size())),
                         worker);
  for (std::size_t k = 0; k < item_stats.size(); ++k) {
    auto& r = results[items[k].source];
    if (!r.failure) r.stats.merge(item_stats[k]);
  }
  return results;
}

}  // namespace safetensors
