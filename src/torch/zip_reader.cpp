// Zip layout: APPNOTE.TXT sections 4.3.7 (local header), 4.3.12 (central directory),
// 4.3.14-16 (ZIP64 EOCD, locator, EOCD) and 4.5.3 (ZIP64 extended information extra field).
#include "torch/zip_reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <unordered_map>

#include "core/try.hpp"

namespace safetensors::torch::detail {
namespace {

constexpr std::uint32_t sig_local = 0x04034b50, sig_central = 0x02014b50, sig_eocd = 0x06054b50,
                        sig_eocd64 = 0x06064b50, sig_locator = 0x07064b50;

struct cursor {
  std::span<const std::byte> file;
  const byte_reader* read_at = nullptr;  // when set, copy() reads with it instead of `file`
  std::uint64_t le(std::uint64_t at, int n) const {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i)
      v |= static_cast<std::uint64_t>(file[at + static_cast<std::uint64_t>(i)]) << (8 * i);
    return v;
  }
  bool fits(std::uint64_t at, std::uint64_t n) const {
    return at <= file.size() && n <= file.size() - at;
  }
  /// Bytes [at, at + out.size()), which fits(): through read_at when set, else from `file`.
  result<void> copy(std::uint64_t at, std::span<std::byte> out) const {
    if (read_at != nullptr && *read_at) return (*read_at)(at, out);
    std::memcpy(out.data(), file.data() + at, out.size());
    return {};
  }
};

struct directory {
  std::uint64_t entries = 0, offset = 0, size = 0;
};

tl::unexpected<error> corrupt(std::string_view source, std::string_view msg) {
  return fail(errc::invalid_checkpoint, fmt::format("{}: corrupt zip: {}", source, msg));
}

result<directory> find_directory(const cursor& c, std::string_view source) {
  const std::uint64_t size = c.file.size();
  if (size < 22) return corrupt(source, "no end-of-central-directory record");
  std::uint64_t lowest = size > 22 + 65535 ? size - 22 - 65535 : 0;
  std::uint64_t eocd = size - 22;
  while (c.le(eocd, 4) != sig_eocd) {
    if (eocd == lowest) return corrupt(source, "no end-of-central-directory record");
    --eocd;
  }
  directory d{c.le(eocd + 10, 2), c.le(eocd + 16, 4), c.le(eocd + 12, 4)};
  if (c.le(eocd + 4, 2) != 0 || c.le(eocd + 6, 2) != 0)
    return corrupt(source, "multi-disk archives are not supported");
  if (eocd >= 20 && c.le(eocd - 20, 4) == sig_locator) {
    std::uint64_t at = c.le(eocd - 12, 8);
    if (!c.fits(at, 56) || c.le(at, 4) != sig_eocd64)
      return corrupt(source, "ZIP64 end record missing");
    d = directory{c.le(at + 32, 8), c.le(at + 48, 8), c.le(at + 40, 8)};
    eocd = at;
  }
  if (d.offset > eocd || d.size > eocd - d.offset)
    return corrupt(source, "central directory outside the file");
  if (d.entries > d.size / 46)
    return corrupt(source, "entry count does not fit the central directory");
  return d;
}

/// Replaces 0xFFFFFFFF fields by their ZIP64 extra values (order: size, compressed, offset).
result<void> apply_zip64(const cursor& c, std::uint64_t extra, std::uint64_t extra_len,
                         zip_entry& e, std::string_view source) {
  std::uint64_t* fields[] = {&e.size, &e.compressed_size, &e.local_offset};
  for (std::uint64_t p = extra; p + 4 <= extra + extra_len;) {
    std::uint64_t id = c.le(p, 2), len = c.le(p + 2, 2);
    if (p + 4 + len > extra + extra_len)
      return corrupt(source, fmt::format("'{}': extra field overruns", e.name));
    if (id == 1) {
      std::uint64_t q = p + 4;
      for (auto* f : fields) {
        if (*f != 0xffffffffu) continue;
        if (q + 8 > p + 4 + len)
          return corrupt(source, fmt::format("'{}': short ZIP64 extra field", e.name));
        *f = c.le(q, 8);
        q += 8;
      }
    }
    p += 4 + len;
  }
  return {};
}

result<zip_entry> read_entry(const cursor& c, std::uint64_t& at, std::uint64_t end,
                             std::string_view source) {
  if (at + 46 > end || c.le(at, 4) != sig_central)
    return corrupt(source, "bad central directory entry");
  zip_entry e;
  e.flags = static_cast<std::uint16_t>(c.le(at + 8, 2));
  e.method = static_cast<std::uint16_t>(c.le(at + 10, 2));
  e.compressed_size = c.le(at + 20, 4);
  e.size = c.le(at + 24, 4);
  std::uint64_t name_len = c.le(at + 28, 2), extra_len = c.le(at + 30, 2),
                comment_len = c.le(at + 32, 2);
  e.local_offset = c.le(at + 42, 4);
  if (at + 46 + name_len + extra_len + comment_len > end)
    return corrupt(source, "central directory entry overruns");
  e.name.assign(reinterpret_cast<const char*>(c.file.data() + at + 46), name_len);
  ST_TRY(apply_zip64(c, at + 46 + name_len, extra_len, e, source));
  at += 46 + name_len + extra_len + comment_len;
  if (e.flags & 0x41)
    return fail(errc::unsupported, fmt::format("{}: zip entry '{}' is encrypted", source, e.name));
  // Local header: same name; data follows its own (possibly different) extra field.
  std::array<std::byte, 30> fixed{};
  if (!c.fits(e.local_offset, 30))
    return corrupt(source, fmt::format("'{}': local header missing", e.name));
  ST_TRY(c.copy(e.local_offset, fixed));
  const cursor local{fixed};
  if (local.le(0, 4) != sig_local)
    return corrupt(source, fmt::format("'{}': local header missing", e.name));
  std::uint64_t lname = local.le(26, 2), lextra = local.le(28, 2);
  std::string name;
  if (lname == e.name.size() && c.fits(e.local_offset + 30, lname)) {
    name.resize(static_cast<std::size_t>(lname));
    ST_TRY(c.copy(e.local_offset + 30, std::as_writable_bytes(std::span(name))));
  }
  if (name.size() != lname || name != e.name)
    return corrupt(source, fmt::format("'{}': local header names a different file", e.name));
  e.data_offset = e.local_offset + 30 + lname + lextra;
  if (!c.fits(e.data_offset, e.compressed_size))
    return corrupt(source, fmt::format("'{}': record of {} bytes extends past the end of the file",
                                       e.name, e.compressed_size));
  if (e.method == 0 && e.compressed_size != e.size)
    return corrupt(source, fmt::format("'{}': stored record with different sizes", e.name));
  return e;
}

}  // namespace

std::string zip_lookup_key(std::string_view name) {
  std::string key(name);
  for (auto& c : key)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return key;
}

result<std::vector<zip_entry>> read_zip_directory(std::span<const std::byte> file,
                                                  std::string_view source,
                                                  const byte_reader& read_at) {
  cursor c{file, &read_at};
  const auto d = ST_TRY(find_directory(c, source));
  std::vector<zip_entry> entries;
  entries.reserve(static_cast<std::size_t>(d.entries));
  std::unordered_map<std::string, std::size_t> keys;  // lookup key -> index in entries
  std::uint64_t at = d.offset, end = d.offset + d.size;
  for (std::uint64_t i = 0; i < d.entries; ++i) {
    auto e = ST_TRY(read_entry(c, at, end, source));
    if (auto [it, fresh] = keys.try_emplace(zip_lookup_key(e.name), entries.size()); !fresh)
      return fail(errc::malicious, fmt::format("{}: ambiguous zip: entries '{}' and '{}' are one "
                                               "record for torch.load (its zip reader "
                                               "ignores case and picks either), refused",
                                               source, entries[it->second].name, e.name));
    entries.push_back(std::move(e));
  }
  return entries;
}

}  // namespace safetensors::torch::detail
