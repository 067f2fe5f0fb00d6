// Header length, layout validation (the reference's validate()) and the name index.
#include "safetensors/header.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cstring>

#include "core/header_json.hpp"
#include "core/text_util.hpp"
#include "core/try.hpp"

namespace safetensors {
namespace {

std::string tensor_prefix(std::string_view source, const tensor_info& t) {
  return fmt::format("{}: tensor '{}'", source, detail::ascii_escaped(t.name));
}

// One tensor of the reference's validate() loop; `start` is the expected begin.
result<void> validate_tensor(std::string_view source, const tensor_info& t, std::uint64_t start) {
  if (t.begin != start || t.end < t.begin) {
    std::string why = t.end < t.begin   ? "end is before begin"
                      : t.begin > start ? fmt::format("leaves a gap after offset {}", start)
                      : start == 0      ? "does not start at 0"
                                        : fmt::format("overlaps data that ends at {}", start);
    return fail(errc::invalid_offset, fmt::format("{}: data_offsets [{},{}] {} (tensors must be "
                                                  "contiguous from 0, in offset order)",
                                                  tensor_prefix(source, t), t.begin, t.end, why));
  }
  std::uint64_t numel = 1;
  for (std::uint64_t d : t.shape) {
    if (__builtin_mul_overflow(numel, d, &numel)) {
      return fail(errc::validation_overflow,
                  fmt::format("{}: shape {} overflows a 64-bit element count",
                              tensor_prefix(source, t), detail::shape_string(t.shape)));
    }
  }
  auto bytes = dtype_byte_size(t.type, numel);
  if (!bytes) {
    return fail(bytes.error().code,
                fmt::format("{}: {} {}: {}", tensor_prefix(source, t), dtype_name(t.type),
                            detail::shape_string(t.shape), bytes.error().message));
  }
  if (t.end - t.begin != *bytes) {
    return fail(errc::tensor_invalid_info,
                fmt::format("{}: data_offsets [{},{}] hold {} bytes but {} {} needs {}",
                            tensor_prefix(source, t), t.begin, t.end, t.end - t.begin,
                            dtype_name(t.type), detail::shape_string(t.shape), *bytes));
  }
  return {};
}

result<void> validate_layout(std::string_view source, const std::vector<tensor_info>& tensors,
                             std::uint64_t data_size) {
  std::uint64_t start = 0;
  for (const auto& t : tensors) {
    ST_TRY(validate_tensor(source, t, start));
    start = t.end;
  }
  if (start != data_size) {
    return fail(
        errc::incomplete_buffer,
        fmt::format("{}: tensors cover {} data bytes but the file holds {} after the header "
                    "({})",
                    source, start, data_size,
                    start < data_size ? "trailing bytes" : "truncated data"));
  }
  return {};
}

}  // namespace

struct header_index {
  /// Indexes `h.tensors` by name (the first of equal names wins); false when a name repeats.
  static bool build(header& h) {
    return h.by_name_.build(h.tensors.size(),
                            [&h](std::size_t i) -> std::string_view { return h.tensors[i].name; });
  }
};

std::uint64_t tensor_info::numel() const noexcept {
  std::uint64_t n = 1;
  for (std::uint64_t d : shape) n *= d;  // validated left to right: cannot wrap after validation
  return n;
}

const std::string* metadata_map::find(std::string_view key) const noexcept {
  auto it = std::lower_bound(entries.begin(), entries.end(), key,
                             [](const auto& e, std::string_view k) { return e.first < k; });
  return it != entries.end() && it->first == key ? &it->second : nullptr;
}

header::header(const header& other)
    : header_size(other.header_size),
      data_size(other.data_size),
      tensors(other.tensors),
      metadata(other.metadata) {
  header_index::build(*this);
}

header& header::operator=(const header& other) {
  if (this != &other) {
    header copy(other);
    *this = std::move(copy);
  }
  return *this;
}

const tensor_info* header::find(std::string_view name) const noexcept {
  const auto i =
      by_name_.find(name, [this](std::size_t k) -> std::string_view { return tensors[k].name; });
  return i == name_index::npos ? nullptr : &tensors[i];
}

result<std::uint64_t> read_header_length(std::span<const std::byte> prefix, std::uint64_t file_size,
                                         const parse_options& opts) {
  if (prefix.size() < 8 || file_size < 8) {
    return fail(errc::header_too_small,
                fmt::format("{}: {} bytes, fewer than the 8-byte header length", opts.source,
                            std::min<std::uint64_t>(prefix.size(), file_size)));
  }
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | std::to_integer<std::uint64_t>(prefix[i]);
  if (n > opts.max_header_size) {
    return fail(errc::header_too_large, fmt::format("{}: header length {} is above the limit of {} "
                                                    "bytes",
                                                    opts.source, n, opts.max_header_size));
  }
  if (n > file_size - 8) {
    return fail(errc::invalid_header_length,
                fmt::format("{}: header length {} runs past the end of the {}-byte file",
                            opts.source, n, file_size));
  }
  return n;
}

namespace {

result<header> parse_header_impl(std::string_view json, std::uint64_t file_size,
                                 const parse_options& opts, bool padded) {
  const std::uint64_t n = json.size();
  if (n > opts.max_header_size) {
    return fail(errc::header_too_large, fmt::format("{}: header length {} is above the limit of {} "
                                                    "bytes",
                                                    opts.source, n, opts.max_header_size));
  }
  if (file_size < 8 || n > file_size - 8) {
    return fail(errc::invalid_header_length,
                fmt::format("{}: header length {} runs past the end of the {}-byte file",
                            opts.source, n, file_size));
  }
  if (!detail::is_valid_utf8(json)) {
    auto bad = detail::first_invalid_utf8(json);
    return fail(errc::invalid_utf8,
                fmt::format("{}: invalid UTF-8 in header at byte {} (0x{:02x})", opts.source,
                            bad + 8, static_cast<unsigned char>(json[bad])));
  }
  detail::parsed_json parsed = ST_TRY(detail::parse_header_json(json, opts.source, padded));
  header h;
  h.header_size = n;
  h.data_size = file_size - 8 - n;
  h.tensors = std::move(parsed.tensors);
  h.metadata = std::move(parsed.metadata);
  // The reference sorts by (begin, end); JSON order only breaks ties. Writers usually emit
  // offset order already, so the (stable) sort is skipped then.
  auto by_offsets = [](const tensor_info& a, const tensor_info& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  };
  if (!std::is_sorted(h.tensors.begin(), h.tensors.end(), by_offsets)) {
    std::stable_sort(h.tensors.begin(), h.tensors.end(), by_offsets);
  }
  if (!header_index::build(h)) {
    std::unordered_map<std::string_view, int> seen;
    for (const auto& t : h.tensors) {
      if (++seen[t.name] == 2) {
        return fail(errc::duplicate_key, fmt::format("{}: tensor name '{}' appears more than once",
                                                     opts.source, detail::ascii_escaped(t.name)));
      }
    }
  }
  ST_TRY(validate_layout(opts.source, h.tensors, h.data_size));
  return h;
}

}  // namespace

result<header> parse_header(std::string_view json, std::uint64_t file_size,
                            const parse_options& opts) {
  return parse_header_impl(json, file_size, opts, false);
}

result<header> detail::parse_header_padded(std::string_view json, std::uint64_t file_size,
                                           const parse_options& opts) {
  return parse_header_impl(json, file_size, opts, true);
}

result<header> parse_buffer(std::span<const std::byte> file, const parse_options& opts) {
  const std::uint64_t n = ST_TRY(read_header_length(file, file.size(), opts));
  std::string_view json(reinterpret_cast<const char*>(file.data()) + 8, n);
  return parse_header(json, file.size(), opts);
}

}  // namespace safetensors
