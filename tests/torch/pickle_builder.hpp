// Test helpers: hand-built pickle opcode streams and stored zip archives (with optional ZIP64).
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace safetensors::torch::testing {

/// Opcode stream builder: p.proto(2).global("collections", "OrderedDict").raw(")R").stop()
struct pickle {
  std::string bytes;
  pickle& raw(std::string_view s) {
    bytes += s;
    return *this;
  }
  pickle& byte(unsigned b) {
    bytes.push_back(static_cast<char>(b));
    return *this;
  }
  pickle& u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) byte((v >> (8 * i)) & 0xff);
    return *this;
  }
  pickle& get(unsigned i) { return byte('h').byte(i); }
  pickle& put(unsigned i) { return byte('q').byte(i); }
  /// LONG1 with 8 bytes (any u64 below 2^63).
  pickle& long1(std::uint64_t v) {
    byte(0x8a).byte(8);
    for (int i = 0; i < 8; ++i) byte((v >> (8 * i)) & 0xff);
    return *this;
  }
  pickle& proto(unsigned v) { return byte(0x80).byte(v); }
  pickle& str(std::string_view s) {
    byte('X').u32(static_cast<std::uint32_t>(s.size()));
    return raw(s);
  }
  pickle& integer(unsigned v) {
    if (v < 256) return byte('K').byte(v);
    return byte('J').u32(v);
  }
  pickle& global(std::string_view module, std::string_view name) {
    return byte('c').raw(module).raw("\n").raw(name).raw("\n");
  }
  pickle& mark() { return byte('('); }
  pickle& tuple() { return byte('t'); }
  pickle& empty_tuple() { return byte(')'); }
  pickle& reduce() { return byte('R'); }
  pickle& stop() { return byte('.'); }
  pickle& ordered_dict() { return global("collections", "OrderedDict").empty_tuple().reduce(); }
  pickle& ints(std::initializer_list<unsigned> v) {
    mark();
    for (auto x : v) integer(x);
    return tuple();
  }
  /// ('storage', torch.<cls>, key, location, numel) BINPERSID
  pickle& storage(std::string_view key, unsigned numel, std::string_view cls = "FloatStorage",
                  std::string_view location = "cpu") {
    mark().str("storage").global("torch", cls).str(key).str(location).integer(numel).tuple();
    return byte('Q');
  }
  /// _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())
  pickle& tensor_v2(std::string_view key, unsigned numel, unsigned offset,
                    std::initializer_list<unsigned> size, std::initializer_list<unsigned> stride,
                    std::string_view cls = "FloatStorage") {
    global("torch._utils", "_rebuild_tensor_v2")
        .mark()
        .storage(key, numel, cls)
        .integer(offset)
        .ints(size)
        .ints(stride);
    return byte(0x89).ordered_dict().tuple().reduce();
  }
  std::span<const std::byte> span() const {
    return {reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()};
  }
};

/// A stored zip archive written entry by entry (torch's layout: data descriptors not needed).
struct zip_builder {
  struct entry {
    std::string name, data;
    std::uint16_t method = 0, flags = 0;
    std::uint64_t offset = 0;
  };
  std::vector<entry> entries;
  bool zip64 = false;  ///< write ZIP64 EOCD + locator and 0xFFFFFFFF fields with 0x0001 extras

  zip_builder& add(std::string name, std::string data, std::uint16_t method = 0,
                   std::uint16_t flags = 0) {
    entries.push_back({std::move(name), std::move(data), method, flags, 0});
    return *this;
  }
  static void le(std::string& out, std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string build(std::string_view local_name_override = {}) {
    std::string out;
    for (auto& e : entries) {
      e.offset = out.size();
      std::string name = (&e == &entries.front() && !local_name_override.empty())
                             ? std::string(local_name_override)
                             : e.name;
      le(out, 0x04034b50, 4);
      le(out, 20, 2);
      le(out, e.flags, 2);
      le(out, e.method, 2);
      le(out, 0, 4);
      le(out, 0, 4);
      le(out, e.data.size(), 4);
      le(out, e.data.size(), 4);
      le(out, name.size(), 2);
      le(out, 4, 2);
      out += name;
      le(out, 0x4246, 2);
      le(out, 0, 2);  // an empty "FB" padding extra, as torch writes
      out += e.data;
    }
    const std::uint64_t cd_start = out.size();
    for (const auto& e : entries) {
      const std::uint64_t sz = zip64 ? 0xffffffffu : e.data.size(),
                          off = zip64 ? 0xffffffffu : e.offset;
      le(out, 0x02014b50, 4);
      le(out, 20, 2);
      le(out, 20, 2);
      le(out, e.flags, 2);
      le(out, e.method, 2);
      le(out, 0, 4);
      le(out, 0, 4);
      le(out, sz, 4);
      le(out, sz, 4);
      le(out, e.name.size(), 2);
      le(out, zip64 ? 28 : 0, 2);
      le(out, 0, 2);
      le(out, 0, 2);
      le(out, 0, 2);
      le(out, 0, 4);
      le(out, off, 4);
      out += e.name;
      if (zip64) {
        le(out, 1, 2);
        le(out, 24, 2);
        le(out, e.data.size(), 8);
        le(out, e.data.size(), 8);
        le(out, e.offset, 8);
      }
    }
    const std::uint64_t cd_size = out.size() - cd_start;
    if (zip64) {
      const std::uint64_t eocd64 = out.size();
      le(out, 0x06064b50, 4);
      le(out, 44, 8);
      le(out, 45, 2);
      le(out, 45, 2);
      le(out, 0, 4);
      le(out, 0, 4);
      le(out, entries.size(), 8);
      le(out, entries.size(), 8);
      le(out, cd_size, 8);
      le(out, cd_start, 8);
      le(out, 0x07064b50, 4);
      le(out, 0, 4);
      le(out, eocd64, 8);
      le(out, 1, 4);
    }
    le(out, 0x06054b50, 4);
    le(out, 0, 2);
    le(out, 0, 2);
    le(out, zip64 ? 0xffff : entries.size(), 2);
    le(out, zip64 ? 0xffff : entries.size(), 2);
    le(out, zip64 ? 0xffffffffu : cd_size, 4);
    le(out, zip64 ? 0xffffffffu : cd_start, 4);
    le(out, 0, 2);
    return out;
  }
};

inline std::string f32s(std::initializer_list<float> v) {
  std::string out(v.size() * 4, '\0');
  std::size_t i = 0;
  for (float x : v) std::memcpy(out.data() + 4 * i++, &x, 4);
  return out;
}

/// A torch-style zip: prefix/data.pkl, prefix/data/<key>..., prefix/version.
inline std::string torch_zip(const pickle& p,
                             std::vector<std::pair<std::string, std::string>> records,
                             std::string prefix = "archive", bool zip64 = false) {
  zip_builder z;
  z.zip64 = zip64;
  z.add(prefix + "/data.pkl", p.bytes);
  for (auto& [k, v] : records) z.add(prefix + "/data/" + k, v);
  z.add(prefix + "/version", "3\n");
  return z.build();
}

}  // namespace safetensors::torch::testing
